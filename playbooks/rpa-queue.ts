/**
 * Workflow: rpaQueue (one per bot queue, id `rpa-queue-<queue>`).
 * Trigger: the dispatchRpaJob activity's update-with-start (`enqueue`); runs for as long as the queue exists.
 * Flow: jobs arrive (enqueue, idempotent per job id) -> a bot claims one with a lease (claim) -> heartbeats
 * extend the lease -> the bot completes or fails it; a lease that runs out puts the job back for another bot
 * (and the old lease can no longer complete it); a job past its deadline is dropped. Continue-as-new carries
 * the open and recently finished jobs when the history grows.
 * Side effects: none. The intake completes the waiting activity with the task token this workflow returns;
 * a finished job is kept until its deadline so a re-dispatched activity learns the outcome from `enqueue`.
 * Every Update has a validator: a refused claim, a late or foreign completion never reaches the history.
 */
import {
  allHandlersFinished,
  ApplicationFailure,
  condition,
  continueAsNew,
  setHandler,
  uuid4,
  workflowInfo,
} from '@temporalio/workflow';
import {
  cancelUpdate,
  claimUpdate,
  completeUpdate,
  enqueueUpdate,
  failUpdate,
  heartbeatUpdate,
  jobQuery,
  jobsQuery,
  RPA_JOB_TYPE_NAMES,
  RPA_LIMITS,
  RpaRefusal,
  type CancelRequest,
  type ClaimRequest,
  type CompleteRequest,
  type EnqueueRequest,
  type FailRequest,
  type HeartbeatRequest,
  type LeaseReceipt,
  type LeaseRequest,
  type RpaJobOutcome,
  type RpaJobRecord,
  type RpaJobView,
  type RpaQueueInput,
} from '../src/contracts/rpa-queue.js';

/** Finished jobs are kept this long past their deadline (late bots get `job-finished`, not `not-found`). */
const KEEP_AFTER_DEADLINE_MS = 5 * 60_000;
const MAX_TRAIL = 20;
/** Continue-as-new well before the server's history limits. */
const MAX_HISTORY_EVENTS = 5_000;

const refuse = (type: RpaRefusal, message: string) => ApplicationFailure.nonRetryable(message, type);
const iso = (ms: number) => new Date(ms).toISOString();
const terminal = (j: RpaJobRecord) => j.state === 'completed' || j.state === 'failed';
const view = ({ taskToken: _t, ...rest }: RpaJobRecord): RpaJobView => rest;

