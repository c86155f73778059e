/**
 * Playbook notices reach webhook channels (Teams, Mattermost, a SIEM) through the channel's notifier:
 * signed (Standard Webhooks), verified by a receiver; a destination the outbound guard refuses is recorded
 * on the incident, and the email still goes out.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { IncidentStatus } from '../src/contracts/incident.js';
import { temporalStarter } from '../intake/incidents.js';
import { normalized } from './helpers/events.js';
import { startTestSmtp, type TestSmtp } from './helpers/smtp.js';
import { startWorker, testClient, uniqueQueue, workerEnv } from './helpers/temporal.js';
import { startWebhookReceiver, type WebhookReceiver } from './helpers/webhook-receiver.js';

const SECRET = `whsec_${randomBytes(32).toString('base64')}`;
let client: Client;
let closeClient: () => Promise<void>;
let smtp: TestSmtp;
let rx: WebhookReceiver;

beforeAll(async () => {
  ({ client, close: closeClient } = await testClient());
  smtp = await startTestSmtp();
  rx = await startWebhookReceiver(SECRET);
});
afterAll(async () => {
  await rx.close();
  await smtp.close();
  await closeClient();
});

const alert = (host: string) =>
  normalized('generic', {
    time: new Date().toISOString(),
    host,
    rule: 'Credential dumping tool on disk',
    severity: 'critical',
    techniques: ['T1003.001'],
    file: { path: '/tmp/<script>alert(1)</script>.exe' },
  });

async function run(extra: Record<string, string>, host: string) {
  const queue = uniqueQueue('webhook-channel');
  const worker = await startWorker(workerEnv(smtp.port, queue, extra));
  try {
    const ev = alert(host);
    await temporalStarter(client.connection, client.options.namespace, queue, 5000).start(
      ev.incidentId,
      ev.correlationKey,
      ev.event,
    );
    return { ev, out: (await client.workflow.getHandle(ev.incidentId).result()) as IncidentStatus };
  } finally {
    await worker.stop();
  }
}

it('sends the incident notice to a webhook channel, signed, through its notifier', async () => {
  const host = `wh-${randomUUID().slice(0, 8)}`;
  const { ev, out } = await run(
    {
      VIGIL_WEBHOOKS: JSON.stringify([{ name: 'soc', url: `${rx.url}/hook`, secret: SECRET }]),
      VIGIL_OUTBOUND_ALLOW: '127.0.0.1/32',
    },
    host,
  );
  expect(out.actions.find((a) => a.action === 'alert')).toMatchObject({
    status: 'done',
    detail: { channel: 'webhook:soc' },
  });
  expect(out.actions.find((a) => a.action === 'notify-email')).toMatchObject({ status: 'done' });
  // The notifier delivers it (verified signature, once per id) a moment after the incident queued it.
  for (let i = 0; i < 100 && !rx.processed.some((w) => JSON.stringify(w.body).includes(ev.incidentId)); i++)
    await new Promise((r) => setTimeout(r, 100));
  const got = rx.processed.filter((w) => JSON.stringify(w.body).includes(ev.incidentId));
  expect(got).toHaveLength(1);
  expect(got[0]?.body).toMatchObject({ type: 'vigil.incident.notice' });
});

it('never reaches an internal destination the outbound guard refuses; the email still goes out', async () => {
  const host = `wh-${randomUUID().slice(0, 8)}`;
  const before = rx.log.length;
  const { out } = await run(
    { VIGIL_WEBHOOKS: JSON.stringify([{ name: 'soc', url: `${rx.url}/hook`, secret: SECRET }]) },
    host,
  );
  expect(out.actions.find((a) => a.action === 'notify-email')).toMatchObject({ status: 'done' });
  // Queued on the channel, but the notifier's delivery is refused by the guard: nothing reaches loopback.
  await new Promise((r) => setTimeout(r, 3000));
  expect(rx.log.length).toBe(before);
});
