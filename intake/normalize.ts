/** Raw request bytes -> DetectionEvents, or the reason they cannot be. Shared by the intake and DLQ retry. */
import { createHash } from 'node:crypto';
import { adapterFor } from '../src/events/adapters/index.js';
import { correlationKey, hostSlug, type CorrelationField } from '../src/events/correlation.js';
import type { DetectionEvent } from '../src/events/detection-event.js';
import type { DeadLetterReason } from './dead-letter.js';

export interface NormalizedEvent {
  event: DetectionEvent;
  incidentId: string;
  correlationKey: string;
}

export type Normalized =
  | { ok: true; items: NormalizedEvent[]; skipped?: { count: number; reason: string } }
  | { ok: false; reason: DeadLetterReason; issues: string[]; status: number };

/** The same bytes from the same source are the same event (a sender's retry is recognized). */
export function eventId(source: string, body: Buffer): string {
  return `ev_${createHash('sha256').update(source).update('\n').update(body).digest('hex').slice(0, 32)}`;
}

/**
 * Documents nested deeper are refused: Temporal's payload converter (JSON.stringify) runs out of stack a few
 * thousand levels down, so such an event would fail every delivery with 503 instead of once with a reason.
 */
export const MAX_DEPTH = 256;

/** Whether a parsed JSON value nests objects or arrays more than `max` levels (iterative: any depth is safe). */
export function nestedDeeperThan(value: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[value, 1]];
  for (let top = stack.pop(); top !== undefined; top = stack.pop()) {
    const [node, depth] = top;
    if (typeof node !== 'object' || node === null) continue;
    if (depth > max) return true;
    for (const child of Array.isArray(node) ? node : Object.values(node)) {
      if (typeof child === 'object' && child !== null) stack.push([child, depth + 1]);
    }
  }
  return false;
}

export function incidentIdFor(host: string, key: string): string {
  return `inc-${hostSlug(host)}-${createHash('sha256').update(key).digest('hex').slice(0, 16)}`;
}

export function normalizeDocument(
  source: string,
  raw: unknown,
  id: string,
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
  if (nestedDeeperThan(raw, MAX_DEPTH)) {
    return {
      ok: false,
      reason: 'invalid-event',
      status: 400,
      issues: [`(root): nested deeper than ${MAX_DEPTH} levels`],
    };
  }
  let r;
  try {
    r = adapter.parse(raw, { id, receivedAt });
  } catch (e) {
    // An adapter bug must not lose the event: it becomes a dead letter with the reason.
    return {
      ok: false,
      reason: 'invalid-event',
      status: 400,
      issues: [`the ${source} adapter failed: ${(e as Error).message}`],
    };
  }
  if (!r.ok) return { ok: false, reason: 'invalid-event', status: 400, issues: r.issues };
  const items = r.events.map((event) => {
    const key = correlationKey(event, fields);
    return { event, correlationKey: key, incidentId: incidentIdFor(event.host.id, key) };
  });
  return { ok: true, items, ...(r.skipped ? { skipped: r.skipped } : {}) };
}

export function normalize(
  source: string,
  body: Buffer,
  fields: readonly CorrelationField[],
  receivedAt = new Date().toISOString(),
): Normalized {
  if (!adapterFor(source)) {
    return {
      ok: false,
      reason: 'unknown-source',
      status: 404,
      issues: [`unknown source "${source.slice(0, 64)}"`],
    };
  }
  let raw: unknown;
  try {
    // A leading UTF-8 byte order mark is ignored (RFC 8259 allows it; Windows tools write one); the event
    // id and a dead letter keep the bytes as sent.
    const text = body.toString('utf8');
    raw = JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
  } catch (e) {
    return {
      ok: false,
      reason: 'malformed-json',
      status: 400,
      issues: [`body is not valid JSON: ${(e as Error).message}`],
    };
  }
  return normalizeDocument(source, raw, eventId(source, body), fields, receivedAt);
}
