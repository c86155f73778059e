/**
 * Ticketing activities: createTicket / updateTicket / addTicketEvidence / closeTicket / findTicket.
 * Inputs are parsed with zod (bad input: non-retryable InvalidInput listing the issues). The vendor is
 * chosen by config (VIGIL_TICKETING); every call is idempotent (see client.ts), so Temporal may retry
 * any of them, also after the worker died mid-call.
 */
import { z } from 'zod';
import { parseInput } from '../lib/failures.js';
import { withHeartbeat } from '../lib/heartbeat.js';
import { currentIdempotencyKey } from '../lib/idempotency.js';
import type { TicketingClient } from './client.js';
import { NewTicket, TicketRef, Verdict, type NewTicketInput } from './types.js';

export { createTicketingClient } from './client.js';
export { loadTicketingConfig, type TicketingConfig } from './config.js';
export type { TicketRef, NewTicketInput } from './types.js';

const Text = (max: number) => z.string().min(1).max(max);

export const UpdateTicketInput = z.object({
  ticket: TicketRef,
  stage: Text(80),
  summary: Text(20_000),
});
export const TicketEvidenceInput = z.object({
  ticket: TicketRef,
  title: Text(200),
  items: z
    .array(z.object({ label: Text(100), value: z.string().max(10_000) }))
    .min(1)
    .max(100),
});
export const CloseTicketInput = z.object({
  ticket: TicketRef,
  verdict: Verdict.optional(),
  outcome: Text(10_000),
});
export const FindTicketInput = z.object({ incidentId: Text(400) });

export type UpdateTicketInput = z.infer<typeof UpdateTicketInput>;
export type TicketEvidenceInput = z.infer<typeof TicketEvidenceInput>;
export type CloseTicketInput = z.infer<typeof CloseTicketInput>;
export type FindTicketInput = z.infer<typeof FindTicketInput>;

export interface TicketCreated {
  ticket: TicketRef;
  /** false when a ticket for this incident already existed (a retry, or a second call). */
  created: boolean;
}
export interface TicketNoted {
  /** false when this activity's note was already on the ticket (a retry). */
  noted: boolean;
}

export function createTicketingActivities(client: TicketingClient) {
  return {
    async createTicket(input: NewTicketInput): Promise<TicketCreated> {
      const t = parseInput(NewTicket, input, 'createTicket');
      return withHeartbeat(() => client.create(t));
    },
    async updateTicket(input: UpdateTicketInput): Promise<TicketNoted> {
      const u = parseInput(UpdateTicketInput, input, 'updateTicket');
      const key = currentIdempotencyKey('ticket-update');
      return withHeartbeat(() => client.update(u.ticket, u, key));
    },
    async addTicketEvidence(input: TicketEvidenceInput): Promise<TicketNoted> {
      const e = parseInput(TicketEvidenceInput, input, 'addTicketEvidence');
      const key = currentIdempotencyKey('ticket-evidence');
      return withHeartbeat(() => client.addEvidence(e.ticket, e, key));
    },
    async closeTicket(input: CloseTicketInput): Promise<TicketNoted> {
      const c = parseInput(CloseTicketInput, input, 'closeTicket');
      const key = currentIdempotencyKey('ticket-close');
      return withHeartbeat(() => client.close(c.ticket, c, key));
    },
    async findTicket(input: FindTicketInput): Promise<TicketRef | null> {
      const f = parseInput(FindTicketInput, input, 'findTicket');
      return withHeartbeat(() => client.findByIncident(f.incidentId));
    },
  };
}
export type TicketingActivities = ReturnType<typeof createTicketingActivities>;
