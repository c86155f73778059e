/**
 * Property-based fuzzing of the intake (fast-check, bounded in time): arbitrary bodies, sources, batch
 * lines and headers never crash it or produce a 5xx; every answer is one of the documented codes; memory
 * stays bounded. The starter is our own interface, faked.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signedHeaders } from '../src/signing.js';
import { loadIntakeConfig } from './config.js';
import { DeadLetterStore } from './dead-letter.js';
import { createIntakeMetrics } from './metrics.js';
import { OsqueryNodeStore } from './osquery-nodes.js';
import { buildIntake } from './server.js';

const key = { id: 'fuzz', secret: 'f'.repeat(40) };
const dir = mkdtempSync(join(tmpdir(), 'vigil-fuzz-'));
const store = new DeadLetterStore(join(dir, 'intake.db'));
const nodes = new OsqueryNodeStore(join(dir, 'intake.db'));
const app = buildIntake({
  config: loadIntakeConfig({
    VIGIL_INTAKE_KEYS: JSON.stringify([{ ...key, hosts: ['*'] }]),
    VIGIL_ADMIN_TOKEN_SHA256: createHash('sha256').update('admin').digest('hex'),
    VIGIL_OSQUERY_ENROLL_SECRETS: JSON.stringify([
      { id: 'enroll', sha256: createHash('sha256').update('enroll-secret').digest('hex'), hosts: ['*'] },
    ]),
    VIGIL_BODY_LIMIT: '65536',
    VIGIL_RATE_LIMIT: '1000000',
    VIGIL_RATE_BURST: '1000000',
  }),
  deadLetters: store,
  nodes,
  starter: {
    start: async (incidentId) => ({ runId: `r-${incidentId}`, started: true }),
    startMany: async (incidentId) => ({ runId: `r-${incidentId}`, started: true }),
  },
  metrics: createIntakeMetrics(() => 0),
  ready: async () => true,
});
beforeAll(async () => app.ready());
afterAll(async () => {
  await app.close();
  store.close();
  nodes.close();
  rmSync(dir, { recursive: true, force: true });
});

const SOURCES = ['falco', 'generic', 'osquery', 'ocsf', 'ecs', 'nope', '%2e%2e', 'a'.repeat(300)];
// 414: a path parameter over fastify's maxParamLength (100 characters), e.g. a 300-character source name.
const DOCUMENTED = new Set([200, 202, 207, 400, 401, 403, 404, 413, 414, 429]);
const opts = { numRuns: 400, interruptAfterTimeLimit: 4000 };

const body = fc.oneof(
  fc.jsonValue().map((v) => JSON.stringify(v)),
  fc.string(),
  fc.uint8Array({ maxLength: 512 }).map((b) => Buffer.from(b).toString('latin1')),
  fc
    .record({
      time: fc.string(),
      host: fc.jsonValue(),
      rule: fc.jsonValue(),
      severity: fc.jsonValue(),
      process: fc.jsonValue(),
    })
    .map((v) => JSON.stringify(v)),
);

describe('intake fuzzing', () => {
  it('answers every signed body on every source with a documented 2xx/4xx, never a 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...SOURCES), body, fc.boolean(), async (source, b, ndjson) => {
        const path = `/v1/events/${source}`;
        const res = await app.inject({
          method: 'POST',
          url: path,
          headers: {
            'content-type': ndjson ? 'application/x-ndjson' : 'application/json',
            ...signedHeaders(key, 'POST', path, b),
          },
          payload: b,
        });
        expect(DOCUMENTED.has(res.statusCode), `status ${res.statusCode}`).toBe(true);
      }),
      opts,
    );
  });

  it('refuses arbitrary credentials with 401 and stores nothing', async () => {
    const before = store.counts().pending;
    await fc.assert(
      fc.asyncProperty(
        fc.dictionary(
          fc.constantFrom(
            'x-vigil-key-id',
            'x-vigil-timestamp',
            'x-vigil-signature',
            'authorization',
            'x-api-key',
            'x-vigil-token',
          ),
          fc.string({ minLength: 1, maxLength: 80 }).filter((s) => /^[\x21-\x7e]+$/.test(s)),
        ),
        body,
        async (headers, b) => {
          const res = await app.inject({
            method: 'POST',
            url: '/v1/events/generic',
            headers: { 'content-type': 'application/json', ...headers },
            payload: b,
          });
          expect(res.statusCode).toBe(401);
        },
      ),
      opts,
    );
    expect(store.counts().pending).toBe(before);
  });

  it('answers arbitrary osquery enroll and log bodies without a 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('/v1/osquery/enroll', '/v1/osquery/log'),
        fc.oneof(
          body,
          fc
            .record({
              enroll_secret: fc.constantFrom('enroll-secret', 'x'),
              host_identifier: fc.jsonValue(),
              node_key: fc.string(),
              log_type: fc.constantFrom('result', 'status'),
              data: fc.array(fc.jsonValue(), { maxLength: 5 }),
            })
            .map((v) => JSON.stringify(v)),
        ),
        async (url, b) => {
          const res = await app.inject({
            method: 'POST',
            url,
            headers: { 'content-type': 'application/json' },
            payload: b,
          });
          expect(res.statusCode).toBeLessThan(500);
        },
      ),
      opts,
    );
  });

  it('keeps memory bounded over thousands of hostile requests', async () => {
    const before = process.memoryUsage().heapUsed;
    const big = JSON.stringify({
      time: '2026-11-26T09:00:00Z',
      host: 'h',
      rule: 'r',
      severity: 'low',
      message: 'x'.repeat(8000),
    });
    for (let i = 0; i < 3000; i++) {
      const b = i % 3 === 0 ? big : i % 3 === 1 ? '{"broken": ' : 'x'.repeat(70_000);
      const path = '/v1/events/generic';
      const res = await app.inject({
        method: 'POST',
        url: path,
        headers: { 'content-type': 'application/json', ...signedHeaders(key, 'POST', path, b) },
        payload: b,
      });
      expect(res.statusCode).toBeLessThan(500);
    }
    const growthMb = (process.memoryUsage().heapUsed - before) / 1024 / 1024;
    expect(growthMb).toBeLessThan(150);
  });
});
