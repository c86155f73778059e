/**
 * The storm: 10,000 events over 1,000 correlation keys, 5% malformed, 1% badly signed, sent as fast as
 * the intake takes them (32 in flight, retrying 429/503 after Retry-After as a real sender does), into
 * the real intake and the run's real Temporal server. Exactly 1,000 incidents; every malformed event is
 * a dead letter; every badly signed one is refused; no 5xx that was not a retry signal; nothing lost.
 * (No worker polls this test's task queue: what is proven here is what the intake and Temporal accept.)
 */
import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { signedHeaders } from '../src/signing.js';
import { startIntake, TEST_KEY } from './helpers/intake.js';
import { testClient, uniqueQueue } from './helpers/temporal.js';

const EVENTS = 10_000;
const KEYS = 1_000;
const CONCURRENCY = 32;

let client: Client;
let closeClient: () => Promise<void>;
let intake: Awaited<ReturnType<typeof startIntake>>;

beforeAll(async () => {
  ({ client, close: closeClient } = await testClient());
  intake = await startIntake(client, uniqueQueue('storm'));
});
afterAll(async () => {
  await intake.close();
  await closeClient();
});

type Kind = 'good' | 'malformed' | 'badsig';

it('absorbs a storm: exactly one incident per key, every malformed event dead-lettered, every bad signature refused', async () => {
  const run = randomUUID().slice(0, 8);
  // 5% malformed and 1% badly signed, spread through the storm; good events go round-robin over the keys
  // so every key has good events (and so exactly KEYS incidents), the others hit random keys.
  const kinds: Kind[] = Array.from({ length: EVENTS }, (_, i) =>
    i < EVENTS / 100 ? 'badsig' : i < (EVENTS * 6) / 100 ? 'malformed' : 'good',
  );
  let seed = 42;
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  for (let i = kinds.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [kinds[i], kinds[j]] = [kinds[j] as Kind, kinds[i] as Kind];
  }
  let goodSeen = 0;
  const plan = kinds.map((kind, i) => {
    const host = `storm-${run}-h${kind === 'good' ? goodSeen++ % KEYS : Math.floor(rand() * KEYS)}`;
    const good = {
      time: new Date(Date.UTC(2026, 10, 26, 9, 0, 0, i)).toISOString(),
      host,
      rule: 'Storm rule',
      severity: 'medium',
      message: `event ${i}`,
    };
    const body =
      kind === 'malformed'
        ? i % 2
          ? `{"time": "${good.time}", "host": "${host}",`
          : JSON.stringify({ ...good, severity: 'apocalyptic' })
        : JSON.stringify(good);
    return { kind, body };
  });
  const statuses = new Map<number, number>();
  const unexpected: string[] = [];
  let retries = 0;
  let next = 0;
  const path = '/v1/events/generic';
  const worker = async () => {
    while (next < plan.length) {
      const item = plan[next++];
      if (!item) break;
      const key = item.kind === 'badsig' ? { id: TEST_KEY.id, secret: 'x'.repeat(48) } : TEST_KEY;
      for (let attempt = 0; attempt < 20; attempt++) {
        const res = await fetch(`${intake.url}${path}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...signedHeaders(key, 'POST', path, item.body) },
          body: item.body,
          signal: AbortSignal.timeout(30_000),
        });
        await res.arrayBuffer();
        if (res.status === 429 || res.status === 503) {
          retries++;
          await new Promise((r) =>
            setTimeout(r, Math.min(2, Number(res.headers.get('retry-after')) || 1) * 100),
          );
          continue;
        }
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        const expected = item.kind === 'good' ? 202 : item.kind === 'malformed' ? 400 : 401;
        if (res.status !== expected) unexpected.push(`${item.kind} -> ${res.status}`);
        break;
      }
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const seconds = (performance.now() - t0) / 1000;

  const malformed = plan.filter((p) => p.kind === 'malformed').length;
  const badsig = plan.filter((p) => p.kind === 'badsig').length;
  const good = EVENTS - malformed - badsig;
  expect(unexpected).toEqual([]);
  expect(Object.fromEntries(statuses)).toEqual({ 202: good, 400: malformed, 401: badsig });
  expect([...statuses.keys()].some((s) => s >= 500)).toBe(false);

  // Conservation at the intake: authenticated = started + joined + dead-lettered, exactly.
  const started = await intake.metric('vigil_intake_events_total', { outcome: 'started' });
  const joined = await intake.metric('vigil_intake_events_total', { outcome: 'joined' });
  const deadLettered = await intake.metric('vigil_intake_events_total', { outcome: 'dead_lettered' });
  const unauthenticated = await intake.metric('vigil_intake_events_total', { outcome: 'unauthenticated' });
  expect(started).toBe(KEYS);
  expect(joined).toBe(good - KEYS);
  expect(deadLettered).toBe(malformed);
  expect(unauthenticated).toBe(badsig);
  expect(intake.deadLetters.counts().pending).toBe(malformed);

  // And in Temporal: exactly one incident workflow per key.
  let count = 0;
  for (let i = 0; i < 60; i++) {
    count = (await client.workflow.count(`WorkflowId STARTS_WITH 'inc-storm-${run}-'`)).count;
    if (count === KEYS) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  expect(count).toBe(KEYS);
  console.log(
    `storm: ${EVENTS} events in ${seconds.toFixed(1)} s (${Math.round(EVENTS / seconds)}/s), ${retries} retries after 429/503`,
  );
}, 600_000);
