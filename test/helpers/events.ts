/** Build real events through the intake's own normalization (the code path production uses). */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../../src/paths.js';
import { normalize, type NormalizedEvent } from '../../intake/normalize.js';

export function falcoFixture(name = 'run-shell-untrusted.json'): Record<string, unknown> {
  return JSON.parse(readFileSync(join(repoRoot(), 'test', 'fixtures', 'falco', name), 'utf8')) as Record<
    string,
    unknown
  >;
}

/** Normalize `doc` as if posted to /v1/events/<source>; throws unless it is exactly one valid event. */
export function normalized(source: string, doc: unknown): NormalizedEvent {
  const n = normalize(source, Buffer.from(JSON.stringify(doc)), ['host', 'rule']);
  if (!n.ok) throw new Error(`fixture is invalid: ${n.issues.join('; ')}`);
  const [one, ...more] = n.items;
  if (!one || more.length) throw new Error(`fixture holds ${n.items.length} events, not one`);
  return one;
}

/** The reverse-shell Falco fixture on another host (so tests do not share incidents). */
export function reverseShell(
  host: string,
  patch: (d: Record<string, unknown> & { output_fields: Record<string, unknown> }) => void = () => undefined,
) {
  const d = falcoFixture() as Record<string, unknown> & { output_fields: Record<string, unknown> };
  d.hostname = host;
  patch(d);
  return normalized('falco', d);
}
