/**
 * Hand work to an RPA bot from a playbook and wait for it: `runRpaJob(queue, jobType, input, {deadline})`.
 * The job id is fixed here (replay-stable), so every retry of the dispatch names the same job. Outcomes are
 * return values: `completed` (the bot's result, already validated against the job type at the intake),
 * `failed` (the bot gave up, the queue gave up after lost leases, or the job was refused) or `timed-out`
 * (no bot finished it by the deadline; the job is dropped from its queue, so no bot starts it later).
 */
import { ActivityFailure, ApplicationFailure, TimeoutFailure, uuid4 } from '@temporalio/workflow';
import type { RpaJobInput, RpaJobResult } from '../../src/contracts/rpa.js';
import type { RpaCompletion, RpaJobTypeName } from '../../src/contracts/rpa-queue.js';
import { rpaActivities, rpaCancelActivities } from './presets.js';

export type RpaOutcome<T extends RpaJobTypeName> =
  | {
      status: 'completed';
      jobId: string;
      bot: string;
      result: RpaJobResult<T>;
      completedAt: string;
      claims: number;
    }
  | { status: 'failed'; jobId: string; code: string; reason: string }
  | { status: 'timed-out'; jobId: string; deadline: string };

export interface RpaJobOptions {
  /** How long the job may take, e.g. '30m', '90s', or milliseconds. */
  deadline: string | number;
  /** Re-dispatch after this long without a bot heartbeat (default 5m; see presets.ts). */
  silence?: string | number;
  /** Leases the job may lose to dead bots before it fails (default 3). */
  maxClaims?: number;
}

const UNIT: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** '30m' -> ms (workflow-safe; no zod in the workflow bundle). */
export function durationMs(d: string | number): number {
  if (typeof d === 'number' && Number.isFinite(d) && d > 0) return Math.round(d);
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(String(d).trim());
  if (!m)
    throw ApplicationFailure.nonRetryable(`"${String(d)}" is not a duration like 90s or 30m`, 'InvalidInput');
  return Math.round(Number(m[1]) * (UNIT[m[2] ?? 'ms'] ?? 1));
}

export async function runRpaJob<T extends RpaJobTypeName>(
  queue: string,
  jobType: T,
  input: RpaJobInput<T>,
  opts: RpaJobOptions,
): Promise<RpaOutcome<T>> {
  const deadlineMs = durationMs(opts.deadline);
  const silenceMs = durationMs(opts.silence ?? '5m');
  const deadline = new Date(Date.now() + deadlineMs).toISOString();
  const jobId = `${jobType}-${uuid4()}`;
  try {
    const done = (await rpaActivities(deadlineMs, silenceMs).dispatchRpaJob({
      queue,
      jobType,
      input,
      deadline,
      jobId,
      maxClaims: opts.maxClaims ?? 3,
    })) as RpaCompletion<RpaJobResult<T>>;
    return { status: 'completed', ...done };
  } catch (e) {
    if (!(e instanceof ActivityFailure)) throw e;
    if (e.cause instanceof TimeoutFailure) {
      // The activity can give up a little before the queue's deadline (no time left for another attempt):
      // drop the job now so no bot starts work nobody waits for.
      await rpaCancelActivities
        .cancelRpaJob({ queue, jobId, reason: `the requester's deadline ${deadline} passed` })
        .catch(() => undefined);
      return { status: 'timed-out', jobId, deadline };
    }
    if (e.cause instanceof ApplicationFailure) {
      const details = e.cause.details?.[0] as { code?: string } | undefined;
      if (details?.code === 'deadline') return { status: 'timed-out', jobId, deadline };
      return {
        status: 'failed',
        jobId,
        code: details?.code ?? e.cause.type ?? 'failed',
        reason: e.cause.message,
      };
    }
    return { status: 'failed', jobId, code: 'failed', reason: e.message };
  }
}
