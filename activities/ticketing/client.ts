/**
 * The one ticketing interface playbooks get (create, update per stage, add evidence, close, find by
 * incident), built once on top of a vendor backend. Idempotency lives here:
 * - a ticket is found by a stable incident marker before one is created, so a retried create (even after
 *   the worker died between the vendor's answer and Temporal's) returns the first ticket;
 * - every note carries a marker derived from the activity's idempotency key and is added only when absent;
 * - state changes check the current state first and never reopen a closed ticket.
 */
import type { AxiosInstance } from 'axios';
import { ErrorType } from '../../src/errors.js';
import { failure } from '../lib/failures.js';
import { shortHash } from '../lib/idempotency.js';
import { createOutboundHttp, outboundPolicy, type Resolver } from '../lib/ssrf.js';
import type { TicketingConfig } from './config.js';
import { jiraBackend } from './jira.js';
import { redmineBackend } from './redmine.js';
import { rtBackend } from './rt.js';
import { serviceNowBackend } from './servicenow.js';
import { theHiveBackend } from './thehive.js';
import type { NewTicket, TicketBackend, TicketRef, TicketState } from './types.js';

/** The stable marker of an incident's ticket: the same for every attempt, searchable in every system. */
export function incidentMarker(incidentId: string): string {
  return `vigil-${shortHash(`incident:${incidentId}`, 24)}`;
}
export function noteMarker(idempotencyKey: string): string {
  return `vigil-note-${shortHash(`note:${idempotencyKey}`, 20)}`;
}

export function renderDescription(t: NewTicket, marker: string): string {
  const rows: [string, string | undefined][] = [
    ['Incident', t.incidentId],
    ['Severity', t.severity],
    ['Host', t.host],
    ['Rule', t.rule],
    ['Verdict', t.verdict && `${t.verdict}${t.riskScore !== undefined ? ` (risk ${t.riskScore}/100)` : ''}`],
    ['ATT&CK', t.techniques.length ? t.techniques.join(', ') : undefined],
    ['Inspect', `vigil show ${t.incidentId}`],
  ];
  return [
    ...(t.description ? [t.description, ''] : []),
    ...rows.filter(([, v]) => v).map(([k, v]) => `${k}: ${v}`),
    '',
    `Opened by Vigil. Marker: ${marker} (do not remove: it keeps the ticket unique per incident).`,
  ].join('\n');
}

export interface StageUpdate {
  stage: string;
  summary: string;
}
export interface Evidence {
  title: string;
  items: { label: string; value: string }[];
}
export interface Closure {
  verdict?: 'benign' | 'suspicious' | 'malicious';
  outcome: string;
}

export interface TicketingClient {
  readonly system: TicketSystemOrNone;
  findByIncident(incidentId: string): Promise<TicketRef | null>;
  create(t: NewTicket): Promise<{ ticket: TicketRef; created: boolean }>;
  update(ref: TicketRef, u: StageUpdate, idempotencyKey: string): Promise<{ noted: boolean }>;
  addEvidence(ref: TicketRef, e: Evidence, idempotencyKey: string): Promise<{ noted: boolean }>;
  close(ref: TicketRef, c: Closure, idempotencyKey: string): Promise<{ noted: boolean }>;
}
export type TicketSystemOrNone = TicketBackend['system'] | 'none';

const oneLine = (s: string, max = 200) => s.replace(/[\r\n\t]+/g, ' ').slice(0, max);

export function ticketingClient(b: TicketBackend): TicketingClient {
  const sameSystem = (ref: TicketRef) => {
    if (ref.system !== b.system)
      throw failure(
        ErrorType.Misconfigured,
        `ticket ${ref.key} belongs to ${ref.system}, but this worker is configured for ${b.system} (VIGIL_TICKETING)`,
      );
  };
  const note = async (ref: TicketRef, key: string, title: string, body: string) => {
    sameSystem(ref);
    const marker = noteMarker(key);
    if (await b.hasNote(ref, marker)) return { noted: false };
    await b.addNote(ref, { marker, title, text: `${title}\n\n${body}\n\n[${marker}]` });
    return { noted: true };
  };
  return {
    system: b.system,
    findByIncident: (incidentId) => b.find(incidentMarker(incidentId)),
    async create(t) {
      const marker = incidentMarker(t.incidentId);
      const found = await b.find(marker);
      if (found) return { ticket: found, created: false };
      return { ticket: await b.create(t, marker, renderDescription(t, marker)), created: true };
    },
    async update(ref, u, key) {
      const r = await note(ref, key, `Vigil: stage ${oneLine(u.stage, 80)}`, u.summary);
      await b.setState(ref, { kind: 'in-progress' });
      return r;
    },
    addEvidence(ref, e, key) {
      const body = e.items.map((i) => `${oneLine(i.label, 100)}: ${i.value}`).join('\n');
      return note(ref, key, `Vigil evidence: ${oneLine(e.title)}`, body || '(none)');
    },
    async close(ref, c, key) {
      const verdict = c.verdict ? ` (${c.verdict})` : '';
      const r = await note(ref, key, `Vigil: incident closed${verdict}`, c.outcome);
      const state: TicketState = { kind: 'closed', outcome: c.outcome, verdict: c.verdict };
      await b.setState(ref, state);
      return r;
    },
  };
}

/** With VIGIL_TICKETING=none every call fails as Misconfigured (a playbook should not ask). */
const disabled: TicketingClient = {
  system: 'none',
  findByIncident: () => Promise.reject(off()),
  create: () => Promise.reject(off()),
  update: () => Promise.reject(off()),
  addEvidence: () => Promise.reject(off()),
  close: () => Promise.reject(off()),
};
function off() {
  return failure(ErrorType.Misconfigured, 'ticketing is disabled (VIGIL_TICKETING=none)');
}

export interface ClientOptions {
  /** Name resolution for the outbound guard (tests inject one; default: the system resolver). */
  resolver?: Resolver;
}

/** The HTTP client a vendor backend uses: guarded, with the configured timeout. */
export function vendorHttp(
  cfg: TicketingConfig,
  baseURL: string,
  headers: Record<string, string>,
  o: ClientOptions,
): AxiosInstance {
  return createOutboundHttp({
    policy: outboundPolicy(cfg, o.resolver),
    timeoutMs: cfg.VIGIL_TICKETING_TIMEOUT,
    baseURL,
    headers: { Accept: 'application/json', 'User-Agent': 'vigil-ticketing', ...headers },
    maxRedirects: 0,
  });
}

export function createTicketingClient(cfg: TicketingConfig, o: ClientOptions = {}): TicketingClient {
  switch (cfg.VIGIL_TICKETING) {
    case 'none':
      return disabled;
    case 'jira':
      return ticketingClient(jiraBackend(cfg.jira, (b, h) => vendorHttp(cfg, b, h, o)));
    case 'servicenow':
      return ticketingClient(serviceNowBackend(cfg.servicenow, (b, h) => vendorHttp(cfg, b, h, o)));
    case 'thehive':
      return ticketingClient(theHiveBackend(cfg.thehive, (b, h) => vendorHttp(cfg, b, h, o)));
    case 'rt':
      return ticketingClient(rtBackend(cfg.rt, (b, h) => vendorHttp(cfg, b, h, o)));
    case 'redmine':
      return ticketingClient(redmineBackend(cfg.redmine, (b, h) => vendorHttp(cfg, b, h, o)));
  }
}

export type HttpFactory = (baseURL: string, headers: Record<string, string>) => AxiosInstance;
