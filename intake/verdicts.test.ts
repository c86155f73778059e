/**
 * Verdicts: the SQLite store (durable, idempotent, history kept), the rates per model and per rule, the
 * labelled export, the Prometheus gauges, and the HTTP API for authenticated operators (real operator
 * store and tokens; the incident lookup is our own interface, answered from a table here; test/verdict.test.ts
 * runs the same against real incidents on Temporal).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import Fastify, { type FastifyInstance } from 'fastify';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AesGcmCodec, newCodecKey, parseCodecKeys } from '../src/codec/aes-gcm.js';
import type { IncidentStatus } from '../src/contracts/incident.js';
import { OperatorStore } from './operators.js';
import { registerVerdictMetrics, registerVerdictRoutes, subjectOf, VerdictStore } from './verdicts.js';

const SHA_A = 'a'.repeat(64);
const SHA_S = 'b'.repeat(64);
const window = Array.from({ length: 30 }, (_, i) => ['read', 'write', 'socket', 'connect', 'dup2'][i % 5]!);

function incident(
  id: string,
  o: {
    rule?: string;
    verdict?: 'benign' | 'suspicious' | 'malicious';
    score?: number;
    shadow?: number;
    syscalls?: boolean;
  },
): IncidentStatus {
  const ev = { telemetry: o.syscalls === false ? undefined : { syscalls: window } } as unknown;
  return {
    incidentId: id,
    correlationKey: id,
    status: 'closed',
    stage: 'closed',
    host: 'web-1',
    severity: 'medium',
    rule: o.rule ?? 'Odd shell',
    techniques: [],
    eventCount: 1,
    firstSeen: '2026-11-26T09:00:00Z',
    lastSeen: '2026-11-26T09:00:00Z',
    evidence: [ev as IncidentStatus['evidence'][number]],
    verdict: o.verdict ?? 'malicious',
    riskScore: 70,
    decisions:
      o.score === undefined
        ? []
        : [
            {
              at: '2026-11-26T09:00:01Z',
              kind: 'score',
              by: 'syscall-anomaly',
              version: `1.0.0 sha256:${SHA_A}`,
              verdict: 'malicious',
              riskScore: Math.round(o.score * 100),
              reasons: [],
              actions: [],
              inputs: {
                calls: 30,
                score: o.score,
                threshold: 0.5,
                ...(o.shadow === undefined
                  ? {}
                  : {
                      shadow: {
                        modelId: 'syscall-anomaly',
                        version: '2.0.0',
                        sha256: SHA_S,
                        score: o.shadow,
                        threshold: 0.4,
                        aboveThreshold: o.shadow >= 0.4,
                        disagrees: false,
                      },
                    }),
              },
            },
          ],
    actions: [],
    timeline: [],
  };
}

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'vigil-verdicts-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('VerdictStore', () => {
  it('keeps a snapshot of the judged incident: rule, engine verdict, model and shadow scores, the window', () => {
    const s = subjectOf(incident('i1', { score: 0.7, shadow: 0.2 }));
    expect(s).toMatchObject({
      rule: 'Odd shell',
      engineVerdict: 'malicious',
      model: { id: 'syscall-anomaly', version: '1.0.0', sha256: SHA_A, score: 0.7, threshold: 0.5 },
      shadow: { version: '2.0.0', sha256: SHA_S, score: 0.2, threshold: 0.4 },
    });
    expect(s.syscalls).toEqual(window);
    expect(subjectOf(incident('i2', { syscalls: false })).syscalls).toBeNull();
  });

  it('records once, changes with history, and survives a reopen of the file', () => {
    const file = join(tmp, 'store.db');
    const store = new VerdictStore(file);
    const subj = subjectOf(incident('i1', { score: 0.7 }));
    expect(store.record('i1', 'fp', 'alice', subj, 'backup job').changed).toBe(true);
    // A retried request records nothing twice.
    expect(store.record('i1', 'fp', 'alice', subj).changed).toBe(false);
    const changed = store.record('i1', 'tp', 'bob', subj, 'actually exfiltration');
    expect(changed).toMatchObject({ changed: true, previous: 'fp' });
    store.close();
    const again = new VerdictStore(file);
    expect(again.get('i1')).toMatchObject({ verdict: 'tp', operator: 'bob', note: 'actually exfiltration' });
    expect(again.history('i1').map((h) => `${h.verdict}:${h.operator}`)).toEqual(['fp:alice', 'tp:bob']);
    again.close();
  });

  it('seals the snapshot (syscall window, host, scores) at rest with the payload key, and reads it back', () => {
    const file = join(tmp, 'sealed.db');
    const keys = parseCodecKeys(newCodecKey('vk1'));
    const store = new VerdictStore(file, new AesGcmCodec(keys.active, keys.older));
    try {
      // A row written before keys were configured stays readable beside sealed ones.
      const clear = new VerdictStore(file);
      clear.record('old', 'fp', 'alice', subjectOf(incident('old', { score: 0.7 })));
      clear.close();
      store.record('i1', 'tp', 'bob', subjectOf(incident('i1', { score: 0.7 })));
      expect(store.get('i1')?.syscalls).toEqual(window);
      expect(store.get('old')?.verdict).toBe('fp');
      expect(
        store
          .exportLabelled()
          .traces.map((t) => t.id)
          .sort(),
      ).toEqual(['vigil/i1', 'vigil/old']);
      // On disk: the new row is ciphertext under key vk1, the older one JSON.
      const db = new Database(file, { readonly: true });
      const rows = db.prepare('SELECT incident_id, subject, subject_key_id FROM verdicts').all() as {
        incident_id: string;
        subject: string | Buffer;
        subject_key_id: string | null;
      }[];
      db.close();
      const sealed = rows.find((r) => r.incident_id === 'i1')!;
      expect(sealed.subject_key_id).toBe('vk1');
      expect(Buffer.isBuffer(sealed.subject) && !sealed.subject.includes(Buffer.from('read'))).toBe(true);
      expect(rows.find((r) => r.incident_id === 'old')?.subject).toContain('"syscalls":["read"');
      const sealedRow = new VerdictStore(file);
      try {
        expect(() => sealedRow.get('i1')).toThrow(/sealed with key vk1/);
        // Without the key the rates still come out, from the rows that can be read; the other is counted.
        expect(sealedRow.stats()).toMatchObject({ verdicts: 1, fp: 1, tp: 0, unreadable: 1 });
      } finally {
        sealedRow.close();
      }
    } finally {
      store.close();
    }
  });

  it('computes false-positive and false-negative rates per model (active and shadow) and per rule', () => {
    const store = new VerdictStore(join(tmp, 'rates.db'));
    const put = (id: string, v: 'tp' | 'fp', o: Parameters<typeof incident>[1]) =>
      store.record(id, v, 'alice', subjectOf(incident(id, o)));
    put('a', 'tp', { score: 0.9, shadow: 0.9 }); // active tp, shadow tp
    put('b', 'fp', { score: 0.8, shadow: 0.1 }); // active fp, shadow tn
    put('c', 'fp', { score: 0.2, shadow: 0.5 }); // active tn, shadow fp
    put('d', 'tp', { score: 0.3, shadow: 0.45, verdict: 'benign' }); // active fn, shadow tp; engine missed it
    put('e', 'fp', { rule: 'Cron noise', score: 0.1 }); // active tn
    put('f', 'tp', { rule: 'Cron noise' }); // no model score
    const s = store.stats();
    expect(s).toMatchObject({ verdicts: 6, tp: 3, fp: 3 });
    const active = s.byModel.find((m) => m.role === 'active')!;
    expect(active).toMatchObject({
      model: 'syscall-anomaly@1.0.0',
      sha256: SHA_A,
      verdicts: 5,
      tp: 1,
      fp: 1,
      tn: 2,
      fn: 1,
    });
    expect(active.falsePositiveRate).toBeCloseTo(1 / 3, 12);
    expect(active.falseNegativeRate).toBe(0.5);
    expect(active.falseDiscoveryRate).toBe(0.5);
    const shadow = s.byModel.find((m) => m.role === 'shadow')!;
    expect(shadow).toMatchObject({ model: 'syscall-anomaly@2.0.0', tp: 2, fp: 1, tn: 1, fn: 0 });
    expect(shadow.falsePositiveRate).toBe(0.5);
    expect(shadow.falseNegativeRate).toBe(0);
    const odd = s.byRule.find((r) => r.rule === 'Odd shell')!;
    expect(odd).toMatchObject({ verdicts: 4, tp: 2, fp: 2, fpShare: 0.5, missedByEngine: 1 });
    expect(s.byRule.find((r) => r.rule === 'Cron noise')).toMatchObject({ tp: 1, fp: 1, fpShare: 0.5 });
    store.close();
  });

  it('exports the judged windows as ADFA-LD labelled traces (tp -> attack typed by rule, fp -> normal)', () => {
    const store = new VerdictStore(join(tmp, 'export.db'));
    store.record('x1', 'tp', 'alice', subjectOf(incident('x1', { score: 0.9 })));
    store.record('x2', 'fp', 'alice', subjectOf(incident('x2', { score: 0.9 })));
    store.record('x3', 'fp', 'alice', subjectOf(incident('x3', { syscalls: false })));
    const { traces, withoutWindow } = store.exportLabelled();
    expect(withoutWindow).toBe(1);
    expect(traces).toEqual([
      { id: 'vigil/x1', label: 'attack', attack_type: 'Odd shell', syscalls: window },
      { id: 'vigil/x2', label: 'normal', attack_type: null, syscalls: window },
    ]);
    store.close();
  });

  it('exposes the rates as Prometheus gauges read from the store at scrape time', async () => {
    const store = new VerdictStore(join(tmp, 'metrics.db'));
    const registry = new Registry();
    registerVerdictMetrics(registry, store);
    store.record('m1', 'fp', 'alice', subjectOf(incident('m1', { score: 0.9 })));
    store.record('m2', 'fp', 'alice', subjectOf(incident('m2', { score: 0.1 })));
    store.record('m3', 'tp', 'alice', subjectOf(incident('m3', { score: 0.1 })));
    const text = await registry.metrics();
    expect(text).toContain(
      'vigil_verdict_false_positive_rate{scope="model",name="syscall-anomaly@1.0.0",role="active"} 0.5',
    );
    expect(text).toContain(
      'vigil_verdict_false_negative_rate{scope="model",name="syscall-anomaly@1.0.0",role="active"} 1',
    );
    expect(text).toContain(
      'vigil_verdict_false_positive_rate{scope="rule",name="Odd shell",role=""} 0.6666666666666666',
    );
    expect(text).toContain(
      'vigil_verdicts{scope="model",name="syscall-anomaly@1.0.0",role="active",outcome="fn"} 1',
    );
    store.close();
  });
});

describe('verdict HTTP API', () => {
  let app: FastifyInstance;
  let store: VerdictStore;
  let operators: OperatorStore;
  let analyst: string;
  let lead: string;
  const incidents = new Map<string, IncidentStatus>([
    ['inc-1', incident('inc-1', { score: 0.8 })],
    ['inc-2', incident('inc-2', { score: 0.1 })],
  ]);
  let engineDown = false;

  beforeAll(async () => {
    const db = join(tmp, 'http.db');
    operators = new OperatorStore(db);
    store = new VerdictStore(db);
    analyst = operators.add('ana', 'analyst').token;
    lead = operators.add('lee', 'lead').token;
    app = Fastify();
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', { parseAs: 'buffer' }, (_r, body, done) => done(null, body));
    registerVerdictRoutes(app, {
      operators,
      verdicts: store,
      incidentStatus: async (id) => {
        if (engineDown) throw new Error('deadline exceeded');
        return incidents.get(id);
      },
    });
    await app.ready();
  });
  afterAll(async () => {
    await app.close();
    store.close();
    operators.close();
  });

  const post = (id: string, body: unknown, token?: string) =>
    app.inject({
      method: 'POST',
      url: `/v1/incidents/${id}/verdict`,
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      payload: JSON.stringify(body),
    });

  it('refuses a caller without an operator token, and records nothing', async () => {
    expect((await post('inc-1', { verdict: 'fp' })).statusCode).toBe(401);
    expect((await post('inc-1', { verdict: 'fp' }, 'vop_ana.forgedforgedforgedforged')).statusCode).toBe(401);
    expect(store.get('inc-1')).toBeUndefined();
  });

  it('lists what is wrong with a bad request', async () => {
    const r = await post('inc-1', { verdict: 'maybe', extra: 1 }, analyst);
    expect(r.statusCode).toBe(400);
    const issues = r.json<{ issues: string[] }>().issues.join('\n');
    expect(issues).toMatch(/verdict/);
    expect(issues).toMatch(/extra/);
  });

  it('answers 404 for an unknown incident and 503 with Retry-After when the engine does not answer', async () => {
    expect((await post('nope', { verdict: 'tp' }, analyst)).statusCode).toBe(404);
    engineDown = true;
    const r = await post('inc-1', { verdict: 'tp' }, analyst);
    engineDown = false;
    expect(r.statusCode).toBe(503);
    expect(r.headers['retry-after']).toBe('5');
    expect(store.get('inc-1')).toBeUndefined();
  });

  it('records an analyst verdict with its author, and lets only a lead or admin export', async () => {
    const r = await post('inc-1', { verdict: 'fp', note: 'nightly backup' }, analyst);
    expect(r.statusCode).toBe(200);
    expect(r.json()).toMatchObject({
      incidentId: 'inc-1',
      verdict: 'fp',
      operator: 'ana',
      changed: true,
      window: 30,
    });
    expect((await post('inc-1', { verdict: 'fp', note: 'nightly backup' }, analyst)).json()).toMatchObject({
      changed: false,
    });
    const stats = await app.inject({
      url: '/v1/verdicts/stats',
      headers: { authorization: `Bearer ${analyst}` },
    });
    expect(stats.json()).toMatchObject({ verdicts: 1, fp: 1 });
    const denied = await app.inject({
      url: '/v1/verdicts/export',
      headers: { authorization: `Bearer ${analyst}` },
    });
    expect(denied.statusCode).toBe(403);
    const exp = await app.inject({
      url: '/v1/verdicts/export',
      headers: { authorization: `Bearer ${lead}` },
    });
    expect(exp.json()).toMatchObject({ traces: [{ id: 'vigil/inc-1', label: 'normal' }], withoutWindow: 0 });
  });
});
