import { Context } from '@temporalio/activity';

/**
 * Heartbeat while `work` runs, so a worker that dies mid-call is noticed after the heartbeat timeout
 * instead of the whole start-to-close timeout. Outside an activity context it just runs `work`.
 */
export async function withHeartbeat<T>(work: () => Promise<T>, everyMs = 1000): Promise<T> {
  let ctx: Context | undefined;
  try {
    ctx = Context.current();
  } catch {
    return work();
  }
  const c = ctx;
  c.heartbeat();
  const timer = setInterval(() => c.heartbeat(), everyMs);
  try {
    return await work();
  } finally {
    clearInterval(timer);
  }
}
