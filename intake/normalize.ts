/** Raw request bytes -> DetectionEvent, or the reason it cannot be one. Shared by the intake and DLQ retry. */
import { createHash } from 'node:crypto';
import { adapterFor } from '../src/events/adapters/index.js';
import { correlationKey, hostSlug, type CorrelationField } from '../src/events/correlation.js';
import type { DetectionEvent } from '../src/events/detection-event.js';
import type { DeadLetterReason } from './dead-letter.js';

export type Normalized =
  | { ok: true; event: DetectionEvent; incidentId: string; correlationKey: string }
  | { ok: false; reason: DeadLetterReason; issues: string[]; status: number };

/** The same bytes from the same source are the same event (a sender's retry is recognized). */
export function eventId(source: string, body: Buffer): string {
  return `ev_${createHash('sha256').update(source).update('\n').update(body).digest('hex').slice(0, 32)}`;
}

export function incidentIdFor(host: string, key: string): string {
  return `inc-${hostSlug(host)}-${createHash('sha256').update(key).digest('hex').slice(0, 16)}`;
}

export function normalize(
  source: string,
  body: Buffer,
  fields: readonly CorrelationField[],
  receivedAt = new Date().toISOString(),
): Normalized {
  const adapter = adapterFor(source);
  if (!adapter)
    return {
      ok: false,
      reason: 'unknown-source',
      status: 404,
      issues: [`unknown source "${source.slice(0, 64)}"`],
    };
  let raw: unknown;
  try {
    raw = JSON.parse(body.toString('utf8'));
  } catch (e) {
    return {
      ok: false,
      reason: 'malformed-json',
      status: 400,
      issues: [`body is not valid JSON: ${(e as Error).message}`],
    };
  }
  const r = adapter.parse(raw, { id: eventId(source, body), receivedAt });
  if (!r.ok) return { ok: false, reason: 'invalid-event', status: 400, issues: r.issues };
  const key = correlationKey(r.event, fields);
  return { ok: true, event: r.event, correlationKey: key, incidentId: incidentIdFor(r.event.host.id, key) };
}
