/**
 * Intake rules against a fake IncidentStarter (our own interface) and a real SQLite dead-letter store.
 * The same server against real Temporal is exercised in test/intake.test.ts.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateRawSync, deflateSync, gzipSync } from 'node:zlib';
import type { FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { repoRoot } from '../src/paths.js';
import type { DetectionEvent } from '../src/events/detection-event.js';
import { signedHeaders } from '../src/signing.js';
import { loadIntakeConfig } from './config.js';
import { DeadLetterStore } from './dead-letter.js';
import type { IncidentStarter } from './incidents.js';
import { createIntakeMetrics } from './metrics.js';
import { OsqueryNodeStore } from './osquery-nodes.js';
import { buildIntake } from './server.js';

const key = { id: 'falco-1', secret: 'k'.repeat(40) };
const narrowKey = { id: 'generic-only', secret: 'g'.repeat(40) };
const webToken = 'falcosidekick-token-for-web-hosts';
const enrollSecret = 'osquery-enroll-secret-for-web-hosts';
const osqueryRow = JSON.parse(
  readFileSync(join(repoRoot(), 'test', 'fixtures', 'osquery', 'event-added.json'), 'utf8'),
) as Record<string, unknown>;
const adminToken = 'admin-token-for-tests';
const falco = readFileSync(join(repoRoot(), 'test', 'fixtures', 'falco', 'run-shell-untrusted.json'));

let dir: string;
let store: DeadLetterStore;
let nodes: OsqueryNodeStore;
let app: FastifyInstance;
let started: { incidentId: string; key: string; event: DetectionEvent }[];
const seenRuns = new Set<string>();
let starterBehaviour: 'ok' | 'fail' | 'hang';
/** Events per starter call, in call order. */
let calls: number[];
/** Calls carrying more than one event fail (a coalesced signal Temporal did not accept). */
let failBatches: boolean;

function build(extra: Record<string, string> = {}) {
  const config = loadIntakeConfig({
    VIGIL_INTAKE_KEYS: JSON.stringify([
      { ...key, hosts: ['*'] },
      { ...narrowKey, sources: ['generic'], hosts: ['db-*'] },
    ]),
    VIGIL_OSQUERY_ENROLL_SECRETS: JSON.stringify([
      { id: 'fleet', sha256: createHash('sha256').update(enrollSecret).digest('hex'), hosts: ['web-*'] },
    ]),
    VIGIL_INTAKE_TOKENS: JSON.stringify([
      {
        id: 'sidekick',
        sha256: createHash('sha256').update(webToken).digest('hex'),
        sources: ['falco'],
        hosts: ['web-*'],
      },
    ]),
    VIGIL_ADMIN_TOKEN_SHA256: createHash('sha256').update(adminToken).digest('hex'),
    VIGIL_BODY_LIMIT: '4096',
    ...extra,
  });
  const starter: IncidentStarter = {
    start: (incidentId, k, event) => starter.startMany(incidentId, k, [event]),
    async startMany(incidentId, k, events) {
      calls.push(events.length);
      if (starterBehaviour === 'fail' || (failBatches && events.length > 1))
        throw new Error('deadline exceeded');
      if (starterBehaviour === 'hang') await new Promise((r) => setTimeout(r, 300));
      for (const event of events) started.push({ incidentId, key: k, event });
      const isNew = !seenRuns.has(incidentId);
      seenRuns.add(incidentId);
      return { runId: `run-${incidentId}`, started: isNew };
    },
  };
  return buildIntake({
    config,
    deadLetters: store,
    nodes,
    starter,
    metrics: createIntakeMetrics(() => store.counts().pending),
    ready: async () => true,
  });
}

