/** Per-test access to the run's Temporal server: a client, a unique task queue, and a real playbook worker. */
import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { NativeConnection, type Worker } from '@temporalio/worker';
import { afterAll, beforeAll, inject } from 'vitest';
import { startTestSmtp, type TestSmtp } from './smtp.js';
import { createPlaybookWorker, loadWorkerConfig } from '../../workers/playbook-worker.js';

export function temporalAddress(): string {
  return inject('temporalAddress');
}

export async function testClient(): Promise<{ client: Client; close: () => Promise<void> }> {
  const connection = await Connection.connect({ address: inject('temporalAddress') });
  return {
    client: new Client({ connection, namespace: inject('temporalNamespace') }),
    close: () => connection.close(),
  };
}

/**
 * A client and a real SMTP server for the whole test file, opened in beforeAll and closed in afterAll: read
 * `env.client` and `env.smtp` inside the tests.
 */
export function clientAndSmtp(): { client: Client; smtp: TestSmtp } {
  const env = {} as { client: Client; smtp: TestSmtp };
  let close: () => Promise<void> = () => Promise.resolve();
  beforeAll(async () => {
    ({ client: env.client, close } = await testClient());
    env.smtp = await startTestSmtp();
  });
  afterAll(async () => {
    await env.smtp.close();
    await close();
  });
  return env;
}

/** A run's activities in history order: scheduled ones with their task queue, local ones (markers) as `local`. */
export async function activitiesOf(client: Client, workflowId: string) {
  const h = await client.workflow.getHandle(workflowId).fetchHistory();
  return (h.events ?? []).flatMap((e) => {
    const a = e.activityTaskScheduledEventAttributes;
    if (a) return [{ type: a.activityType?.name ?? '', queue: a.taskQueue?.name ?? '' }];
    const m = e.markerRecordedEventAttributes;
    const data = m?.markerName === 'core_local_activity' ? m.details?.data?.payloads?.[0] : undefined;
    if (!data) return [];
    const meta = defaultPayloadConverter.fromPayload<{ activity_type?: string }>(data);
    return [{ type: meta.activity_type ?? '', queue: 'local' }];
  });
}

export function uniqueQueue(name: string): string {
  return `test-${name}-${randomUUID().slice(0, 8)}`;
}

/** Environment for a worker in tests: real SMTP on `smtpPort`, short quiet period unless overridden. */
export function workerEnv(
  smtpPort: number,
  taskQueue: string,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    TEMPORAL_ADDRESS: inject('temporalAddress'),
    TEMPORAL_NAMESPACE: inject('temporalNamespace'),
    VIGIL_TASK_QUEUE: taskQueue,
    SMTP_HOST: '127.0.0.1',
    SMTP_PORT: String(smtpPort),
    SMTP_SECURITY: 'none',
    SMTP_TIMEOUT: '3s',
    VIGIL_MAIL_FROM: 'vigil@test.local',
    VIGIL_MAIL_TO: 'soc@test.local',
    VIGIL_QUIET_PERIOD: '2s',
    VIGIL_APPROVAL_REMIND_AFTER: '3s',
    VIGIL_APPROVAL_ESCALATE_AFTER: '6s',
    VIGIL_APPROVAL_DEADLINE: '9s',
    // One mail per incident with its Message-ID on the incident: what most tests assert. The rate-limited
    // email channel (the production default) is tested in notify-storm and e2e.
    VIGIL_NOTIFY_EMAIL_VIA: 'direct',
    ...extra,
  };
}

/** The approval ladder's settings (each <= the next, as the worker requires). */
export function approvalLadder(remind: string, escalate: string, deadline: string): Record<string, string> {
  return {
    VIGIL_APPROVAL_REMIND_AFTER: remind,
    VIGIL_APPROVAL_ESCALATE_AFTER: escalate,
    VIGIL_APPROVAL_DEADLINE: deadline,
  };
}

/** Start a real playbook worker in this process; returns it and a stop function. */
export async function startWorker(
  env: Record<string, string>,
): Promise<{ worker: Worker; workflowThreads: string; stop: () => Promise<void> }> {
  const cfg = loadWorkerConfig(env);
  const connection = await NativeConnection.connect({ address: cfg.temporal.TEMPORAL_ADDRESS });
  const w = await createPlaybookWorker(cfg, connection, {
    workflowBundle: { code: inject('workflowBundle') },
  });
  const running = w.run();
  return {
    worker: w.worker,
    workflowThreads: w.workflowThreads,
    stop: async () => {
      w.shutdown();
      await running;
      w.close();
      await connection.close();
    },
  };
}
