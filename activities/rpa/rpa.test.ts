import { CompleteAsyncError } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { describe, expect, it } from 'vitest';
import type { EnqueueReceipt, EnqueueRequest } from '../../src/contracts/rpa-queue.js';
import type { RpaQueueClient } from './client.js';
import { createRpaActivities } from './index.js';

function fakeQueues(answer: (req: EnqueueRequest) => EnqueueReceipt) {
  const calls: { queue: string; req: EnqueueRequest }[] = [];
  const client: RpaQueueClient = {
    async enqueue(queue, req) {
      calls.push({ queue, req });
      return answer(req);
    },
    async cancel() {
      return true;
    },
  };
  return { client, calls };
}

const request = {
  queue: 'evidence',
  jobType: 'collect-evidence' as const,
  input: { path: '/etc/hostname' },
  deadline: '2030-01-01T00:00:00Z',
};
const run = (client: RpaQueueClient, input: unknown) =>
  new MockActivityEnvironment({ attempt: 2 }).run(
    (i: typeof request) => createRpaActivities(client).dispatchRpaJob(i),
    input as typeof request,
  );

describe('dispatchRpaJob', () => {
  it('hands the job to its queue with the task token and completes asynchronously', async () => {
    const { client, calls } = fakeQueues((req) => ({
      jobId: req.jobId,
      state: 'pending',
      created: true,
      claims: 0,
    }));
    await expect(run(client, request)).rejects.toBeInstanceOf(CompleteAsyncError);
    expect(calls).toHaveLength(1);
    const [call] = calls;
    expect(call?.queue).toBe('evidence');
    expect(call?.req).toMatchObject({ jobType: 'collect-evidence', maxClaims: 3, requester: { attempt: 2 } });
    expect(call?.req.jobId).toMatch(/^collect-evidence-[0-9a-f]{24}$/);
    expect(call?.req.taskToken.length).toBeGreaterThan(0);
  });

  it('returns the recorded result when a bot already completed the job', async () => {
    const { client } = fakeQueues((req) => ({
      jobId: req.jobId,
      state: 'completed',
      created: false,
      claims: 2,
      outcome: { status: 'completed', result: { ok: 1 }, bot: 'b', completedAt: '2026-11-26T10:00:00Z' },
    }));
    await expect(run(client, { ...request, jobId: 'j-1' })).resolves.toEqual({
      jobId: 'j-1',
      bot: 'b',
      result: { ok: 1 },
      completedAt: '2026-11-26T10:00:00Z',
      claims: 2,
    });
  });

  it('fails for good with the recorded code when the job already failed', async () => {
    const { client } = fakeQueues((req) => ({
      jobId: req.jobId,
      state: 'failed',
      created: false,
      claims: 1,
      outcome: {
        status: 'failed',
        reason: 'bot-failed',
        code: 'not-found',
        message: 'gone',
        bot: 'b',
        at: 'x',
      },
    }));
    const e = (await run(client, request).catch((x: unknown) => x)) as ApplicationFailure;
    expect(e).toBeInstanceOf(ApplicationFailure);
    expect(e.type).toBe('UpstreamRejected');
    expect(e.nonRetryable).toBe(true);
    expect(e.details?.[0]).toMatchObject({ code: 'not-found' });
  });

  it('refuses an input that does not match its job type, without touching the queue', async () => {
    const { client, calls } = fakeQueues(() => {
      throw new Error('must not be called');
    });
    const e = (await run(client, { ...request, input: { path: 'relative' } }).catch(
      (x: unknown) => x,
    )) as ApplicationFailure;
    expect(e.type).toBe('InvalidInput');
    expect(e.nonRetryable).toBe(true);
    expect(e.message).toMatch(/input/);
    expect(calls).toHaveLength(0);
  });
});