async function post(
  source: string,
  body: Buffer | string,
  opts: { k?: typeof key; skewMs?: number; headers?: Record<string, string> } = {},
) {
  const path = `/v1/events/${source}`;
  const headers = {
    'content-type': 'application/json',
    ...signedHeaders(opts.k ?? key, 'POST', path, body, Date.now() + (opts.skewMs ?? 0)),
    ...opts.headers,
  };
  return app.inject({ method: 'POST', url: path, headers, payload: body });
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'vigil-intake-'));
  store = new DeadLetterStore(join(dir, 'intake.db'));
  nodes = new OsqueryNodeStore(join(dir, 'intake.db'));
  seenRuns.clear();
  started = [];
  calls = [];
  failBatches = false;
  starterBehaviour = 'ok';
  app = build();
});
afterEach(async () => {
  await app.close();
  store.close();
  nodes.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('intake', () => {
  it('accepts a signed Falco alert with 202 and the incident id once the starter accepted it', async () => {
    const r = await post('falco', falco);
    expect(r.statusCode).toBe(202);
    const body = r.json<{ incidentId: string; eventId: string }>();
    expect(body.incidentId).toMatch(/^inc-web-01-[0-9a-f]{16}$/);
    expect(started).toHaveLength(1);
    expect(started[0]?.key).toBe('host=web-01|rule=Run shell untrusted');
    expect(started[0]?.event.id).toBe(body.eventId);
  });

  it('gives the same delivery the same event id, and the same key the same incident', async () => {
    const a = (await post('falco', falco)).json<{ incidentId: string; eventId: string }>();
    const b = (await post('falco', falco)).json<{ incidentId: string; eventId: string }>();
    expect(b).toEqual(a);
    const other = JSON.parse(falco.toString()) as { output_fields: Record<string, unknown> };
    other.output_fields['proc.pid'] = 1;
    const c = (await post('falco', JSON.stringify(other))).json<{ incidentId: string; eventId: string }>();
    expect(c.incidentId).toBe(a.incidentId);
    expect(c.eventId).not.toBe(a.eventId);
  });

  it.each([
    ['no key id', { headers: { 'x-vigil-key-id': '' } }, /missing/],
    ['an unknown key id', { headers: { 'x-vigil-key-id': 'nobody' } }, /unknown key/],
    ['a wrong secret', { k: { id: key.id, secret: 'z'.repeat(40) } }, /mismatch/],
    ['a stale timestamp', { skewMs: -330_000 }, /window/],
    ['a timestamp from the future', { skewMs: 330_000 }, /window/],
  ])('refuses a request with %s with 401 and stores nothing', async (_n, opts, reason) => {
    const r = await post('falco', falco, opts);
    expect(r.statusCode).toBe(401);
    expect(r.json<{ reason: string }>().reason).toMatch(reason);
    expect(started).toHaveLength(0);
    expect(store.counts().pending).toBe(0);
  });

  it('refuses a body signed for another source (the path is signed)', async () => {
    const headers = signedHeaders(key, 'POST', '/v1/events/generic', falco);
    const r = await app.inject({
      method: 'POST',
      url: '/v1/events/falco',
      headers: { ...headers, 'content-type': 'application/json' },
      payload: falco,
    });
    expect(r.statusCode).toBe(401);
  });

  it.each([
    ['malformed JSON', 'falco', '{"rule": "x",', 400, 'malformed-json'],
    [
      'a missing field',
      'falco',
      '{"priority":"Notice","time":"2026-11-26T09:00:00Z","hostname":"h"}',
      400,
      'invalid-event',
    ],
    [
      'a wrong type',
      'generic',
      '{"time":"2026-11-26T09:00:00Z","host":"h","rule":"r","severity":true}',
      400,
      'invalid-event',
    ],
    ['an unknown source', 'splunk', '{"a":1}', 404, 'unknown-source'],
  ])(
    'answers %s with its 4xx and keeps the raw bytes as a dead letter',
    async (_n, source, body, status, reason) => {
      const r = await post(source, body);
      expect(r.statusCode).toBe(status);
      const j = r.json<{ error: string; issues: string[]; deadLetterId: number }>();
      expect(j.error).toBe(reason);
      expect(j.issues.length).toBeGreaterThan(0);
      const d = store.get(j.deadLetterId);
      expect(d?.body.toString()).toBe(body);
      expect(d).toMatchObject({ source, reason, keyId: key.id, state: 'pending' });
      expect(started).toHaveLength(0);
    },
  );

  it('refuses (403) and dead-letters a key posting to a source it is not bound to', async () => {
    const r = await post('falco', falco, { k: narrowKey });
    expect(r.statusCode).toBe(403);
    expect(store.counts().pending).toBe(1);
  });

  it('answers 413 for a body over the limit, from Content-Length, before reading it', async () => {
    const big = Buffer.alloc(5000, 'a');
    const r = await post('falco', big);
    expect(r.statusCode).toBe(413);
    expect(store.counts().pending).toBe(0);
  });

  it('answers 503 with Retry-After when Temporal does not accept, and keeps nothing half-done', async () => {
    starterBehaviour = 'fail';
    const r = await post('falco', falco);
    expect(r.statusCode).toBe(503);
    expect(r.headers['retry-after']).toBe('5');
    expect(store.counts().pending).toBe(0);
  });

  it('answers 429 with Retry-After beyond the in-flight limit', async () => {
    await app.close();
    app = build({ VIGIL_MAX_INFLIGHT: '1' });
    starterBehaviour = 'hang';
    const other = JSON.parse(falco.toString()) as { hostname: string };
    other.hostname = 'web-02';
    const [a, b] = await Promise.all([post('falco', falco), post('falco', JSON.stringify(other))]);
    expect([a.statusCode, b.statusCode].sort()).toEqual([202, 429]);
    expect((a.statusCode === 429 ? a : b).headers['retry-after']).toBe('1');
  });

  it('lists, shows and retries dead letters for the admin only', async () => {
    const bad = await post('generic', '{"time":"2026-11-26T09:00:00Z","host":"h","rule":"r"}');
    const id = bad.json<{ deadLetterId: number }>().deadLetterId;
    expect((await app.inject({ url: '/v1/admin/dlq' })).statusCode).toBe(401);
    expect(
      (await app.inject({ url: '/v1/admin/dlq', headers: { authorization: 'Bearer wrong' } })).statusCode,
    ).toBe(401);
    const auth = { authorization: `Bearer ${adminToken}` };
    const list = await app.inject({ url: '/v1/admin/dlq', headers: auth });
    expect(list.json<{ items: { id: number }[] }>().items.map((i) => i.id)).toEqual([id]);
    const one = await app.inject({ url: `/v1/admin/dlq/${id}`, headers: auth });
    expect(one.json<{ preview: string }>().preview).toContain('"rule":"r"');
    // Still invalid: the retry says why and the letter stays pending.
    const retry = await app.inject({ method: 'POST', url: `/v1/admin/dlq/${id}/retry`, headers: auth });
    expect(retry.statusCode).toBe(422);
    expect(store.get(id)).toMatchObject({ state: 'pending', attempts: 1 });
  });

  it('resubmits a dead letter that became valid (e.g. after an adapter fix) exactly once', async () => {
    // Dead-lettered as "source not allowed", then the key is widened: simulate with a letter from the wide key.
    const id = store.add({
      source: 'falco',
      keyId: key.id,
      reason: 'invalid-event',
      issues: ['old adapter'],
      body: falco,
    });
    const auth = { authorization: `Bearer ${adminToken}` };
    const r = await app.inject({ method: 'POST', url: `/v1/admin/dlq/${id}/retry`, headers: auth });
    expect(r.statusCode).toBe(200);
    expect(started).toHaveLength(1);
    expect(store.get(id)?.state).toBe('resubmitted');
    const again = await app.inject({ method: 'POST', url: `/v1/admin/dlq/${id}/retry`, headers: auth });
    expect(again.statusCode).toBe(409);
    expect(started).toHaveLength(1);
  });

  it('does not let a retry bypass the key-to-source binding', async () => {
    const r = await post('falco', falco, { k: narrowKey });
    const id = r.json<{ deadLetterId: number }>().deadLetterId;
    const retry = await app.inject({
      method: 'POST',
      url: `/v1/admin/dlq/${id}/retry`,
      headers: { authorization: `Bearer ${adminToken}` },
    });
    expect(retry.statusCode).toBe(403);
    expect(started).toHaveLength(0);
  });

  it('counts outcomes in /metrics (admin only unless public)', async () => {
    await post('falco', falco);
    await post('falco', '{', {});
    await post('falco', falco, { k: { id: key.id, secret: 'z'.repeat(40) } });
    expect((await app.inject({ url: '/metrics' })).statusCode).toBe(401);
    const m = (await app.inject({ url: '/metrics', headers: { authorization: `Bearer ${adminToken}` } }))
      .body;
    expect(m).toMatch(/vigil_intake_events_total\{source="falco",sender="falco-1",outcome="started"\} 1/);
    expect(m).toMatch(
      /vigil_intake_events_total\{source="falco",sender="falco-1",outcome="dead_lettered"\} 1/,
    );
    expect(m).toMatch(
      /vigil_intake_events_total\{source="falco",sender="unknown",outcome="unauthenticated"\} 1/,
    );
    expect(m).toMatch(/vigil_intake_dead_letters 1/);
  });

  it('counts a second event of an open incident as joined, not started', async () => {
    await post('falco', falco);
    const other = JSON.parse(falco.toString()) as { output_fields: Record<string, unknown> };
    other.output_fields['proc.pid'] = 2;
    const r = await post('falco', JSON.stringify(other));
    expect(r.statusCode).toBe(202);
    const m = (await app.inject({ url: '/metrics', headers: { authorization: `Bearer ${adminToken}` } }))
      .body;
    expect(m).toMatch(/outcome="started"\} 1/);
    expect(m).toMatch(/outcome="joined"\} 1/);
  });

  describe('group commit per incident', () => {
    /** `n` distinct events (their own event ids) of one incident (same host and rule). */
    const sameIncident = (n: number) =>
      Array.from({ length: n }, (_, i) => {
        const ev = JSON.parse(falco.toString()) as { output_fields: Record<string, unknown> };
        ev.output_fields['proc.pid'] = 1000 + i;
        return JSON.stringify(ev);
      });
    const metricsText = async () =>
      (await app.inject({ url: '/metrics', headers: { authorization: `Bearer ${adminToken}` } })).body;
    const outcome = (m: string, o: string) =>
      Number(new RegExp(`outcome="${o}"\\} (\\d+)`).exec(m)?.[1] ?? 0);

    it('sends an uncontended event at once, alone', async () => {
      for (const body of sameIncident(3)) expect((await post('falco', body)).statusCode).toBe(202);
      expect(calls).toEqual([1, 1, 1]);
    });

    it('sends events of one incident that arrive while its signal is in flight together in one call, and counts each', async () => {
      starterBehaviour = 'hang';
      const replies = await Promise.all(sameIncident(10).map((b) => post('falco', b)));
      expect(replies.map((r) => r.statusCode)).toEqual(Array(10).fill(202));
      expect(calls).toEqual([1, 9]);
      expect(new Set(started.map((s) => s.event.id)).size).toBe(10);
      // Exactly one event started the incident; every other joined it.
      const m = await metricsText();
      expect(outcome(m, 'started')).toBe(1);
      expect(outcome(m, 'joined')).toBe(9);
      expect(m).toMatch(/vigil_intake_signal_events_count 2/);
      expect(m).toMatch(/vigil_intake_signal_events_sum 10/);
    });

    it('sends every event alone with VIGIL_INTAKE_GROUP_COMMIT=false (a rolling upgrade), and counts each', async () => {
      await app.close();
      app = build({ VIGIL_INTAKE_GROUP_COMMIT: 'false' });
      starterBehaviour = 'hang';
      const replies = await Promise.all(sameIncident(6).map((b) => post('falco', b)));
      expect(replies.map((r) => r.statusCode)).toEqual(Array(6).fill(202));
      expect(calls).toEqual([1, 1, 1, 1, 1, 1]);
      const m = await metricsText();
      expect(outcome(m, 'started')).toBe(1);
      expect(outcome(m, 'joined')).toBe(5);
    });

    it('answers 503 (never 202) to every request whose coalesced signal failed, and counts none of them as accepted', async () => {
      starterBehaviour = 'hang';
      failBatches = true;
      const bodies = sameIncident(6);
      const replies = await Promise.all(bodies.map((b) => post('falco', b)));
      expect(replies.map((r) => r.statusCode)).toEqual([202, 503, 503, 503, 503, 503]);
      for (const r of replies.slice(1)) {
        expect(r.headers['retry-after']).toBe('5');
        expect(r.json()).toMatchObject({ error: 'unavailable' });
      }
      expect(started).toHaveLength(1);
      let m = await metricsText();
      expect(outcome(m, 'started')).toBe(1);
      expect(outcome(m, 'joined')).toBe(0);
      expect(outcome(m, 'unavailable')).toBe(5);
      // The sender retries: now accepted (alone, uncontended) and counted once each.
      failBatches = false;
      starterBehaviour = 'ok';
      for (const b of bodies.slice(1)) expect((await post('falco', b)).statusCode).toBe(202);
      m = await metricsText();
      expect(outcome(m, 'started')).toBe(1);
      expect(outcome(m, 'joined')).toBe(5);
      expect(store.counts().pending).toBe(0);
    });

    it('keeps incidents apart: events of other incidents are not held behind a busy one', async () => {
      starterBehaviour = 'hang';
      const other = JSON.parse(falco.toString()) as { hostname: string };
      other.hostname = 'web-02';
      const replies = await Promise.all(
        [...sameIncident(2), JSON.stringify(other)].map((b) => post('falco', b)),
      );
      expect(replies.map((r) => r.statusCode)).toEqual([202, 202, 202]);
      expect(calls).toEqual([1, 1, 1]);
    });
  });

  describe('senders that cannot sign', () => {
    const withToken = (body: Buffer | string, headers: Record<string, string>, source = 'falco') =>
      app.inject({
        method: 'POST',
        url: `/v1/events/${source}`,
        headers: { 'content-type': 'application/json', ...headers },
        payload: body,
      });

    it.each([
      ['Authorization: Bearer', { authorization: `Bearer ${webToken}` }],
      ['X-Api-Key', { 'x-api-key': webToken }],
      ["Falcosidekick's custom header X-Vigil-Token", { 'x-vigil-token': webToken }],
    ])('accepts a static token in %s', async (_n, headers) => {
      expect((await withToken(falco, headers)).statusCode).toBe(202);
    });

    it('refuses an unknown token with 401 and stores nothing', async () => {
      const r = await withToken(falco, { authorization: 'Bearer not-a-token' });
      expect(r.statusCode).toBe(401);
      expect(store.counts().pending).toBe(0);
    });

    it('binds the token to its hosts: an event for another host is refused (403) and kept', async () => {
      const other = JSON.parse(falco.toString()) as { hostname: string };
      other.hostname = 'db-01';
      const r = await withToken(JSON.stringify(other), { 'x-api-key': webToken });
      expect(r.statusCode).toBe(403);
      expect(r.json<{ error: string }>().error).toBe('host-not-allowed');
      expect(started).toHaveLength(0);
      expect(store.counts().pending).toBe(1);
    });

    it('binds the token to its sources', async () => {
      const r = await withToken(
        '{"time":"2026-11-26T09:00:00Z","host":"web-9","rule":"r","severity":"low"}',
        { 'x-api-key': webToken },
        'generic',
      );
      expect(r.statusCode).toBe(403);
      expect(r.json<{ error: string }>().error).toBe('source-not-allowed');
    });
  });

  it('accepts a document that starts with a UTF-8 byte order mark (RFC 8259 lets a parser ignore it)', async () => {
    const r = await post('falco', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), falco]));
    expect(r.statusCode).toBe(202);
  });

  it('dead-letters a document nested deeper than a payload can carry, rather than answering 503 forever', async () => {
    await app.close();
    app = build({ VIGIL_BODY_LIMIT: '1048576' });
    const deep = `{"time":"2026-11-26T09:00:00Z","host":"web-01","rule":"r","severity":"high","x":${'['.repeat(20_000)}${']'.repeat(20_000)}}`;
    const r = await post('generic', deep);
    expect(r.statusCode).toBe(400);
    const j = r.json<{ error: string; issues: string[]; deadLetterId: number }>();
    expect(j.error).toBe('invalid-event');
    expect(j.issues.join(' ')).toMatch(/nested deeper than \d+ levels/);
    expect(store.get(j.deadLetterId)?.body.toString()).toBe(deep);
    expect(started).toHaveLength(0);
  });

  it('binds a signing key to its hosts too', async () => {
    const r = await post(
      'generic',
      '{"time":"2026-11-26T09:00:00Z","host":"web-01","rule":"r","severity":"low"}',
      { k: narrowKey },
    );
    expect(r.statusCode).toBe(403);
    const ok = await post(
      'generic',
      '{"time":"2026-11-26T09:00:00Z","host":"db-01","rule":"r","severity":"low"}',
      { k: narrowKey },
    );
    expect(ok.statusCode).toBe(202);
  });

  it('rate-limits each sender on its own with 429 and Retry-After', async () => {
    await app.close();
    app = build({ VIGIL_RATE_LIMIT: '1', VIGIL_RATE_BURST: '2' });
    const gen = (i: number) =>
      `{"time":"2026-11-26T09:00:0${i}Z","host":"db-0${i}","rule":"r","severity":"low"}`;
    expect((await post('generic', gen(1))).statusCode).toBe(202);
    expect((await post('generic', gen(2))).statusCode).toBe(202);
    const limited = await post('generic', gen(3));
    expect(limited.statusCode).toBe(429);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    // Another sender is not affected.
    expect((await post('generic', gen(4), { k: narrowKey })).statusCode).toBe(202);
  });

  describe('NDJSON batches', () => {
    const ndjson = (lines: string[], k = key) => {
      const body = `${lines.join('\n')}\n`;
      const path = '/v1/events/generic';
      return app.inject({
        method: 'POST',
        url: path,
        headers: { 'content-type': 'application/x-ndjson', ...signedHeaders(k, 'POST', path, body) },
        payload: body,
      });
    };
    const good = (h: string) => `{"time":"2026-11-26T09:00:00Z","host":"${h}","rule":"r","severity":"high"}`;

    it('accepts every good line with 202 and the incident of each', async () => {
      const r = await ndjson([good('a'), good('b'), good('a')]);
      expect(r.statusCode).toBe(202);
      const j = r.json<{
        accepted: number;
        refused: number;
        results: { index: number; status: number; incidentId: string }[];
      }>();
      expect(j).toMatchObject({ accepted: 3, refused: 0 });
      expect(j.results.map((x) => x.status)).toEqual([202, 202, 202]);
      expect(j.results[0]?.incidentId).toBe(j.results[2]?.incidentId);
      expect(started).toHaveLength(3);
    });

    it('answers 207 and judges each line on its own, dead-lettering the bad ones', async () => {
      const r = await ndjson([
        good('a'),
        '{not json',
        '{"time":"2026-11-26T09:00:00Z","host":"b","rule":"r"}',
        good('c'),
      ]);
      expect(r.statusCode).toBe(207);
      const j = r.json<{
        accepted: number;
        refused: number;
        results: { index: number; status: number; error?: string; deadLetterId?: number }[];
      }>();
      expect(j).toMatchObject({ accepted: 2, refused: 2 });
      expect(j.results.map((x) => [x.index, x.status, x.error])).toEqual([
        [0, 202, undefined],
        [1, 400, 'malformed-json'],
        [2, 400, 'invalid-event'],
        [3, 202, undefined],
      ]);
      expect(store.get(j.results[1]?.deadLetterId ?? 0)?.body.toString()).toBe('{not json');
      expect(started.map((s) => s.event.host.id)).toEqual(['a', 'c']);
    });

    it('sends lines of one incident in shared signals while one is in flight, counting every line', async () => {
      starterBehaviour = 'hang';
      const lines = Array.from(
        { length: 20 },
        (_, i) =>
          `{"time":"2026-11-26T09:00:${String(i).padStart(2, '0')}Z","host":"a","rule":"r","severity":"high"}`,
      );
      const r = await ndjson([...lines, good('b')]);
      expect(r.statusCode).toBe(202);
      expect(r.json<{ accepted: number }>().accepted).toBe(21);
      expect(started).toHaveLength(21);
      expect(calls.length).toBeLessThan(21);
      expect(calls.reduce((a, b) => a + b, 0)).toBe(21);
    });

    it('reads application/json-seq records (RS before each), each with the id of its bytes alone', async () => {
      const body = `\x1e${good('a')}\n\x1e${good('b')}\n`;
      const r = await post('generic', body, { headers: { 'content-type': 'application/json-seq' } });
      expect(r.statusCode).toBe(202);
      const j = r.json<{ accepted: number; results: { eventId: string }[] }>();
      expect(j.accepted).toBe(2);
      const single = (await post('generic', good('a'))).json<{ eventId: string }>();
      expect(j.results[0]?.eventId).toBe(single.eventId);
    });

    it('judges CRLF lines, a BOM, unicode and another host of a mixed batch each on its own', async () => {
      const body = [
        `\ufeff${good('db-01')}`,
        good('web-01'),
        '{"time":"2026-11-26T09:00:00Z","host":"db-ü","rule":"règle 🚨","severity":"high"}',
        '[1,2',
        '',
      ].join('\r\n');
      const r = await post('generic', body, {
        k: narrowKey,
        headers: { 'content-type': 'application/x-ndjson' },
      });
      expect(r.statusCode).toBe(207);
      const j = r.json<{ results: { status: number; error?: string; deadLetterId?: number }[] }>();
      expect(j.results.map((x) => [x.status, x.error])).toEqual([
        [202, undefined],
        [403, 'host-not-allowed'],
        [202, undefined],
        [400, 'malformed-json'],
      ]);
      expect(store.get(j.results[3]?.deadLetterId ?? 0)?.body.toString()).toBe('[1,2');
      expect(started.map((s) => s.event.detection.ruleName)).toEqual(['r', 'règle 🚨']);
    });

    it('gives a line the same event id as the same bytes sent alone', async () => {
      const batch = (await ndjson([good('a')])).json<{ results: { eventId: string }[] }>();
      const single = (await post('generic', good('a'))).json<{ eventId: string }>();
      expect(batch.results[0]?.eventId).toBe(single.eventId);
    });
  });

  describe("osquery's TLS enroll and logger plugins", () => {
    const enroll = (secret: string, host: string) =>
      app.inject({
        method: 'POST',
        url: '/v1/osquery/enroll',
        headers: { 'content-type': 'application/json' },
        payload: JSON.stringify({ enroll_secret: secret, host_identifier: host, platform_type: '9' }),
      });
    const log = (nodeKey: string, data: unknown[], logType = 'result') =>
      app.inject({
        method: 'POST',
        url: '/v1/osquery/log',
        headers: { 'content-type': 'application/json' },
        payload: JSON.stringify({ node_key: nodeKey, log_type: logType, data }),
      });

    it('enrolls a node with the secret and accepts its result logs as incidents', async () => {
      const e = await enroll(enrollSecret, 'web-01');
      expect(e.statusCode).toBe(200);
      const { node_key, node_invalid } = e.json<{ node_key: string; node_invalid: boolean }>();
      expect(node_invalid).toBe(false);
      expect(node_key.length).toBeGreaterThan(30);
      const r = await log(node_key, [osqueryRow]);
      expect(r.statusCode).toBe(200);
      expect(r.json()).toMatchObject({ node_invalid: false, accepted: 1, refused: 0 });
      expect(started.map((x) => [x.event.source, x.event.host.id])).toEqual([['osquery', 'web-01']]);
      // Status logs are osquery's own health: acknowledged, not incidents.
      expect((await log(node_key, [{ s: 0, f: 'events.cpp', l: 1, m: 'hi' }], 'status')).json()).toEqual({
        node_invalid: false,
      });
      expect(started).toHaveLength(1);
    });

    it('treats a counter 0 result set as state: acknowledged, no incident', async () => {
      const { node_key } = (await enroll(enrollSecret, 'web-02')).json<{ node_key: string }>();
      const r = await log(node_key, [{ ...osqueryRow, hostIdentifier: 'web-02', counter: 0 }]);
      expect(r.json()).toMatchObject({ accepted: 1 });
      expect(started).toHaveLength(0);
    });

    it('refuses a wrong enroll secret, and a host the secret is not bound to', async () => {
      expect((await enroll('wrong', 'web-01')).json()).toMatchObject({ node_invalid: true });
      const r = await enroll(enrollSecret, 'db-01');
      expect(r.statusCode).toBe(403);
      expect(r.json()).toMatchObject({ node_invalid: true });
    });

    it('binds a node key to the host it enrolled as: rows about another host are dead-lettered', async () => {
      const { node_key } = (await enroll(enrollSecret, 'web-01')).json<{ node_key: string }>();
      const r = await log(node_key, [{ ...osqueryRow, hostIdentifier: 'web-02' }]);
      expect(r.json()).toMatchObject({ accepted: 0, refused: 1 });
      expect(started).toHaveLength(0);
      expect(store.list()[0]).toMatchObject({ reason: 'host-not-allowed', keyId: 'osquery-node:web-01' });
    });

    it('answers node_invalid to an unknown or replaced node key so osquery re-enrolls', async () => {
      const first = (await enroll(enrollSecret, 'web-01')).json<{ node_key: string }>().node_key;
      const second = (await enroll(enrollSecret, 'web-01')).json<{ node_key: string }>().node_key;
      expect((await log(first, [osqueryRow])).json()).toEqual({ node_invalid: true });
      expect((await log('made-up', [osqueryRow])).json()).toEqual({ node_invalid: true });
      expect((await log(second, [osqueryRow])).json()).toMatchObject({ node_invalid: false, accepted: 1 });
    });

    it('dead-letters a result nested too deep and accepts the rest of the batch', async () => {
      await app.close();
      app = build({ VIGIL_BODY_LIMIT: '1048576' });
      const { node_key } = (await enroll(enrollSecret, 'web-01')).json<{ node_key: string }>();
      // Built as text: the test's own JSON.stringify could not write it either.
      const row = JSON.stringify(osqueryRow);
      const deepRow = `${row.slice(0, -1)},"extra":${'['.repeat(20_000)}${']'.repeat(20_000)}}`;
      const r = await app.inject({
        method: 'POST',
        url: '/v1/osquery/log',
        headers: { 'content-type': 'application/json' },
        payload: `{"node_key":"${node_key}","log_type":"result","data":[${deepRow},${row}]}`,
      });
      expect(r.statusCode).toBe(200);
      expect(r.json()).toMatchObject({ node_invalid: false, accepted: 1, refused: 1 });
      expect(store.list()[0]).toMatchObject({ reason: 'invalid-event' });
      expect(started).toHaveLength(1);
    });

    it('answers 503 when Temporal is away so osquery keeps and resends the batch', async () => {
      const { node_key } = (await enroll(enrollSecret, 'web-01')).json<{ node_key: string }>();
      starterBehaviour = 'fail';
      const r = await log(node_key, [osqueryRow]);
      expect(r.statusCode).toBe(503);
      expect(r.headers['retry-after']).toBe('5');
    });
  });

  describe('compressed bodies (Content-Encoding)', () => {
    const good = (h: string) => `{"time":"2026-11-26T09:00:00Z","host":"${h}","rule":"r","severity":"high"}`;
    /** Signed over the bytes as sent, i.e. the compressed ones. */
    const postCompressed = (
      source: string,
      sent: Buffer,
      encoding: string,
      contentType = 'application/json',
      k = key,
    ) => {
      const path = `/v1/events/${source}`;
      return app.inject({
        method: 'POST',
        url: path,
        headers: {
          'content-type': contentType,
          'content-encoding': encoding,
          ...signedHeaders(k, 'POST', path, sent),
        },
        payload: sent,
      });
    };

    it('accepts a gzip NDJSON batch, each line with the event id of its bytes sent alone', async () => {
      const r = await postCompressed(
        'generic',
        gzipSync(`${good('a')}\n${good('b')}\n`),
        'gzip',
        'application/x-ndjson',
      );
      expect(r.statusCode).toBe(202);
      const j = r.json<{ accepted: number; results: { eventId: string }[] }>();
      expect(j.accepted).toBe(2);
      expect(started.map((x) => x.event.host.id)).toEqual(['a', 'b']);
      const plain = (await post('generic', good('a'))).json<{ eventId: string }>();
      expect(j.results[0]?.eventId).toBe(plain.eventId);
    });

    it('accepts a raw-deflate and a zlib-wrapped deflate document, and x-gzip', async () => {
      expect((await postCompressed('falco', deflateRawSync(falco), 'deflate')).statusCode).toBe(202);
      expect((await postCompressed('generic', deflateSync(good('c')), 'Deflate')).statusCode).toBe(202);
      expect((await postCompressed('generic', gzipSync(good('d')), 'x-gzip')).statusCode).toBe(202);
      expect(started.map((x) => x.event.host.id)).toEqual(['web-01', 'c', 'd']);
    });

    it('refuses a signature over the uncompressed bytes of a compressed body', async () => {
      const path = '/v1/events/generic';
      const r = await app.inject({
        method: 'POST',
        url: path,
        headers: {
          'content-type': 'application/json',
          'content-encoding': 'gzip',
          ...signedHeaders(key, 'POST', path, good('a')),
        },
        payload: gzipSync(good('a')),
      });
      expect(r.statusCode).toBe(401);
      expect(started).toHaveLength(0);
    });

    it('keeps the inflated document, not the compressed bytes, as the dead letter of an invalid event', async () => {
      const bad = '{"time":"2026-11-26T09:00:00Z","host":"b","rule":"r"}';
      const r = await postCompressed('generic', gzipSync(bad), 'gzip');
      expect(r.statusCode).toBe(400);
      const j = r.json<{ error: string; deadLetterId: number }>();
      expect(j.error).toBe('invalid-event');
      expect(store.get(j.deadLetterId)?.body.toString()).toBe(bad);
    });

    it('answers a zip bomb 413 quickly, inflating no more than about the body limit', async () => {
      await app.close();
      app = build({ VIGIL_BODY_LIMIT: '1048576' });
      // 50 MB of zeros as 50 gzip members of 1 MB (one stream to a reader), ~50 KB: under the limit as
      // sent, far over it inflated. Built without holding 50 MB, so the measure below is the intake's.
      const bomb = Buffer.concat(Array<Buffer>(50).fill(gzipSync(Buffer.alloc(1024 * 1024), { level: 9 })));
      expect(bomb.length).toBeLessThan(100 * 1024);
      const before = process.memoryUsage().arrayBuffers;
      const t0 = performance.now();
      const r = await postCompressed('generic', bomb, 'gzip');
      const ms = performance.now() - t0;
      const grownMb = (process.memoryUsage().arrayBuffers - before) / 1024 / 1024;
      expect(r.statusCode).toBe(413);
      expect(r.json()).toMatchObject({ error: 'payload too large', limit: 1048576 });
      expect(ms).toBeLessThan(1000);
      // Inflating it all holds 50 MB (twice, while joining); the bounded inflater stops after about 1 MB.
      expect(grownMb).toBeLessThan(20);
      expect(store.counts().pending).toBe(0);
      expect(started).toHaveLength(0);
    });

    it('answers an unknown Content-Encoding 415 with the codings it reads, before authenticating', async () => {
      const r = await postCompressed('generic', Buffer.from(good('a')), 'br');
      expect(r.statusCode).toBe(415);
      expect(r.headers['accept-encoding']).toBe('gzip, deflate');
      expect(r.json<{ error: string; reason: string }>()).toMatchObject({
        error: 'unsupported-content-encoding',
        reason: expect.stringMatching(/"br" is not supported/) as unknown,
      });
      expect((await postCompressed('generic', gzipSync(gzipSync(good('a'))), 'gzip, gzip')).statusCode).toBe(
        415,
      );
      expect(store.counts().pending).toBe(0);
    });

    it('answers a corrupt gzip stream 400 and dead-letters it as sent, with the reason', async () => {
      const whole = gzipSync(good('a'));
      for (const sent of [Buffer.from('not gzip at all'), whole.subarray(0, whole.length - 6)]) {
        const r = await postCompressed('generic', sent, 'gzip');
        expect(r.statusCode).toBe(400);
        const j = r.json<{ error: string; issues: string[]; deadLetterId: number }>();
        expect(j.error).toBe('malformed-encoding');
        expect(j.issues.join(' ')).toMatch(/not valid gzip/);
        const d = store.get(j.deadLetterId);
        expect(d).toMatchObject({ reason: 'malformed-encoding', keyId: key.id, source: 'generic' });
        expect(d?.body.equals(sent)).toBe(true);
      }
      expect(started).toHaveLength(0);
      // A retry cannot inflate them either: refused, not re-judged as JSON.
      const [first] = store.list();
      const retry = await app.inject({
        method: 'POST',
        url: `/v1/admin/dlq/${first?.id ?? 0}/retry`,
        headers: { authorization: `Bearer ${adminToken}` },
      });
      expect(retry.statusCode).toBe(422);
      expect(retry.json()).toMatchObject({ error: 'malformed-encoding' });
    });

    it("accepts osquery's gzip log post (--logger_tls_compress) and answers a corrupt one 400", async () => {
      const e = await app.inject({
        method: 'POST',
        url: '/v1/osquery/enroll',
        headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
        payload: gzipSync(JSON.stringify({ enroll_secret: enrollSecret, host_identifier: 'web-01' })),
      });
      const { node_key } = e.json<{ node_key: string }>();
      const log = (payload: Buffer) =>
        app.inject({
          method: 'POST',
          url: '/v1/osquery/log',
          headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
          payload,
        });
      const sent = gzipSync(JSON.stringify({ node_key, log_type: 'result', data: [osqueryRow] }), {
        level: 9,
      });
      const r = await log(sent);
      expect(r.statusCode).toBe(200);
      expect(r.json()).toMatchObject({ node_invalid: false, accepted: 1, refused: 0 });
      expect(started.map((x) => [x.event.source, x.event.host.id])).toEqual([['osquery', 'web-01']]);
      const corrupt = await log(sent.subarray(0, 20));
      expect(corrupt.statusCode).toBe(400);
      expect(corrupt.json()).toMatchObject({ error: 'malformed-encoding', node_invalid: false });
      expect(started).toHaveLength(1);
    });
  });
});
