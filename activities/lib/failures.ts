/**
 * One place that turns errors into Temporal failures with our closed set of types, so retry behaviour
 * is decided once: bad input and 4xx are final; 429 waits; 5xx and network errors retry within the budget.
 */
import { ApplicationFailure } from '@temporalio/common';
import type { z } from 'zod';
import { ErrorType, NON_RETRYABLE } from '../../src/errors.js';

export function failure(
  type: ErrorType,
  message: string,
  details?: unknown,
  nextRetryDelayMs?: number,
): ApplicationFailure {
  return ApplicationFailure.create({
    type,
    message,
    nonRetryable: NON_RETRYABLE.includes(type),
    details: details === undefined ? undefined : [details],
    nextRetryDelay: nextRetryDelayMs,
  });
}

/** Parse activity input; bad input is a non-retryable InvalidInput failure listing the zod issues. */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown, activity: string): z.infer<S> {
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  const issues = r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
  throw failure(ErrorType.InvalidInput, `${activity}: invalid input: ${issues.join('; ')}`, { issues });
}

/** Map an HTTP status to a failure (shared by every HTTP client). */
export function httpFailure(
  status: number,
  reason: string,
  retryAfterHeader?: string | null,
): ApplicationFailure {
  if (status === 429) {
    const secs = Number(retryAfterHeader);
    return failure(
      ErrorType.RateLimited,
      `rate limited: ${reason}`,
      { status },
      Number.isFinite(secs) && secs > 0 ? secs * 1000 : undefined,
    );
  }
  if (status === 404) return failure(ErrorType.NotFound, `not found: ${reason}`, { status });
  if (status === 401 || status === 403)
    return failure(ErrorType.Unauthenticated, `refused credentials: ${reason}`, { status });
  if (status >= 400 && status < 500)
    return failure(ErrorType.UpstreamRejected, `rejected (${status}): ${reason}`, { status });
  return failure(ErrorType.Unavailable, `upstream error (${status}): ${reason}`, { status });
}
