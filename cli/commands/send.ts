/**
 * `vigil send --source <name> <file|->`: sign and post events to the running stack's intake.
 * Accepts one JSON document, a JSON array of events, or NDJSON (one event per line).
 * A single document is sent byte for byte; 429/503 are retried after Retry-After (bounded).
 */
import { readFileSync } from 'node:fs';
import { signedHeaders } from '../../src/signing.js';
import { printJson, UsageError } from '../output.js';
import { readStack } from '../state.js';

export interface SendResult {
  index: number;
  status: number;
  incidentId?: string;
  eventId?: string;
  error?: string;
  issues?: string[];
  deadLetterId?: number;
  events?: { incidentId?: string; eventId?: string }[];
  skipped?: { count: number; reason: string };
}

export function splitDocuments(text: string): Buffer[] {
  const trimmed = text.trim();
  if (!trimmed) return [];
  try {
    const doc = JSON.parse(trimmed) as unknown;
    if (Array.isArray(doc)) return doc.map((d) => Buffer.from(JSON.stringify(d)));
    return [Buffer.from(trimmed)];
  } catch {
    // NDJSON: every non-empty line is its own event (a bad line is sent as is, and dead-lettered by the intake).
    return trimmed
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean)
      .map((l) => Buffer.from(l));
  }
}

export async function postSigned(
  url: string,
  path: string,
  key: { id: string; secret: string },
  body: Buffer,
  maxTries = 6,
): Promise<{ status: number; json: Record<string, unknown> }> {
  for (let attempt = 1; ; attempt++) {
    const headers = { 'content-type': 'application/json', ...signedHeaders(key, 'POST', path, body) };
    let res: Response;
    try {
      res = await fetch(`${url}${path}`, {
        method: 'POST',
        headers,
        body,
        signal: AbortSignal.timeout(15_000),
      });
    } catch (e) {
      if (attempt >= maxTries) throw new Error(`cannot reach the intake at ${url}: ${(e as Error).message}`);
      await new Promise((r) => setTimeout(r, 500 * attempt));
      continue;
    }
    const json = (await res.json().catch(() => ({}))) as Record<string, unknown>;
    if ((res.status === 429 || res.status === 503) && attempt < maxTries) {
      const wait = Math.min(30, Number(res.headers.get('retry-after')) || 1);
      await new Promise((r) => setTimeout(r, wait * 1000));
      continue;
    }
    return { status: res.status, json };
  }
}

export async function send(opts: { source?: string; file?: string; json: boolean }): Promise<number> {
  if (!opts.source) throw new UsageError('vigil send: --source <name> is required (falco, generic)');
  if (!opts.file) throw new UsageError('vigil send: give a file of events, or - for standard input');
  const text = opts.file === '-' ? readFileSync(0, 'utf8') : readFileSync(opts.file, 'utf8');
  const docs = splitDocuments(text);
  if (!docs.length) throw new UsageError(`vigil send: ${opts.file} holds no events`);
  const { state, creds } = readStack();
  const path = `/v1/events/${encodeURIComponent(opts.source)}`;
  const results: SendResult[] = [];
  for (const [index, body] of docs.entries()) {
    const { status, json } = await postSigned(state.intake.url, path, creds.intakeKey, body);
    results.push({
      index,
      status,
      incidentId: json.incidentId as string | undefined,
      eventId: json.eventId as string | undefined,
      error:
        status === 202 || status === 200
          ? undefined
          : typeof json.error === 'string'
            ? json.error
            : `HTTP ${status}`,
      issues: json.issues as string[] | undefined,
      deadLetterId: json.deadLetterId as number | undefined,
      events: json.events as SendResult['events'],
      skipped: json.skipped as SendResult['skipped'],
    });
  }
  if (opts.json) printJson(results);
  else
    for (const r of results) {
      if (r.status === 202)
        for (const e of r.events ?? [{ incidentId: r.incidentId, eventId: r.eventId }])
          process.stdout.write(`${e.incidentId}\t(event ${e.eventId})\n`);
      else if (r.status === 200)
        process.stdout.write(`#${r.index}: nothing to raise (${r.skipped?.reason ?? 'skipped'})\n`);
      else
        process.stdout.write(
          `#${r.index}: HTTP ${r.status} ${r.error}${r.deadLetterId ? ` (dead letter ${r.deadLetterId})` : ''}\n${(r.issues ?? []).map((i) => `    - ${i}`).join('\n')}\n`,
        );
    }
  return results.every((r) => r.status === 202 || r.status === 200) ? 0 : 1;
}
