/** What every adapter test needs: a context, its fixtures, and parse / exactly-one-event helpers. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { SourceAdapter } from '../../src/events/adapters/types.js';
import type { DetectionEvent } from '../../src/events/detection-event.js';
import { repoRoot } from '../../src/paths.js';

export function adapterHarness(adapter: SourceAdapter, fixtureDir: string) {
  const ctx = { id: 'ev_test0000', receivedAt: '2026-11-26T09:00:00.000Z' };
  const fixture = (name: string) =>
    JSON.parse(readFileSync(join(repoRoot(), 'test', 'fixtures', fixtureDir, name), 'utf8')) as Record<
      string,
      unknown
    >;
  const parse = (raw: unknown) => adapter.parse(raw, ctx);
  const one = (raw: unknown): DetectionEvent => {
    const r = parse(raw);
    if (!r.ok) throw new Error(r.issues.join('; '));
    expect(r.events).toHaveLength(1);
    return r.events[0] as DetectionEvent;
  };
  return { ctx, fixture, parse, one };
}
