/**
 * Playbook: triage (the fallback for events no other playbook claims: file, network or account alerts).
 * Trigger: any event. Workflow id: the incident's. Flow: ATT&CK enrichment -> rule-set verdict from the
 * severity and what the event carries -> email when it reaches the notify level.
 * Side effects: one email per run (deterministic Message-ID); one ticket per incident when ticketing is
 * configured. Undo: none needed.
 */
import type { Playbook } from './lib/playbook.js';
import { assess, notifyByEmail } from './lib/steps.js';
import { recordInTicket, wantsTicket } from './lib/ticket.js';
import { since } from './lib/patches.js';
import { enrichAhead } from './lib/prefetch.js';

export const triage: Playbook = {
  name: 'triage',
  version: '1.0.0',
  description: 'Fallback: enrich, decide by severity and context, notify analysts',
  matches: () => true,
  lookupsAhead: (ev) => enrichAhead(ev),
  async run(ctx) {
    const { enrichment, decision } = await assess(ctx);
    const notified = await notifyByEmail(ctx, enrichment, decision, `${this.name}@${this.version}`);
    if (!wantsTicket(decision) || !since('ticketing-v1')) return notified;
    const ticket = await recordInTicket(ctx, enrichment, decision, []);
    return ticket ? { ...notified, outcome: `${notified.outcome}; ${ticket}` } : notified;
  },
};
