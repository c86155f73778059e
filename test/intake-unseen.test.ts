/**
 * The intake on the run's real Temporal server (no worker needed: an accepted event is a signalWithStart),
 * fed documents the fixtures do not hold, with right and wrong credentials: every answer is the documented
 * one, and every authenticated event is started or dead-lettered with its reason, none lost.
 */
import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { signedHeaders } from '../src/signing.js';
import { startIntake, TEST_KEY } from './helpers/intake.js';
import { testClient, uniqueQueue } from './helpers/temporal.js';

const HOST_A_KEY = { id: 'host-a-only', secret: 'a'.repeat(48) };

let client: Client;
let closeClient: () => Promise<void>;
let intake: Awaited<ReturnType<typeof startIntake>>;

beforeAll(async () => {
  ({ client, close: closeClient } = await testClient());
  intake = await startIntake(client, uniqueQueue('intake-unseen'), {
    VIGIL_INTAKE_KEYS: JSON.stringify([
      { ...TEST_KEY, hosts: ['*'] },
      { ...HOST_A_KEY, sources: ['falco', 'generic'], hosts: ['host-a'] },
    ]),
    VIGIL_BODY_LIMIT: '131072',
  });
});
afterAll(async () => {
  await intake.close();
  await closeClient();
});

async function post(
  source: string,
  body: string,
  opts: { k?: typeof TEST_KEY; skewMs?: number; contentType?: string; headers?: Record<string, string> } = {},
) {
  const path = `/v1/events/${source}`;
  const res = await fetch(`${intake.url}${path}`, {
    method: 'POST',
    headers: {
      'content-type': opts.contentType ?? 'application/json',
      ...signedHeaders(opts.k ?? TEST_KEY, 'POST', path, body, Date.now() + (opts.skewMs ?? 0)),
      ...opts.headers,
    },
    body,
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

const run = randomUUID().slice(0, 8);
const falco = (host: string) =>
  JSON.stringify({
    hostname: host,
    output: 'A shell was spawned in a container with an attached terminal',
    output_fields: {
      'container.id': '3ad7b26ded6d',
      'container.image.repository': 'docker.io/library/nginx',
      'k8s.ns.name': 'shop',
      'proc.pid': 23817,
      'proc.exepath': '/usr/bin/bash',
      'user.name': 'root',
    },
    priority: 'Notice',
    rule: `Terminal shell in container ${run}`,
    source: 'syscall',
    tags: ['T1059', 'mitre_execution'],
    time: '2026-11-27T09:12:44.123456789Z',
  });

it('answers each request as documented and keeps every refused event with its reason', async () => {
  const dead = () => intake.deadLetters.counts().pending;

  expect((await post('falco', falco(`host-a`), { k: HOST_A_KEY })).status).toBe(202);

  // Authentication: wrong secret, stale and future timestamps, unknown key: 401, nothing stored.
  const wrong = { id: TEST_KEY.id, secret: 'x'.repeat(48) };
  expect((await post('falco', falco('host-a'), { k: wrong })).status).toBe(401);
  expect((await post('falco', falco('host-a'), { skewMs: -400_000 })).status).toBe(401);
  expect((await post('falco', falco('host-a'), { skewMs: 400_000 })).status).toBe(401);
  expect((await post('falco', falco('host-a'), { k: { id: 'nobody', secret: 'n'.repeat(48) } })).status).toBe(
    401,
  );
  expect(dead()).toBe(0);

  // A key bound to host-a reporting on host-b: 403, dead-lettered with the reason.
  const foreign = await post('falco', falco('host-b'), { k: HOST_A_KEY });
  expect(foreign.status).toBe(403);
  expect(foreign.body.error).toBe('host-not-allowed');
  expect(intake.deadLetters.get(foreign.body.deadLetterId as number)).toMatchObject({
    reason: 'host-not-allowed',
    keyId: HOST_A_KEY.id,
  });

  // Over the body limit: 413, not stored.
  expect((await post('generic', `{"x":"${'y'.repeat(140_000)}"}`)).status).toBe(413);
  expect(dead()).toBe(1);

  // A mixed NDJSON batch: good, malformed, invalid, good (CRLF).
  const good = (h: string) =>
    `{"time":"2026-11-27T09:00:00Z","host":"${h}","rule":"r-${run}","severity":"high"}`;
  const batch = await post(
    'generic',
    [good('host-a'), '{"time":', '{"host":"x"}', good('host-c'), ''].join('\r\n'),
    {
      contentType: 'application/x-ndjson',
    },
  );
  expect(batch.status).toBe(207);
  const results = batch.body.results as { status: number; error?: string; deadLetterId?: number }[];
  expect(results.map((r) => [r.status, r.error])).toEqual([
    [202, undefined],
    [400, 'malformed-json'],
    [400, 'invalid-event'],
    [202, undefined],
  ]);
  expect(intake.deadLetters.get(results[1]!.deadLetterId!)?.body.toString()).toBe('{"time":');
  expect(intake.deadLetters.get(results[2]!.deadLetterId!)?.issues.join(' ')).toMatch(/time/);
  expect(dead()).toBe(3);

  // Nested deeper than JSON.stringify can write: Temporal's payload converter would refuse it on every
  // delivery (503 forever); it is refused once, with the reason, and kept.
  const deep = `{"time":"2026-11-27T09:00:00Z","host":"host-a","rule":"deep-${run}","severity":"high","x":${'['.repeat(20_000)}${']'.repeat(20_000)}}`;
  const d = await post('generic', deep);
  expect(d.status).toBe(400);
  expect(intake.deadLetters.get(d.body.deadLetterId as number)?.body.toString()).toBe(deep);
  expect(dead()).toBe(4);

  // Conservation: 3 started, 4 dead-lettered.
  expect(await intake.metric('vigil_intake_events_total', { outcome: 'started' })).toBe(3);
  expect(await intake.metric('vigil_intake_events_total', { outcome: 'dead_lettered' })).toBe(4);
  expect(await intake.metric('vigil_intake_events_total', { outcome: 'unavailable' })).toBe(0);
});
