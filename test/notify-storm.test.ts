/**
 * The per-channel notifier on real Temporal with a real SMTP server: a burst of 200 notifications for one
 * channel becomes at most N messages plus one digest that counts every other one exactly; the limit holds
 * across two workers and a worker stopped mid-window; a mail server that is down and comes back gets the
 * notification once. Notifications enter through the real enqueueNotification activity (signal-with-start).
 */
import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { MockActivityEnvironment } from '@temporalio/testing';
import { NativeConnection, Worker } from '@temporalio/worker';
import type { ParsedMail } from 'mailparser';
import { afterAll, afterEach, beforeAll, expect, inject, it } from 'vitest';
import { createSmtpMailer } from '../activities/notify/client.js';
import { loadChannelsConfig, loadNotifyConfig } from '../activities/notify/config.js';
import { createNotifyActivities, type EnqueueInput } from '../activities/notify/index.js';
import { notifierStatusQuery, notifierWorkflowId } from '../src/contracts/notify.js';
import { controlTaskQueue } from '../src/contracts/queues.js';
import type { IncidentNotice } from '../src/contracts/playbook.js';
import { startTestSmtp, type TestSmtp } from './helpers/smtp.js';
import { testClient, uniqueQueue } from './helpers/temporal.js';

let client: Client;
let closeClient: () => Promise<void>;
const stops: (() => Promise<void>)[] = [];
beforeAll(async () => {
  ({ client, close: closeClient } = await testClient());
});
afterEach(async () => {
  for (const s of stops.splice(0).reverse()) await s();
});
afterAll(async () => closeClient());

async function startNotifyWorker(taskQueue: string, smtpPort: number, limits: Record<string, string>) {
  const env = {
    SMTP_HOST: '127.0.0.1',
    SMTP_PORT: String(smtpPort),
    SMTP_SECURITY: 'none',
    SMTP_TIMEOUT: '2s',
    VIGIL_MAIL_FROM: 'vigil@test.local',
    VIGIL_MAIL_TO: 'soc@test.local',
    ...limits,
  };
  const mailCfg = loadNotifyConfig(env);
  const mailer = createSmtpMailer(mailCfg);
  const connection = await NativeConnection.connect({ address: inject('temporalAddress') });
  // The incidents' queue and its control queue (where the notifier runs), as the playbook worker polls them.
  const workers = await Promise.all(
    [taskQueue, controlTaskQueue(taskQueue)].map((q) =>
      Worker.create({
        connection,
        namespace: inject('temporalNamespace'),
        taskQueue: q,
        workflowBundle: { code: inject('workflowBundle') },
        activities: createNotifyActivities(mailer, mailCfg, { config: loadChannelsConfig(env) }),
      }),
    ),
  );
  const running = Promise.all(workers.map((w) => w.run()));
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    for (const w of workers) w.shutdown();
    await running;
    mailer.close();
    await connection.close();
  };
  stops.push(stop);
  return stop;
}

const notice = (i: number, incident: string): IncidentNotice => ({
  incidentId: incident,
  host: `storm-host-${i}`,
  rule: 'Storm rule',
  severity: 'high',
  verdict: 'malicious',
  riskScore: 80,
  techniques: [],
  lineage: [],
  reasons: [`event ${i}`],
  recommended: [],
  eventCount: 1,
  firstSeen: '2026-11-26T09:00:00Z',
  playbook: 'storm@1',
});

/** Enqueue through the real activity, as activity `n` of incident workflow `wf` would. */
const enqueue = (taskQueue: string, wf: string, n: number, input: EnqueueInput) =>
  new MockActivityEnvironment(
    {
      activityId: String(n),
      taskQueue,
      workflowExecution: { workflowId: wf, runId: 'run-1' },
    },
    { client },
  ).run((i: EnqueueInput) => createNotifyActivitiesForEnqueue().enqueueNotification(i), input);

// enqueueNotification needs only the channel configuration (email + defaults), no mailer.
const createNotifyActivitiesForEnqueue = () =>
  createNotifyActivities(
    { send: () => Promise.reject(new Error('not used')), close: () => undefined },
    { VIGIL_MAIL_FROM: 'vigil@test.local', VIGIL_MAIL_TO: ['soc@test.local'] },
  );

const isDigest = (m: ParsedMail) => m.headers.get('x-vigil-digest') !== undefined;

async function until<T>(what: string, f: () => T | undefined | false, ms = 45_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const status = (taskQueue: string) =>
  client.workflow.getHandle(notifierWorkflowId(taskQueue, 'email')).query(notifierStatusQuery);

async function terminate(taskQueue: string) {
  await client.workflow
    .getHandle(notifierWorkflowId(taskQueue, 'email'))
    .terminate('test over')
    .catch(() => undefined);
}

/** The digest's per-key lines: `  - <count> x <summary> [key <key>] (...)`. */
function digestCounts(m: ParsedMail): Map<string, number> {
  const counts = new Map<string, number>();
  for (const line of (m.text ?? '').split('\n')) {
    const g = /^ {2}- (\d+) x .* \[key ([^\]]+)\]/.exec(line);
    if (g) counts.set(g[2] as string, (counts.get(g[2] as string) ?? 0) + Number(g[1]));
  }
  return counts;
}

