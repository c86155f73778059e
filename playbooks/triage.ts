/**
 * Playbook: triage (the fallback for events no other playbook claims: file, network or account alerts).
 * Trigger: any event. Workflow id: the incident's. Flow: ATT&CK enrichment -> rule-set verdict from the
 * severity and what the event carries -> email when it reaches the notify level.
 * Side effects: one email per run (deterministic Message-ID). Undo: none needed.
 */
import type { Playbook } from './lib/playbook.js';
import { assess, notifyByEmail } from './lib/steps.js';

export const triage: Playbook = {
  name: 'triage',
  version: '1.0.0',
  description: 'Fallback: enrich, decide by severity and context, notify analysts',
  matches: () => true,
  async run(ctx) {
    const { enrichment, decision } = await assess(ctx);
    return notifyByEmail(ctx, enrichment, decision, `${this.name}@${this.version}`);
  },
};
