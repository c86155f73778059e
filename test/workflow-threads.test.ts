/**
 * The playbook worker's workflow threads without the SDK's per-promise stack capture (the default), and
 * with it (VIGIL_WORKFLOW_STACK_TRACES=true): a real worker each way on the run's Temporal server, an
 * incident parked on an approval, and the SDK's own `__stack_trace` query asked of it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { temporalStarter } from '../intake/incidents.js';
import { reverseShell } from './helpers/events.js';
import { waitForApproval } from './helpers/approvals.js';
import { clientAndSmtp, startWorker, uniqueQueue, workerEnv } from './helpers/temporal.js';
import { randomUUID } from 'node:crypto';

const env = clientAndSmtp();

describe('workflow threads', () => {
  const workers: { stop: () => Promise<void> }[] = [];
  let queues: { tuned: string; sdk: string };
  let modes: { tuned: string; sdk: string };
  beforeAll(async () => {
    queues = { tuned: uniqueQueue('threads-tuned'), sdk: uniqueQueue('threads-sdk') };
    // Both at once: the constructor swap is shared by overlapping creations and undone after the last.
    const [tuned, sdk] = await Promise.all([
      startWorker(workerEnv(env.smtp.port, queues.tuned)),
      startWorker(workerEnv(env.smtp.port, queues.sdk, { VIGIL_WORKFLOW_STACK_TRACES: 'true' })),
    ]);
    workers.push(tuned, sdk);
    modes = { tuned: tuned.workflowThreads, sdk: sdk.workflowThreads };
  });
  afterAll(async () => {
    for (const w of workers) await w.stop();
  });

  const parkedIncident = async (queue: string) => {
    const ev = reverseShell(`h-${randomUUID().slice(0, 8)}`);
    const starter = temporalStarter(env.client.connection, env.client.options.namespace, queue, 5000);
    await starter.start(ev.incidentId, ev.correlationKey, ev.event);
    await waitForApproval(env.client, ev.incidentId);
    return env.client.workflow.getHandle(ev.incidentId);
  };

  it('runs incidents without per-promise stacks by default: the SDK reports stack traces as disabled', async () => {
    expect(modes.tuned).toBe('no-promise-stacks');
    const h = await parkedIncident(queues.tuned);
    await expect(h.query('__stack_trace')).rejects.toThrow(/stack traces are not enabled/);
    // Everything else is the SDK's: the incident answers its own query and is still waiting for a lead.
    expect((await h.query<{ stage: string }>('status')).stage).toBe('awaiting-approval');
    await h.terminate('test done');
  });

  it('keeps the SDK stack capture with VIGIL_WORKFLOW_STACK_TRACES=true', async () => {
    expect(modes.sdk).toBe('sdk');
    const h = await parkedIncident(queues.sdk);
    const stack = await h.query<string>('__stack_trace');
    expect(stack).toMatch(/incident|approval/i);
    await h.terminate('test done');
  });
});
