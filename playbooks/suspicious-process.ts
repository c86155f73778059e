/**
 * Playbook: suspicious process on a Linux host.
 * Trigger: an event that names a process (Falco syscall rules, EDR process alerts, generic with `process`).
 * Workflow id: the incident's (inc-<host>-<hash of the correlation key>); runs inside the incident workflow.
 * Flow: enrich (lineage + ATT&CK) -> decide (typed rule set) -> notify by email when the verdict reaches
 * the configured level -> the policy (Cedar) decides the proposed containment: forbidden, automatic, or
 * through the approval gate (Update, deadline, remind, escalate, safe default deny) -> return the verdict.
 * Side effects: one email per run, one per approval step (deterministic Message-IDs). Undo: none needed:
 * no containment responder is deployed yet, so approved or automatic containment is recorded, not run.
 */
import { patched } from '@temporalio/workflow';
import type { Playbook } from './lib/playbook.js';
import { assess, decideResponses, notifyByEmail } from './lib/steps.js';

export const suspiciousProcess: Playbook = {
  name: 'suspicious-process',
  version: '1.0.0',
  description: 'Enrich a process detection from its lineage, decide with the rule set, notify by email',
  matches: (ev) => ev.process !== undefined && (ev.host.os === undefined || /linux/i.test(ev.host.os)),
  async run(ctx) {
    const { enrichment, decision } = await assess(ctx);
    const notified = await notifyByEmail(ctx, enrichment, decision, `${this.name}@${this.version}`);
    // Incidents recorded before the policy step replay without it (patched); new ones take it.
    if (!patched('policy-and-approvals-v1')) return notified;
    const response = await decideResponses(ctx, decision, { name: this.name, version: this.version });
    return {
      ...notified,
      outcome: [notified.outcome, ...response.summary].join('; '),
      needsHuman: response.needsHuman,
    };
  },
};
