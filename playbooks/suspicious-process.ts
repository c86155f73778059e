/**
 * Playbook: suspicious process on a Linux host.
 * Trigger: an event that names a process (Falco syscall rules, EDR process alerts, generic with `process`).
 * Workflow id: the incident's (inc-<host>-<hash of the correlation key>); runs inside the incident workflow.
 * Flow: enrich (lineage + ATT&CK) -> decide (typed rule set) -> notify by email when the verdict reaches
 * the configured level -> return the verdict.
 * Side effects: one email per run (deterministic Message-ID). Undo: none needed (notification only);
 * containment (suspend the process, isolate the host) is recommended in the notice, not executed, until
 * the response capability lands.
 */
import type { Playbook } from './lib/playbook.js';
import { assess, notifyByEmail } from './lib/steps.js';

export const suspiciousProcess: Playbook = {
  name: 'suspicious-process',
  version: '1.0.0',
  description: 'Enrich a process detection from its lineage, decide with the rule set, notify by email',
  matches: (ev) => ev.process !== undefined && (ev.host.os === undefined || /linux/i.test(ev.host.os)),
  async run(ctx) {
    const { enrichment, decision } = await assess(ctx);
    return notifyByEmail(ctx, enrichment, decision, `${this.name}@${this.version}`);
  },
};
