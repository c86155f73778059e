/**
 * dispatchRpaJob: hand a job to a bot queue and complete asynchronously. The activity records the job (with
 * this attempt's task token) in the queue's workflow and returns without a result (CompleteAsyncError);
 * the intake completes, fails or heartbeats it when a bot reports. A retried attempt re-dispatches the same
 * job id: the job keeps its place and lease, and when a bot already finished it the recorded outcome is
 * returned (or thrown) at once, so nothing a bot reported is lost between two attempts.
 * cancelRpaJob: drop a job whose requester stopped waiting.
 */
import { CompleteAsyncError, Context } from '@temporalio/activity';
import { z } from 'zod';
import { DispatchRpaJobInput, RpaJobId, RpaQueueName } from '../../src/contracts/rpa.js';
import type { RpaCompletion } from '../../src/contracts/rpa-queue.js';
import { ErrorType } from '../../src/errors.js';
import { failure, parseInput } from '../lib/failures.js';
import { currentIdempotencyKey, shortHash } from '../lib/idempotency.js';
import type { RpaQueueClient } from './client.js';

const CancelInput = z.strictObject({
  queue: RpaQueueName,
  jobId: RpaJobId,
  reason: z.string().min(1).max(500),
});

export function createRpaActivities(queues: RpaQueueClient) {
  return {
    async dispatchRpaJob(raw: DispatchRpaJobInput): Promise<RpaCompletion> {
      const input = parseInput(DispatchRpaJobInput, raw, 'dispatchRpaJob');
      const info = Context.current().info;
      const wf = info.workflowExecution;
      const jobId = input.jobId ?? `${input.jobType}-${shortHash(currentIdempotencyKey('rpa'), 24)}`;
      const receipt = await queues.enqueue(input.queue, {
        jobId,
        jobType: input.jobType,
        input: input.input,
        requester: {
          workflowId: wf?.workflowId ?? 'standalone',
          runId: wf?.runId ?? '',
          activityId: info.activityId,
          attempt: info.attempt,
        },
        taskToken: Buffer.from(info.taskToken).toString('base64'),
        deadline: input.deadline,
        maxClaims: input.maxClaims,
      });
      const o = receipt.outcome;
      if (o?.status === 'completed')
        return { jobId, bot: o.bot, result: o.result, completedAt: o.completedAt, claims: receipt.claims };
      if (o?.status === 'failed')
        throw failure(ErrorType.UpstreamRejected, `RPA job ${jobId}: ${o.message}`, {
          code: o.code,
          reason: o.reason,
          bot: o.bot,
          jobId,
        });
      throw new CompleteAsyncError();
    },

    /** The requester gave up (its deadline passed first): drop the job so no bot starts it later. */
    async cancelRpaJob(raw: {
      queue: string;
      jobId: string;
      reason: string;
    }): Promise<{ cancelled: boolean }> {
      const input = parseInput(CancelInput, raw, 'cancelRpaJob');
      return { cancelled: await queues.cancel(input.queue, input.jobId, input.reason) };
    },
  };
}
export type RpaActivities = ReturnType<typeof createRpaActivities>;
export { loadRpaConfig, type RpaConfig } from './config.js';
export { temporalRpaQueueClient, type RpaQueueClient } from './client.js';