let smtp: TestSmtp | undefined;
afterEach(async () => {
  await smtp?.close();
  smtp = undefined;
});

it('turns a burst of 200 notifications into at most 5 messages and one digest that counts the other 195 exactly', async () => {
  smtp = await startTestSmtp();
  const q = uniqueQueue('notify-storm');
  await startNotifyWorker(q, smtp.port, {
    VIGIL_NOTIFY_LIMIT: '5',
    VIGIL_NOTIFY_WINDOW: '4s',
    VIGIL_NOTIFY_DEDUPE_WINDOW: '1m',
  });
  const run = randomUUID().slice(0, 6);
  const KEYS = 40;
  // 200 notifications from 200 activities of 40 incidents (5 each), all at once.
  await Promise.all(
    Array.from({ length: 200 }, (_, i) => {
      const incident = `inc-${run}-${i % KEYS}`;
      return enqueue(q, `${incident}-wf`, i, {
        channel: 'email',
        message: { kind: 'incident', notice: notice(i, incident) },
      });
    }),
  );
  const digest = await until('the digest', () => smtp?.messages.find(isDigest));
  await new Promise((r) => setTimeout(r, 1500)); // nothing else may follow
  const notices = smtp.messages.filter((m) => !isDigest(m));
  expect(notices).toHaveLength(5);
  expect(smtp.messages.filter(isDigest)).toHaveLength(1);
  const sentIncidents = notices.map((m) => m.headers.get('x-vigil-incident') as string);
  expect(new Set(sentIncidents).size).toBe(5);

  expect(digest.headers.get('x-vigil-digest')).toBe('195');
  expect(digest.subject).toBe('[Vigil] DIGEST: 195 notifications held back (email)');
  const counts = digestCounts(digest);
  expect([...counts.values()].reduce((a, b) => a + b, 0)).toBe(195);
  // Every incident's 5 notifications are accounted for: sent once and 4 held back, or 5 held back.
  for (let k = 0; k < KEYS; k++) {
    const incident = `inc-${run}-${k}`;
    const key = `${incident}:malicious:high`;
    expect((counts.get(key) ?? 0) + (sentIncidents.includes(incident) ? 1 : 0)).toBe(5);
  }
  expect(await status(q)).toMatchObject({
    totals: { received: 200, delivered: 5, suppressed: 195, digests: 1, failed: 0, redelivered: 0 },
    suppressed: 0,
  });

  // A retried enqueue (the same activity of the same workflow run) is recognised, not counted again.
  await enqueue(q, `inc-${run}-0-wf`, 0, {
    channel: 'email',
    message: { kind: 'incident', notice: notice(0, `inc-${run}-0`) },
  });
  await new Promise((r) => setTimeout(r, 500));
  expect((await status(q)).totals).toMatchObject({ received: 200, redelivered: 1 });
  await terminate(q);
});

it('holds the limit across two workers and one stopped mid-window', async () => {
  smtp = await startTestSmtp();
  const q = uniqueQueue('notify-workers');
  const limits = { VIGIL_NOTIFY_LIMIT: '5', VIGIL_NOTIFY_WINDOW: '8s', VIGIL_NOTIFY_DEDUPE_WINDOW: '1m' };
  const stopA = await startNotifyWorker(q, smtp.port, limits);
  await startNotifyWorker(q, smtp.port, limits);
  const run = randomUUID().slice(0, 6);
  const send = (i: number) =>
    enqueue(q, `inc-${run}-${i}-wf`, 1, {
      channel: 'email',
      message: { kind: 'incident', notice: notice(i, `inc-${run}-${i}`) },
    });
  await Promise.all([0, 1, 2, 3].map(send));
  await until('4 notices', () => smtp!.messages.length >= 4);
  await stopA();
  await Promise.all([4, 5, 6, 7, 8, 9].map(send));
  const digest = await until('the digest', () => smtp?.messages.find(isDigest));
  expect(smtp.messages.filter((m) => !isDigest(m))).toHaveLength(5);
  expect(digest.headers.get('x-vigil-digest')).toBe('5');
  expect([...digestCounts(digest).values()].reduce((a, b) => a + b, 0)).toBe(5);
  await terminate(q);
});

it('retries while the mail server is down and delivers once when it is back', async () => {
  smtp = await startTestSmtp();
  const port = smtp.port;
  await smtp.close();
  const q = uniqueQueue('notify-down');
  await startNotifyWorker(q, port, { VIGIL_NOTIFY_LIMIT: '5', VIGIL_NOTIFY_WINDOW: '1m' });
  const incident = `inc-down-${randomUUID().slice(0, 6)}`;
  await enqueue(q, `${incident}-wf`, 1, {
    channel: 'email',
    message: { kind: 'incident', notice: notice(1, incident) },
  });
  await new Promise((r) => setTimeout(r, 3500)); // at least one failed attempt
  expect(await status(q)).toMatchObject({ totals: { received: 1, delivered: 0, failed: 0 } });
  smtp = await startTestSmtp({ port });
  await until('the notice', () => smtp!.messages.length >= 1, 30_000);
  await new Promise((r) => setTimeout(r, 1000));
  expect(smtp.messages.map((m) => m.headers.get('x-vigil-incident'))).toEqual([incident]);
  expect((await status(q)).totals).toMatchObject({ delivered: 1, failed: 0 });
  await terminate(q);
});