export async function rpaQueue(input: RpaQueueInput): Promise<void> {
  const jobs = new Map<string, RpaJobRecord>((input.carried ?? []).map((j) => [j.jobId, j]));
  let changed = false;

  const note = (j: RpaJobRecord, what: string) => {
    j.trail.push({ at: iso(Date.now()), what });
    if (j.trail.length > MAX_TRAIL) j.trail.splice(1, 1); // keep the first entry and the newest
  };
  const finish = (j: RpaJobRecord, outcome: RpaJobOutcome) => {
    j.state = outcome.status === 'completed' ? 'completed' : 'failed';
    j.outcome = outcome;
    delete j.lease;
    note(
      j,
      outcome.status === 'completed'
        ? `completed by ${outcome.bot}`
        : `failed: ${outcome.reason} ${outcome.code}`,
    );
    changed = true;
  };
  const receipt = (j: RpaJobRecord): LeaseReceipt => ({
    jobId: j.jobId,
    state: j.state,
    leaseExpiresAt: j.lease?.expiresAt,
    taskToken: j.taskToken,
    outcome: j.outcome,
    claims: j.claims,
  });
  const open = () => [...jobs.values()].filter((j) => !terminal(j)).length;

  /** The lease check every bot-facing Update shares: the job exists, is held by this bot under this lease, in time. */
  const holderCheck = (r: LeaseRequest): RpaJobRecord => {
    const j = jobs.get(r.jobId);
    if (!j) throw refuse(RpaRefusal.NotFound, `no job ${r.jobId} in queue ${input.queue}`);
    if (terminal(j)) throw refuse(RpaRefusal.Finished, `job ${r.jobId} has already ${j.state}`);
    const lease = j.lease;
    if (!lease || lease.leaseId !== r.leaseId || lease.bot !== r.bot)
      throw refuse(RpaRefusal.NotHolder, `bot ${r.bot} does not hold the lease on job ${r.jobId}`);
    if (Date.parse(lease.expiresAt) <= Date.now())
      throw refuse(
        RpaRefusal.LeaseExpired,
        `the lease of ${r.bot} on job ${r.jobId} expired at ${lease.expiresAt}`,
      );
    return j;
  };
  const leaseMsOk = (ms: unknown) =>
    typeof ms === 'number' &&
    Number.isInteger(ms) &&
    ms >= RPA_LIMITS.minLeaseMs &&
    ms <= RPA_LIMITS.maxLeaseMs;
  const claimable = (types?: string[]) => {
    const now = Date.now();
    for (const j of jobs.values())
      if (
        j.state === 'pending' &&
        Date.parse(j.deadline) > now &&
        (!types?.length || types.includes(j.jobType))
      )
        return j;
    return undefined;
  };

  setHandler(
    enqueueUpdate,
    (r) => {
      const j = jobs.get(r.jobId);
      if (j) {
        if (j.jobType !== r.jobType)
          throw refuse(RpaRefusal.Invalid, `job ${r.jobId} exists with another type (${j.jobType})`);
        if (!terminal(j)) {
          // A retried activity attempt: the job keeps its place and lease; completions go to the new attempt.
          j.taskToken = r.taskToken;
          j.requester = r.requester;
          note(j, `re-dispatched (activity attempt ${r.requester.attempt})`);
        }
        return { jobId: j.jobId, state: j.state, outcome: j.outcome, created: false, claims: j.claims };
      }
      const rec: RpaJobRecord = {
        jobId: r.jobId,
        jobType: r.jobType,
        input: r.input,
        requester: r.requester,
        taskToken: r.taskToken,
        enqueuedAt: iso(Date.now()),
        deadline: r.deadline,
        maxClaims: r.maxClaims,
        claims: 0,
        state: 'pending',
        trail: [],
      };
      note(rec, `enqueued by ${r.requester.workflowId}`);
      jobs.set(rec.jobId, rec);
      changed = true;
      return { jobId: rec.jobId, state: rec.state, created: true, claims: 0 };
    },
    {
      validator: (r: EnqueueRequest) => {
        if (!(RPA_JOB_TYPE_NAMES as readonly string[]).includes(r.jobType))
          throw refuse(RpaRefusal.Invalid, `unknown job type ${String(r.jobType)}`);
        if (!Number.isFinite(Date.parse(r.deadline)))
          throw refuse(RpaRefusal.Invalid, 'deadline is not a time');
        if (!Number.isInteger(r.maxClaims) || r.maxClaims < 1 || r.maxClaims > RPA_LIMITS.maxClaims)
          throw refuse(RpaRefusal.Invalid, `maxClaims must be 1-${RPA_LIMITS.maxClaims}`);
        if (JSON.stringify(r.input ?? null).length > RPA_LIMITS.inputBytes)
          throw refuse(RpaRefusal.Invalid, `input larger than ${RPA_LIMITS.inputBytes} bytes`);
        if (!jobs.has(r.jobId) && open() >= input.maxJobs)
          throw refuse(RpaRefusal.QueueFull, `queue ${input.queue} holds ${input.maxJobs} open jobs`);
      },
    },
  );

  setHandler(
    claimUpdate,
    (r) => {
      const j = claimable(r.jobTypes);
      // The validator saw one; another claim in the same activation may have taken it.
      if (!j) throw refuse(RpaRefusal.NoJob, `no job to claim in ${input.queue}`);
      const now = Date.now();
      j.state = 'leased';
      j.claims += 1;
      j.lease = {
        leaseId: uuid4(),
        bot: r.bot,
        claimedAt: iso(now),
        expiresAt: iso(Math.min(now + r.leaseMs, Date.parse(j.deadline))),
        leaseMs: r.leaseMs,
      };
      note(j, `claimed by ${r.bot} (claim ${j.claims}, lease until ${j.lease.expiresAt})`);
      changed = true;
      return {
        jobId: j.jobId,
        jobType: j.jobType,
        input: j.input,
        leaseId: j.lease.leaseId,
        leaseExpiresAt: j.lease.expiresAt,
        deadline: j.deadline,
        claim: j.claims,
        taskToken: j.taskToken,
      };
    },
    {
      validator: (r: ClaimRequest) => {
        if (typeof r.bot !== 'string' || !r.bot) throw refuse(RpaRefusal.Invalid, 'bot is required');
        if (!leaseMsOk(r.leaseMs))
          throw refuse(
            RpaRefusal.Invalid,
            `lease must be ${RPA_LIMITS.minLeaseMs}-${RPA_LIMITS.maxLeaseMs} ms`,
          );
        // Refused, not answered empty: an idle poll costs no history event.
        if (r.jobTypes !== undefined && !Array.isArray(r.jobTypes))
          throw refuse(RpaRefusal.Invalid, 'jobTypes must be a list');
        if (!claimable(r.jobTypes)) throw refuse(RpaRefusal.NoJob, `no job to claim in ${input.queue}`);
      },
    },
  );

  setHandler(
    heartbeatUpdate,
    (r) => {
      const j = holderCheck(r);
      const lease = j.lease as NonNullable<RpaJobRecord['lease']>;
      const ms = r.leaseMs ?? lease.leaseMs;
      lease.expiresAt = iso(Math.min(Date.now() + ms, Date.parse(j.deadline)));
      lease.leaseMs = ms;
      changed = true;
      return receipt(j);
    },
    {
      validator: (r: HeartbeatRequest) => {
        if (r.leaseMs !== undefined && !leaseMsOk(r.leaseMs))
          throw refuse(
            RpaRefusal.Invalid,
            `lease must be ${RPA_LIMITS.minLeaseMs}-${RPA_LIMITS.maxLeaseMs} ms`,
          );
        holderCheck(r);
      },
    },
  );

  setHandler(
    completeUpdate,
    (r) => {
      const j = holderCheck(r);
      finish(j, { status: 'completed', result: r.result, bot: r.bot, completedAt: iso(Date.now()) });
      return receipt(j);
    },
    {
      validator: (r: CompleteRequest) => {
        holderCheck(r);
        // The intake validated the result against the job type; this only bounds what history keeps.
        if (r.result === undefined) throw refuse(RpaRefusal.Invalid, 'result is required');
        if (JSON.stringify(r.result).length > RPA_LIMITS.resultBytes)
          throw refuse(RpaRefusal.Invalid, `result larger than ${RPA_LIMITS.resultBytes} bytes`);
      },
    },
  );

  setHandler(
    failUpdate,
    (r) => {
      const j = holderCheck(r);
      if (r.retryable && j.claims < j.maxClaims) {
        j.state = 'pending';
        delete j.lease;
        note(j, `${r.bot} gave it back (${r.code}); claim ${j.claims} of ${j.maxClaims}`);
        changed = true;
        return receipt(j);
      }
      finish(j, {
        status: 'failed',
        reason: 'bot-failed',
        code: r.code,
        message: r.message.slice(0, RPA_LIMITS.failureMessageChars),
        bot: r.bot,
        at: iso(Date.now()),
      });
      return receipt(j);
    },
    {
      validator: (r: FailRequest) => {
        holderCheck(r);
        if (typeof r.code !== 'string' || typeof r.message !== 'string')
          throw refuse(RpaRefusal.Invalid, 'code and message are required');
      },
    },
  );

  setHandler(
    cancelUpdate,
    (r) => {
      const j = jobs.get(r.jobId) as RpaJobRecord;
      if (!terminal(j))
        finish(j, {
          status: 'failed',
          reason: 'cancelled',
          code: 'cancelled',
          message: r.reason.slice(0, RPA_LIMITS.failureMessageChars),
          at: iso(Date.now()),
        });
      return receipt(j);
    },
    {
      validator: (r: CancelRequest) => {
        if (!jobs.has(r.jobId))
          throw refuse(RpaRefusal.NotFound, `no job ${r.jobId} in queue ${input.queue}`);
      },
    },
  );

  setHandler(jobQuery, (jobId) => {
    const j = jobs.get(jobId);
    return j ? view(j) : null;
  });
  setHandler(jobsQuery, () => [...jobs.values()].map(view));

  /** Lost leases go back to the queue (or fail the job when it has lost too many); stale jobs go. */
  const sweep = () => {
    const now = Date.now();
    for (const j of [...jobs.values()]) {
      const deadline = Date.parse(j.deadline);
      if (terminal(j)) {
        if (deadline + KEEP_AFTER_DEADLINE_MS <= now) jobs.delete(j.jobId);
        continue;
      }
      if (deadline <= now) {
        finish(j, {
          status: 'failed',
          reason: 'deadline',
          code: 'deadline',
          message: `no bot finished the job by its deadline ${j.deadline}`,
          bot: j.lease?.bot,
          at: iso(now),
        });
        continue;
      }
      if (j.lease && Date.parse(j.lease.expiresAt) <= now) {
        const lost = j.lease.bot;
        if (j.claims >= j.maxClaims) {
          finish(j, {
            status: 'failed',
            reason: 'leases-exhausted',
            code: 'leases-exhausted',
            message: `the job lost its lease ${j.claims} times (last holder ${lost})`,
            bot: lost,
            at: iso(now),
          });
        } else {
          j.state = 'pending';
          delete j.lease;
          note(j, `lease of ${lost} expired; back in the queue`);
        }
      }
    }
  };
  const nextWake = (): number | undefined => {
    let next: number | undefined;
    const at = (t: number) => {
      if (next === undefined || t < next) next = t;
    };
    for (const j of jobs.values()) {
      const deadline = Date.parse(j.deadline);
      if (terminal(j)) at(deadline + KEEP_AFTER_DEADLINE_MS);
      else {
        at(deadline);
        if (j.lease) at(Date.parse(j.lease.expiresAt));
      }
    }
    return next;
  };

  for (;;) {
    sweep();
    const info = workflowInfo();
    if (info.continueAsNewSuggested || info.historyLength >= MAX_HISTORY_EVENTS) {
      // Let in-flight Updates finish first, so none is lost between runs.
      await condition(allHandlersFinished);
      sweep();
      return continueAsNew<typeof rpaQueue>({ ...input, carried: [...jobs.values()] });
    }
    changed = false;
    const next = nextWake();
    if (next === undefined) await condition(() => changed);
    else await condition(() => changed, Math.max(1, next - Date.now()));
  }
}
