/**
 * Property-based fuzzing of every registered adapter (new ones are covered by registering them): whatever
 * JSON a sender posts, `parse` returns a result instead of throwing, every event it returns is a valid
 * DetectionEvent with the id derived from the document's id, and an empty success says why.
 * Inputs: arbitrary JSON values, and the adapter's fixtures (test/fixtures/<name>/*.json) mutated: fields
 * replaced by arbitrary or tricky JSON, keys deleted, objects emptied. fast-check prints the seed and the
 * shrunk counterexample on failure; FUZZ_SEED=<n> replays a run, FUZZ_RUNS=<n> fuzzes longer.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../../paths.js';
import { DetectionEvent } from '../detection-event.js';
import { ADAPTERS } from './index.js';
import { eventIdAt, type AdapterContext, type SourceAdapter } from './types.js';

const ctx: AdapterContext = { id: 'ev_fuzz0000', receivedAt: '2026-11-26T09:00:00.000Z' };
const seed = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : undefined;
/** About two seconds per property by default; FUZZ_RUNS=<n> runs longer (its time limit grows with it). */
const runs = process.env.FUZZ_RUNS ? Number(process.env.FUZZ_RUNS) : 400;
const budget = {
  numRuns: runs,
  interruptAfterTimeLimit: Math.max(2_000, runs * 5),
  ...(seed !== undefined ? { seed } : {}),
};

/** Seeds for adapters whose fixtures folder is empty (the generic shape is documented in the README). */
const INLINE_SEEDS: Record<string, unknown[]> = {
  generic: [
    {
      time: '2026-11-26T09:00:00Z',
      host: { id: 'i-0abc', name: 'web-01', addresses: ['10.0.0.5'] },
      rule: { id: 'EDR-17', name: 'Reverse shell' },
      severity: 92,
      techniques: ['T1059.004'],
      process: { pid: 4242, ppid: 100, name: 'sh', ancestors: [{ pid: 100, name: 'php-fpm' }] },
      network: { direction: 'outbound', remoteAddress: '203.0.113.7', remotePort: 4444 },
    },
  ],
};

function seedsFor(name: string): unknown[] {
  const dir = join(repoRoot(), 'test', 'fixtures', name);
  const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.json')) : [];
  return [
    ...files.map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as unknown),
    ...(INLINE_SEEDS[name] ?? []),
  ];
}

type Path = (string | number)[];

/** Every path to a node below the root, objects and arrays alike (to a depth bound: deep chains are fuzz input). */
function pathsOf(v: unknown, prefix: Path = [], out: Path[] = []): Path[] {
  if (prefix.length >= 12 || typeof v !== 'object' || v === null) return out;
  const entries: [string | number, unknown][] = Array.isArray(v)
    ? v.map((x, i) => [i, x])
    : Object.entries(v);
  for (const [k, x] of entries) {
    out.push([...prefix, k]);
    pathsOf(x, [...prefix, k], out);
  }
  return out;
}

/** Values that sit on adapters' edges: absent spellings, wrong types, extreme numbers, deep nesting. */
function deep(n: number): unknown {
  let v: unknown = 'leaf';
  for (let i = 0; i < n; i++) v = i % 3 === 0 ? [v] : i % 3 === 1 ? { parent_process: v } : { _source: v };
  return v;
}
const TRICKY: unknown[] = [
  null,
  '',
  '-',
  '<NA>',
  'N/A',
  0,
  -1,
  0.5,
  1e21,
  -1e21,
  Number.MAX_SAFE_INTEGER,
  8.64e15 + 1,
  '99999999999999999999',
  '-5',
  'NaN',
  true,
  [],
  {},
  [null],
  [{}],
  'added',
  'removed',
  'snapshot',
  'alert',
  'signal',
  2004,
  1007,
  3,
  99,
  'T1059.004',
  'TA0002',
  '2026-11-26T09:00:00Z',
  '9999-12-31T23:59:59Z',
  'Tue Sep 30 17:37:30 2014 UTC',
  'Tue Sep 99 99:99:99 2014 UTC',
  'x'.repeat(10_000),
  '__proto__',
  { __proto__: null, constructor: 'x' },
  JSON.parse('{"__proto__": {"polluted": true}}') as unknown,
  deep(200),
];

type Mutation = { at: number; op: 'replace' | 'tricky' | 'delete' | 'empty'; value: unknown; tricky: number };
const mutationArb: fc.Arbitrary<Mutation> = fc.record({
  at: fc.nat(),
  op: fc.constantFrom('replace', 'tricky', 'delete', 'empty'),
  value: fc.jsonValue({ maxDepth: 3 }),
  tricky: fc.nat({ max: TRICKY.length - 1 }),
});

function mutate(doc: unknown, mutations: readonly Mutation[]): unknown {
  let root = structuredClone(doc);
  for (const m of mutations) {
    const paths = pathsOf(root);
    const value = m.op === 'tricky' ? TRICKY[m.tricky] : m.value;
    if (paths.length === 0) {
      root = value;
      continue;
    }
    const path = paths[m.at % paths.length]!;
    const parent = path
      .slice(0, -1)
      .reduce<unknown>((n, k) => (n as Record<string | number, unknown>)[k], root);
    const key = path[path.length - 1]!;
    const container = parent as Record<string | number, unknown>;
    if (m.op === 'delete') {
      if (Array.isArray(container)) container.splice(key as number, 1);
      else delete container[key];
    } else if (m.op === 'empty') {
      const cur = container[key];
      container[key] = Array.isArray(cur) ? [] : typeof cur === 'object' && cur !== null ? {} : '';
    } else {
      container[key] = value;
    }
  }
  return root;
}

/** The adapter contract, checked on one input. */
function checkContract(adapter: SourceAdapter, input: unknown): void {
  const r = adapter.parse(input, ctx); // must not throw
  if (!r.ok) {
    expect(r.issues.length).toBeGreaterThan(0);
    for (const issue of r.issues) expect(typeof issue).toBe('string');
    return;
  }
  if (r.events.length === 0) expect(r.skipped?.reason).toBeTruthy();
  r.events.forEach((ev, i) => {
    const check = DetectionEvent.safeParse(ev);
    if (!check.success) throw new Error(`event ${i} is not a DetectionEvent: ${check.error.message}`);
    expect(ev.id).toBe(eventIdAt(ctx, i));
    expect(ev.source).toBe(adapter.name);
    expect(ev.receivedAt).toBe(ctx.receivedAt);
  });
  // Same input, same output: the intake's dedup relies on it.
  expect(adapter.parse(input, ctx)).toEqual(r);
}

const adapters = [...ADAPTERS.values()];

describe.each(adapters.map((a) => [a.name, a] as const))('%s adapter under fuzzing', (name, adapter) => {
  const seeds = seedsFor(name);

  it('has at least one valid fixture to mutate', () => {
    expect(seeds.some((s) => adapter.parse(s, ctx).ok)).toBe(true);
  });

  it('never throws on arbitrary JSON, and what it accepts is valid', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (input) => checkContract(adapter, input)),
      budget,
    );
  });

  it('never throws on mutated fixtures, and what it accepts is valid', () => {
    fc.assert(
      fc.property(
        seeds.length ? fc.constantFrom(...seeds) : fc.constant<unknown>({}),
        fc.array(mutationArb, { minLength: 1, maxLength: 6 }),
        (doc, mutations) => checkContract(adapter, mutate(doc, mutations)),
      ),
      budget,
    );
  });
});
