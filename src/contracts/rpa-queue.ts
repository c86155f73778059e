/**
 * The RPA queue workflow's contract (zod-free: the workflow bundle imports it). One `rpaQueue` workflow
 * per bot queue (id `rpa-queue-<queue>`) holds the queue's jobs and their leases; everything else talks
 * to it through these Updates (validated in the workflow, so a refused claim or a late completion never
 * reaches its history) and queries. Shared by the dispatch activity, the intake's bot API and the CLI.
 */
import { defineQuery, defineUpdate } from '@temporalio/workflow';

export const RPA_QUEUE_WORKFLOW = 'rpaQueue';
export const RPA_JOB_WORKFLOW = 'rpaJob';

/** The job types bots can be handed; their input and result schemas are in ./rpa.ts. */
export const RPA_JOB_TYPE_NAMES = ['collect-evidence', 'reset-password', 'lookup-asset'] as const;
export type RpaJobTypeName = (typeof RPA_JOB_TYPE_NAMES)[number];

export const RPA_QUEUE_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;
export const RPA_JOB_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

export const rpaQueueWorkflowId = (queue: string) => `rpa-queue-${queue}`;

/** Bounds the queue applies (a result larger than this is refused by the intake before the workflow). */
export const RPA_LIMITS = {
  inputBytes: 4096,
  resultBytes: 8192,
  minLeaseMs: 1000,
  maxLeaseMs: 3_600_000,
  maxClaims: 20,
  progressChars: 200,
  failureMessageChars: 2000,
} as const;

export interface RpaQueueInput {
  queue: string;
  /** Open jobs (pending + leased) beyond which enqueue is refused (`queue-full`). */
  maxJobs: number;
  /** Carried across continue-as-new. */
  carried?: RpaJobRecord[];
}

/** Who waits for the job: the dispatching activity. */
export interface RpaRequester {
  workflowId: string;
  runId: string;
  activityId: string;
  attempt: number;
}

export type RpaJobState = 'pending' | 'leased' | 'completed' | 'failed';

export interface RpaLease {
  leaseId: string;
  bot: string;
  claimedAt: string;
  expiresAt: string;
  leaseMs: number;
}

export type RpaJobOutcome =
  | { status: 'completed'; result: unknown; bot: string; completedAt: string }
  | {
      status: 'failed';
      /** `bot-failed`: the bot reported it; `deadline`, `leases-exhausted`, `cancelled`: the queue decided. */
      reason: 'bot-failed' | 'deadline' | 'leases-exhausted' | 'cancelled';
      code: string;
      message: string;
      bot?: string;
      at: string;
    };

export interface RpaJobRecord {
  jobId: string;
  jobType: RpaJobTypeName;
  input: unknown;
  requester: RpaRequester;
  /** The current activity attempt's task token (base64): the intake completes the activity with it. */
  taskToken: string;
  enqueuedAt: string;
  deadline: string;
  maxClaims: number;
  claims: number;
  state: RpaJobState;
  lease?: RpaLease;
  outcome?: RpaJobOutcome;
  /** What happened to the job, newest last (bounded). */
  trail: { at: string; what: string }[];
}

/** A job as bots, operators and the CLI see it: no task token. */
export type RpaJobView = Omit<RpaJobRecord, 'taskToken'>;

export interface EnqueueRequest {
  jobId: string;
  jobType: RpaJobTypeName;
  input: unknown;
  requester: RpaRequester;
  taskToken: string;
  deadline: string;
  maxClaims: number;
}
export interface EnqueueReceipt {
  jobId: string;
  state: RpaJobState;
  /** Set when the job already ended (a re-dispatch after the bot finished): the activity returns it. */
  outcome?: RpaJobOutcome;
  /** true when this dispatch created the job, false when it refreshed an existing one. */
  created: boolean;
  claims: number;
}

export interface ClaimRequest {
  bot: string;
  leaseMs: number;
  /** Only jobs of these types (a bot that can do some of them); default any. */
  jobTypes?: string[];
}
export interface ClaimedJob {
  jobId: string;
  jobType: RpaJobTypeName;
  input: unknown;
  leaseId: string;
  leaseExpiresAt: string;
  deadline: string;
  /** 1 for the first claim; more when earlier leases were lost. */
  claim: number;
  taskToken: string;
}

export interface LeaseRequest {
  jobId: string;
  bot: string;
  leaseId: string;
}
export interface HeartbeatRequest extends LeaseRequest {
  leaseMs?: number;
}
export interface CompleteRequest extends LeaseRequest {
  result: unknown;
}
export interface FailRequest extends LeaseRequest {
  code: string;
  message: string;
  retryable: boolean;
}
export interface LeaseReceipt {
  jobId: string;
  state: RpaJobState;
  leaseExpiresAt?: string;
  taskToken: string;
  outcome?: RpaJobOutcome;
  claims: number;
}
export interface CancelRequest {
  jobId: string;
  reason: string;
}

/** Validator refusals (ApplicationFailure types); the intake maps each to an HTTP status. */
export const RpaRefusal = {
  NoJob: 'no-job',
  NotFound: 'not-found',
  NotHolder: 'not-lease-holder',
  LeaseExpired: 'lease-expired',
  Finished: 'job-finished',
  QueueFull: 'queue-full',
  Invalid: 'invalid-request',
} as const;
export type RpaRefusal = (typeof RpaRefusal)[keyof typeof RpaRefusal];

export const enqueueUpdate = defineUpdate<EnqueueReceipt, [EnqueueRequest]>('enqueue');
export const claimUpdate = defineUpdate<ClaimedJob, [ClaimRequest]>('claim');
export const heartbeatUpdate = defineUpdate<LeaseReceipt, [HeartbeatRequest]>('heartbeat');
export const completeUpdate = defineUpdate<LeaseReceipt, [CompleteRequest]>('complete');
export const failUpdate = defineUpdate<LeaseReceipt, [FailRequest]>('fail');
export const cancelUpdate = defineUpdate<LeaseReceipt, [CancelRequest]>('cancel');
export const jobQuery = defineQuery<RpaJobView | null, [string]>('job');
export const jobsQuery = defineQuery<RpaJobView[]>('jobs');

/** What the dispatch activity returns when a bot completed the job. */
export interface RpaCompletion<R = unknown> {
  jobId: string;
  bot: string;
  result: R;
  completedAt: string;
  claims: number;
}
