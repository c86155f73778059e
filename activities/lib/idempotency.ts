import { createHash } from 'node:crypto';
import { Context } from '@temporalio/activity';

/**
 * The idempotency key of the running activity: workflow id + run id + activity id (+ a label).
 * The activity id is stable across retries of the same scheduled activity, so every retry sends the same key.
 */
export function currentIdempotencyKey(label = ''): string {
  const info = Context.current().info;
  const wf = info.workflowExecution;
  const owner = wf ? `${wf.workflowId}:${wf.runId}` : `standalone:${info.activityType}`;
  return `${owner}:${info.activityId}${label ? `:${label}` : ''}`;
}

export function shortHash(s: string, len = 32): string {
  return createHash('sha256').update(s).digest('hex').slice(0, len);
}
