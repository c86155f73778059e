/**
 * Durability: kill -9 the worker process in the middle of a playbook (while its email is being sent)
 * and start another: the incident completes, and every delivery carries the same Message-ID.
 */
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { IncidentStatus } from '../src/contracts/incident.js';
import { temporalStarter } from '../intake/incidents.js';
import { reverseShell } from './helpers/events.js';
import { spawnEntry } from './helpers/process.js';
import { startTestSmtp, type TestSmtp } from './helpers/smtp.js';
import { approvalLadder, testClient, uniqueQueue, workerEnv } from './helpers/temporal.js';
import { decide, waitForApproval } from './helpers/approvals.js';

let client: Client;
let closeClient: () => Promise<void>;
let smtp: TestSmtp;
const children: ChildProcess[] = [];

beforeAll(async () => {
  ({ client, close: closeClient } = await testClient());
  smtp = await startTestSmtp();
});
afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  await smtp.close();
  await closeClient();
});

const spawnWorker = (env: Record<string, string>) => spawnEntry('workers/playbook-worker', env, children);

it('completes the incident after the worker is killed mid-notification, with one Message-ID', async () => {
  const queue = uniqueQueue('crash');
  // The approval is answered after the crash and the retried email: a ladder long enough for that (the
  // test helpers' 9 s deadline would pass, and an answer after the recorded deadline is refused).
  const env = workerEnv(smtp.port, queue, { VIGIL_QUIET_PERIOD: '1s', ...approvalLadder('3m', '4m', '5m') });
  const first = await spawnWorker(env);
  let killedAt = 0;
  smtp.onMessage = () => {
    if (!killedAt) {
      killedAt = Date.now();
      first.kill('SIGKILL'); // the SMTP server has the message; the activity never learns it was sent
    }
  };
  const e = reverseShell(`crash-${randomUUID().slice(0, 8)}`);
  await temporalStarter(client.connection, client.options.namespace, queue, 5000).start(
    e.incidentId,
    e.correlationKey,
    e.event,
  );
  for (let i = 0; i < 100 && !killedAt; i++) await new Promise((r) => setTimeout(r, 100));
  expect(killedAt).toBeGreaterThan(0);
  if (first.exitCode === null && first.signalCode === null) await new Promise((r) => first.once('exit', r));

  await spawnWorker(env);
  await decide(
    client,
    await waitForApproval(client, e.incidentId, 60_000),
    { id: 'lead-1', role: 'lead' },
    'deny',
  );
  const r = (await client.workflow.getHandle(e.incidentId).result()) as IncidentStatus;
  expect(r).toMatchObject({ status: 'closed', verdict: 'malicious' });
  expect(r.outcome).toMatch(/^malicious: analysts notified by email/);
  const mails = smtp.messages.filter(
    (m) => m.headers.get('x-vigil-incident') === e.incidentId && !m.headers.get('x-vigil-approval'),
  );
  expect(mails.length).toBeGreaterThanOrEqual(2); // delivered before the crash, and again by the retry
  expect(new Set(mails.map((m) => m.messageId))).toEqual(
    new Set([r.actions.find((a) => a.action === 'notify-email')?.idempotencyKey]),
  );
  expect(r.actions.filter((a) => a.action === 'notify-email')).toHaveLength(1);
});
