/**
 * The only file of the activity side that talks to the queue workflow: enqueue a job with update-with-start
 * (the queue's workflow is started on first use, on the playbook worker's task queue). Refusals map to our
 * closed failure types: a full queue waits (RateLimited), a bad request is final (InvalidInput), a
 * Temporal that does not answer is retryable (Unavailable).
 */
import {
  WithStartWorkflowOperation,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  type Client,
} from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import {
  cancelUpdate,
  enqueueUpdate,
  RPA_QUEUE_WORKFLOW,
  rpaQueueWorkflowId,
  RpaRefusal,
  type EnqueueReceipt,
  type EnqueueRequest,
  type RpaQueueInput,
} from '../../src/contracts/rpa-queue.js';
import { ErrorType } from '../../src/errors.js';
import { failure } from '../lib/failures.js';

export interface RpaQueueClient {
  enqueue(queue: string, req: EnqueueRequest): Promise<EnqueueReceipt>;
  /** Drop a job nobody waits for any more; false when there was nothing to drop. */
  cancel(queue: string, jobId: string, reason: string): Promise<boolean>;
}

export function temporalRpaQueueClient(
  client: Client,
  opts: { taskQueue: string; maxJobs: number; timeoutMs: number },
): RpaQueueClient {
  return {
    async enqueue(queue, req) {
      const start = new WithStartWorkflowOperation(RPA_QUEUE_WORKFLOW, {
        workflowId: rpaQueueWorkflowId(queue),
        taskQueue: opts.taskQueue,
        workflowIdConflictPolicy: 'USE_EXISTING',
        args: [{ queue, maxJobs: opts.maxJobs } satisfies RpaQueueInput],
      });
      try {
        return await client.withDeadline(Date.now() + opts.timeoutMs, () =>
          client.workflow.executeUpdateWithStart(enqueueUpdate, {
            args: [req],
            startWorkflowOperation: start,
          }),
        );
      } catch (e) {
        if (e instanceof WorkflowUpdateFailedError && e.cause instanceof ApplicationFailure) {
          const msg = `queue ${queue}: ${e.cause.message}`;
          if (e.cause.type === RpaRefusal.QueueFull)
            throw failure(ErrorType.RateLimited, msg, { code: RpaRefusal.QueueFull }, 30_000);
          throw failure(ErrorType.InvalidInput, msg, { code: e.cause.type ?? 'refused' });
        }
        throw failure(
          ErrorType.Unavailable,
          `queue ${queue}: the workflow engine did not take the job: ${(e as Error).message}`,
        );
      }
    },
    async cancel(queue, jobId, reason) {
      try {
        const r = await client.withDeadline(Date.now() + opts.timeoutMs, () =>
          client.workflow
            .getHandle(rpaQueueWorkflowId(queue))
            .executeUpdate(cancelUpdate, { args: [{ jobId, reason }] }),
        );
        return r.outcome?.status === 'failed' && r.outcome.reason === 'cancelled';
      } catch (e) {
        if (e instanceof WorkflowNotFoundError) return false;
        if (e instanceof WorkflowUpdateFailedError && e.cause instanceof ApplicationFailure) return false;
        throw failure(
          ErrorType.Unavailable,
          `queue ${queue}: could not cancel ${jobId}: ${(e as Error).message}`,
        );
      }
    },
  };
}
