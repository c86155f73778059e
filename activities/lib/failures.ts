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

/**
 * Map an HTTP status to a failure (shared by every HTTP client). `retryAfter` is the Retry-After header
 * (delta-seconds or an HTTP-date, RFC 9110 10.2.3) or a delay already computed by `rateLimitDelayMs`.
 */
export function httpFailure(
  status: number,
  reason: string,
  retryAfter?: string | null | { ms: number },
): ApplicationFailure {
  if (status === 429) {
    const ms =
      typeof retryAfter === 'object' && retryAfter !== null ? retryAfter.ms : parseRetryAfter(retryAfter);
    return failure(
      ErrorType.RateLimited,
      `rate limited: ${reason}`,
      { status, retryAfterMs: ms },
      ms !== undefined && ms > 0 ? ms : undefined,
    );
  }
  if (status === 404) return failure(ErrorType.NotFound, `not found: ${reason}`, { status });
  if (status === 401 || status === 403)
    return failure(ErrorType.Unauthenticated, `refused credentials: ${reason}`, { status });
  if (status >= 400 && status < 500)
    return failure(ErrorType.UpstreamRejected, `rejected (${status}): ${reason}`, { status });
  return failure(ErrorType.Unavailable, `upstream error (${status}): ${reason}`, { status });
}

/** Retry-After as delta-seconds or an HTTP-date -> milliseconds from `now` (undefined when absent or bad). */
export function parseRetryAfter(value: string | null | undefined, now = Date.now()): number | undefined {
  if (value === undefined || value === null || value.trim() === '') return undefined;
  const v = value.trim();
  if (/^\d+(\.\d+)?$/.test(v)) return Math.round(Number(v) * 1000);
  const at = Date.parse(v);
  return Number.isFinite(at) ? Math.max(0, at - now) : undefined;
}

/**
 * The wait a rate-limited response asks for, from the standard Retry-After header or a vendor header:
 * CrowdStrike's `X-RateLimit-RetryAfter` carries an epoch-seconds instant (what PSFalcon and gofalcon
 * read), other vendors send seconds to wait. Values above 10^9 are read as epoch seconds.
 */
export function rateLimitDelayMs(
  header: (name: string) => string | null | undefined,
  now = Date.now(),
): number | undefined {
  const standard = parseRetryAfter(header('retry-after'), now);
  if (standard !== undefined) return standard;
  const vendor = header('x-ratelimit-retryafter');
  if (vendor === undefined || vendor === null || !/^\d+(\.\d+)?$/.test(vendor.trim())) return undefined;
  const n = Number(vendor.trim());
  return n > 1e9 ? Math.max(0, Math.round(n * 1000 - now)) : Math.round(n * 1000);
}
