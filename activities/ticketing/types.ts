/** The ticketing contract: what a playbook asks for, and the small set of primitives each vendor provides. */
import { z } from 'zod';

export const TICKET_SYSTEMS = ['jira', 'servicenow', 'thehive', 'rt', 'redmine'] as const;
export type TicketSystem = (typeof TICKET_SYSTEMS)[number];

/** A ticket as the workflow keeps it (plain data, safe in histories: no secrets). */
export const TicketRef = z.object({
  system: z.enum(TICKET_SYSTEMS),
  /** The vendor's id used in API paths (Jira issue id, ServiceNow sys_id, TheHive _id, RT/Redmine number). */
  id: z.string().min(1),
  /** What people call it: PROJ-12, INC0010001, #12. */
  key: z.string().min(1),
  url: z.string(),
});
export type TicketRef = z.infer<typeof TicketRef>;

export const Severity = z.enum(['info', 'low', 'medium', 'high', 'critical']);
export const Verdict = z.enum(['benign', 'suspicious', 'malicious']);

export const NewTicket = z.object({
  incidentId: z.string().min(1).max(400),
  title: z.string().min(1).max(400),
  severity: Severity,
  description: z.string().max(20_000).default(''),
  host: z.string().max(400).optional(),
  rule: z.string().max(400).optional(),
  verdict: Verdict.optional(),
  riskScore: z.number().min(0).max(100).optional(),
  techniques: z.array(z.string().max(50)).max(50).default([]),
});
export type NewTicket = z.infer<typeof NewTicket>;
export type NewTicketInput = z.input<typeof NewTicket>;

export type TicketState =
  { kind: 'in-progress' } | { kind: 'closed'; verdict?: z.infer<typeof Verdict>; outcome: string };

/** A note (comment / work note / journal entry). `marker` is in `text`; it makes adding it idempotent. */
export interface TicketNote {
  marker: string;
  title: string;
  text: string;
}

/**
 * What each vendor adapter implements. Every call has a timeout and maps errors once (outboundFailure);
 * the idempotency logic (find before create, marker before note, state check before transition) lives
 * once in client.ts on top of these.
 */
export interface TicketBackend {
  readonly system: TicketSystem;
  /** The ticket carrying the incident marker (open or closed), or null. */
  find(marker: string): Promise<TicketRef | null>;
  create(t: NewTicket, marker: string, description: string): Promise<TicketRef>;
  /** Whether a note with this marker is already on the ticket. */
  hasNote(ref: TicketRef, marker: string): Promise<boolean>;
  addNote(ref: TicketRef, note: TicketNote): Promise<void>;
  /** Move the ticket; never reopens a closed ticket, does nothing when it is already there. */
  setState(ref: TicketRef, state: TicketState): Promise<void>;
}
