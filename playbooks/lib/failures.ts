/** Reading activity failures in workflow code: by type, never by message text. */
import { ActivityFailure, ApplicationFailure, TimeoutFailure } from '@temporalio/workflow';

export function describeFailure(e: ActivityFailure): string {
  const c = e.cause;
  if (c instanceof TimeoutFailure) return `timed out (${c.timeoutType})`;
  return c instanceof ApplicationFailure ? `${c.type ?? 'Error'}: ${c.message}` : (c?.message ?? e.message);
}

/** No worker took the task within its schedule-to-start deadline: the host's executor is offline or swamped. */
export function isUnreachable(e: ActivityFailure): boolean {
  return e.cause instanceof TimeoutFailure && e.cause.timeoutType === 'SCHEDULE_TO_START';
}

export function failureType(e: ActivityFailure): string | undefined {
  return e.cause instanceof ApplicationFailure ? (e.cause.type ?? undefined) : undefined;
}
