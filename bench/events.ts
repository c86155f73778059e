/**
 * Benchmark events: variants of the Falco fixture (test/fixtures/falco/run-shell-untrusted.json). The
 * correlation key is host + rule, so a new `hostname` is a new incident; a different pid/time with the same
 * host is a different event (its id is a hash of the bytes) for the same incident.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DetectionEvent } from '../src/events/detection-event.js';
import { normalize } from '../intake/normalize.js';
import { repoRoot } from '../src/paths.js';

const FIXTURE = JSON.parse(
  readFileSync(join(repoRoot(), 'test', 'fixtures', 'falco', 'run-shell-untrusted.json'), 'utf8'),
) as Record<string, unknown> & { output_fields: Record<string, unknown> };

let serial = 0;

/** A Falco alert for `host` (a new host = a new correlation key); every call yields distinct bytes. */
export function falcoAlert(host: string): string {
  const n = ++serial;
  const nowNs = BigInt(Date.now()) * 1_000_000n + BigInt(n % 1_000_000);
  return JSON.stringify({
    ...FIXTURE,
    hostname: host,
    time: new Date(Number(nowNs / 1_000_000n)).toISOString(),
    output_fields: { ...FIXTURE.output_fields, 'evt.time': Number(nowNs), 'proc.pid': 10_000 + n },
  });
}

/** 400 material: half not JSON at all (malformed-json), half JSON that is not a Falco alert (invalid-event). */
export function malformedAlert(host: string, i: number): string {
  const good = falcoAlert(host);
  return i % 2 === 0
    ? good.slice(0, Math.floor(good.length / 2))
    : good.replace('"priority":"Notice"', '"priority":"Loud"');
}

/** The DetectionEvent the intake would make of `body` (the bare baseline starts workflows with it). */
export function detectionEvent(body: string): DetectionEvent {
  const n = normalize('falco', Buffer.from(body), ['host', 'rule']);
  if (!n.ok || !n.items[0]) throw new Error(`the fixture did not normalize: ${JSON.stringify(n)}`);
  return n.items[0].event;
}

/**
 * A Falco alert for `host` naming a real process (`pid`, `exepath`), under another rule name when given
 * (host + rule is the correlation key, so a new rule name on the same host is a new incident; the rule
 * name plays no part in the verdict, the lineage does). Without a pid, a made-up one as falcoAlert.
 */
export function falcoAlertFor(host: string, o: { rule?: string; pid?: number; exepath?: string }): string {
  const d = JSON.parse(falcoAlert(host)) as Record<string, unknown> & {
    output_fields: Record<string, unknown>;
  };
  if (o.rule) d.rule = o.rule;
  if (o.pid !== undefined) d.output_fields['proc.pid'] = o.pid;
  if (o.exepath) d.output_fields['proc.exepath'] = o.exepath;
  return JSON.stringify(d);
}
