/**
 * Playbook: suspicious process on a Linux host.
 * Trigger: an event that names a process (Falco syscall rules, EDR process alerts, generic with `process`).
 * Workflow id: the incident's (inc-<host>-<hash of the correlation key>); runs inside the incident workflow.
 * Flow: enrich (lineage + ATT&CK) -> for an event that names a pid but carries no syscall window, a short
 * window captured by the host's agent (VIGIL_CAPTURE_WINDOW) -> score the window (signed model)
 * -> decide (typed rule set, the score fused in) -> the policy (Cedar) decides the proposed
 * containment; automatic (low blast radius) actions run at once -> notify by email when the verdict reaches
 * the configured level -> the rest through the approval gate (Update, deadline, remind, escalate, safe
 * default deny) -> execute on the host's responder -> open/update the incident's ticket -> return the verdict.
 * Side effects: one email per run, one per approval step (deterministic Message-IDs); containment on the
 * host's agent or EDR (automatic or approved), held by a `containment` workflow that undoes it (isolation
 * lifts itself at its limit); one ticket per incident when ticketing is configured, closed with the incident.
 */
import type { Playbook, PlaybookOutcome } from './lib/playbook.js';
import { assess, decideResponses, notifyByEmail } from './lib/steps.js';
import { Responders } from './lib/respond.js';
import { recordInTicket, wantsTicket } from './lib/ticket.js';
import { since, sinceV2 } from './lib/patches.js';
import { decideAhead, enrichAhead, routeAhead } from './lib/prefetch.js';

export const suspiciousProcess: Playbook = {
  name: 'suspicious-process',
  version: '1.0.0',
  description: 'Enrich a process detection from its lineage, decide with the rule set, notify by email',
  matches: (ev) => ev.process !== undefined && (ev.host.os === undefined || /linux/i.test(ev.host.os)),
  // The enrichment (assess) and, for an event that names a pid, the responder route (the capture and the
  // containment below): both asked as the incident starts, and the first decision with them (taken when the
  // rule set needs no model score: decideResponses below checks it is the one it would ask for).
  lookupsAhead(ev) {
    enrichAhead(ev);
    if (ev.process?.pid !== undefined) routeAhead(ev.host.id);
    decideAhead({ name: this.name, version: this.version });
  },
  async run(ctx) {
    // One responder lookup per run: the agent's syscall capture (before the rule set) and containment.
    const responders = new Responders(ctx);
    // The route does not depend on the enrichment: asked at once, the two lookups run side by side in the
    // worker (the capture and containment below share this one lookup; it answers "none" on failure).
    if (ctx.event.process?.pid !== undefined && sinceV2('prefetch-route-v1'))
      void responders.routeFor().catch(() => undefined);
    const { enrichment, decision } = await assess(ctx, { responders });
    if (since('contain-first-v1')) {
      // Containment first: automatic actions run before the email; approvals are asked after it.
      let notified: PlaybookOutcome | undefined;
      const response = await decideResponses(
        ctx,
        decision,
        { name: this.name, version: this.version },
        {
          beforeApprovals: async () => {
            notified = await notifyByEmail(ctx, enrichment, decision, `${this.name}@${this.version}`);
          },
          responders,
        },
      );
      const n = notified ?? (await notifyByEmail(ctx, enrichment, decision, `${this.name}@${this.version}`));
      const ticket = wantsTicket(decision)
        ? await recordInTicket(ctx, enrichment, decision, response.summary)
        : undefined;
      return {
        ...n,
        outcome: [n.outcome, ...response.summary, ...(ticket ? [ticket] : [])].join('; '),
        needsHuman: response.needsHuman,
      };
    }
    // Histories recorded before contain-first replay the older order below.
    const notified = await notifyByEmail(ctx, enrichment, decision, `${this.name}@${this.version}`);
    // Incidents recorded before the policy step replay without it (patched); new ones take it.
    if (!since('policy-and-approvals-v1')) return notified;
    const response = await decideResponses(ctx, decision, { name: this.name, version: this.version });
    const ticket =
      wantsTicket(decision) && since('ticketing-v1')
        ? await recordInTicket(ctx, enrichment, decision, response.summary)
        : undefined;
    return {
      ...notified,
      outcome: [notified.outcome, ...response.summary, ...(ticket ? [ticket] : [])].join('; '),
      needsHuman: response.needsHuman,
    };
  },
};
