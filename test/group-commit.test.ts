/**
 * Group commit at the intake, end to end on the run's real Temporal server and a real playbook worker:
 * concurrent events of one incident travel in fewer signals than events, yet the incident counts every
 * event exactly once and the intake's conservation count is exact (one started, the rest joined).
 */
import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { IncidentStatus } from '../src/contracts/incident.js';
import { signedHeaders } from '../src/signing.js';
import { startIntake, TEST_KEY } from './helpers/intake.js';
import { startTestSmtp, type TestSmtp } from './helpers/smtp.js';
import { startWorker, testClient, uniqueQueue, workerEnv } from './helpers/temporal.js';

const EVENTS = 40;

let client: Client;
let closeClient: () => Promise<void>;
let smtp: TestSmtp;
const cleanups: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  ({ client, close: closeClient } = await testClient());
  smtp = await startTestSmtp();
});
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  await smtp.close();
  await closeClient();
});

it('coalesces concurrent events of one incident into fewer signals, and the incident counts every one', async () => {
  const queue = uniqueQueue('group-commit');
  const worker = await startWorker(workerEnv(smtp.port, queue, { VIGIL_QUIET_PERIOD: '2s' }));
  cleanups.push(() => worker.stop());
  const intake = await startIntake(client, queue);
  cleanups.push(() => intake.close());

  const host = `gc-${randomUUID().slice(0, 8)}`;
  const path = '/v1/events/generic';
  const send = async (i: number) => {
    const body = JSON.stringify({
      time: new Date(Date.UTC(2026, 10, 26, 11, 0, 0, i)).toISOString(),
      host,
      rule: 'Group commit rule',
      severity: 'medium',
      message: `event ${i}`,
    });
    const res = await fetch(`${intake.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...signedHeaders(TEST_KEY, 'POST', path, body) },
      body,
    });
    return { status: res.status, body: (await res.json()) as { incidentId: string; eventId: string } };
  };
  const replies = await Promise.all(Array.from({ length: EVENTS }, (_, i) => send(i)));
  expect(replies.map((r) => r.status)).toEqual(Array(EVENTS).fill(202));
  const ids = new Set(replies.map((r) => r.body.incidentId));
  expect(ids.size).toBe(1);
  const incidentId = [...ids][0] as string;

  // Conservation at the intake: exactly one event started the incident, every other joined it.
  expect(await intake.metric('vigil_intake_events_total', { outcome: 'started' })).toBe(1);
  expect(await intake.metric('vigil_intake_events_total', { outcome: 'joined' })).toBe(EVENTS - 1);
  expect(await intake.metric('vigil_intake_events_total', { outcome: 'unavailable' })).toBe(0);
  const text = await (await fetch(`${intake.url}/metrics`)).text();
  const value = (name: string) => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)?.[1]);
  const signals = value('vigil_intake_signal_events_count');
  expect(signals).toBeLessThan(EVENTS);
  expect(value('vigil_intake_signal_events_sum')).toBe(EVENTS);

  const handle = client.workflow.getHandle(incidentId);
  // The incident counted every event once; its evidence is made of the events the intake acknowledged.
  const result = (await handle.result()) as IncidentStatus;
  expect(result.eventCount).toBe(EVENTS);
  const acknowledged = new Set(replies.map((r) => r.body.eventId));
  expect(acknowledged.size).toBe(EVENTS);
  expect(result.evidence.length).toBeGreaterThan(0);
  expect(result.evidence.filter((e) => !acknowledged.has(e.id))).toEqual([]);
  // In its history (complete now: signals that arrive during a workflow task are written after it):
  // fewer signals than events, some of them carrying several.
  const history = await handle.fetchHistory();
  const signaled = (history.events ?? []).flatMap((e) =>
    e.workflowExecutionSignaledEventAttributes ? [e.workflowExecutionSignaledEventAttributes.signalName] : [],
  );
  expect(signaled.length).toBe(signals);
  expect(signaled).toContain('detections');

  console.log(`group commit: ${EVENTS} events in ${signals} signals (${signaled.join(', ')})`);
}, 120_000);
