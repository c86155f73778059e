/**
 * The containment contract shared by the playbooks, the endpoint agent and the EDR adapters.
 * A playbook asks for one action on one host; whoever executes it (the agent on that host's task queue,
 * or an EDR vendor chosen by config for hosts without an agent) answers with a `ResponseResult`.
 * Every request carries an idempotency key (workflow id + activity label): a retried or duplicated
 * request has exactly one effect, and the second answer says so (`already`).
 */
import { z } from 'zod';

/** The closed list of containment actions a responder may execute, with their inverse. */
export const CONTAINMENT_ACTIONS = [
  'suspend-process',
  'kill-process-tree',
  'quarantine-file',
  'block-process-network',
  'isolate-host',
  'lock-local-account',
] as const;
export type ContainmentAction = (typeof CONTAINMENT_ACTIONS)[number];

/** What `undo` means per action; `kill-process-tree` has no undo. */
export const UNDO_NAME: Record<ContainmentAction, string | null> = {
  'suspend-process': 'resume-process',
  'kill-process-tree': null,
  'quarantine-file': 'restore-file',
  'block-process-network': 'unblock-process-network',
  'isolate-host': 'release-host',
  'lock-local-account': 'unlock-local-account',
};

export function isContainmentAction(a: string): a is ContainmentAction {
  return (CONTAINMENT_ACTIONS as readonly string[]).includes(a);
}

/**
 * The process the event named. `startTime` (ISO) and `executable` pin the identity: a responder refuses
 * to act when the pid now names another process (pid reuse).
 */
export const ProcessTarget = z.strictObject({
  pid: z.number().int().positive(),
  startTime: z.string().optional(),
  executable: z.string().optional(),
});
export type ProcessTarget = z.infer<typeof ProcessTarget>;

export const FileTarget = z.strictObject({
  path: z.string().min(1).startsWith('/'),
  /** Expected sha256 (hex) if the event carried one: a file that changed since is refused. */
  sha256: z
    .string()
    .regex(/^[0-9a-f]{64}$/)
    .optional(),
  /**
   * The file's sha1 (hex), when the event carried one. EDR vendors identify files by hash (Defender's
   * StopAndQuarantineFile takes only a Sha1); the local agent ignores it.
   */
  sha1: z
    .string()
    .regex(/^[0-9a-f]{40}$/)
    .optional(),
});
export type FileTarget = z.infer<typeof FileTarget>;

export const HostTarget = z.strictObject({
  /** Extra addresses (CIDR or IP) to keep reachable beside the configured management allowlist. */
  allow: z.array(z.string()).max(64).optional(),
});
export type HostTarget = z.infer<typeof HostTarget>;

export const AccountTarget = z.strictObject({
  account: z
    .string()
    .min(1)
    .max(64)
    .regex(/^[a-z_][a-z0-9_.-]*\$?$/i),
});
export type AccountTarget = z.infer<typeof AccountTarget>;

/** The parameters of each action (the same object an approval is bound to, minus `host`). */
export const ACTION_PARAMS = {
  'suspend-process': ProcessTarget,
  'kill-process-tree': ProcessTarget,
  'quarantine-file': FileTarget,
  'block-process-network': ProcessTarget,
  'isolate-host': HostTarget,
  'lock-local-account': AccountTarget,
} as const satisfies Record<ContainmentAction, z.ZodType>;

export const ResponseRequest = z.strictObject({
  action: z.enum(CONTAINMENT_ACTIONS),
  /** `apply` the action, or `undo` an earlier one (resume, restore, unblock, release, unlock). */
  op: z.enum(['apply', 'undo']),
  host: z.string().min(1),
  params: z.record(z.string(), z.unknown()),
  /** Stable across retries: workflow id + activity label. The same key never has two effects. */
  idempotencyKey: z.string().min(8).max(400),
  /** Describe what would be done, change nothing. */
  dryRun: z.boolean().default(false),
  incidentId: z.string().min(1),
  /** When the policy decided (ISO): the agent reports the time from decision to effect. */
  decidedAt: z.string().optional(),
});
export type ResponseRequest = z.input<typeof ResponseRequest>;

export const RESPONSE_STATUSES = [
  /** The effect is in place now (and verified by its post-condition). */
  'applied',
  /** The undo is in place now (verified). */
  'undone',
  /** Nothing changed: what would have been done is in `plan`. */
  'dry-run',
] as const;

export const ResponseResult = z.strictObject({
  action: z.enum(CONTAINMENT_ACTIONS),
  op: z.enum(['apply', 'undo']),
  host: z.string(),
  status: z.enum(RESPONSE_STATUSES),
  /** True when this key had already taken effect: the answer repeats the first one, nothing new was done. */
  already: z.boolean(),
  /** Who executed it: `agent` or the EDR vendor's name. */
  responder: z.string(),
  /** What was (or would be) done, for the decision record and the analyst. */
  plan: z.array(z.string()),
  /** What the post-condition check saw (e.g. "/proc/123/stat state T"). */
  verified: z.string(),
  /** Facts an undo needs and the analyst wants: vault id and sha256, pids stopped, the rule handle. */
  effect: z.record(z.string(), z.unknown()),
  at: z.string(),
  /** Milliseconds from `decidedAt` to the effect, when the request carried it. */
  decisionToEffectMs: z.number().optional(),
});
export type ResponseResult = z.infer<typeof ResponseResult>;

/** Anything that executes containment: the local agent's responder or an EDR vendor's. */
export interface Responder {
  /** `agent` or the vendor's name. */
  readonly name: string;
  execute(req: ResponseRequest): Promise<ResponseResult>;
  /** Whether this idempotency key was started before (a crashed attempt to finish, not a new action). */
  known?(key: string): boolean | Promise<boolean>;
  close(): void | Promise<void>;
}

/** How a containment request reached the executor: the kill switch stops only automatic ones. */
export const CONTAINMENT_MODES = ['automatic', 'approved', 'undo'] as const;
export type ContainmentMode = (typeof CONTAINMENT_MODES)[number];

export interface ContainmentInput {
  request: ResponseRequest;
  mode: ContainmentMode;
  /** The approval that granted it (mode `approved`). */
  approvalId?: string;
  /** The playbook task queue whose automation control (kill switch) governs this action. */
  controlQueue?: string;
  /**
   * Mode `automatic`: the workflow time taken just BEFORE the automation control granted the slot (so at
   * or before the kill-switch check that came with it). An executor that starts the action within
   * KILL_SWITCH_FRESH_MS of it skips its own kill-switch query: the switch still bites within a second.
   */
  killSwitchCheckedAt?: string;
}

/** How long the kill-switch check of a slot grant stands in for the executor's own query. */
export const KILL_SWITCH_FRESH_MS = 500;

/**
 * One applied, reversible containment, held by a `containment` workflow (id `containment-<incident>-<action>`)
 * that outlives the incident run: it lifts the effect after `liftAt` unless an analyst extends it, or when
 * an operator releases it. The undo runs on the same executor that applied it.
 */
export interface ContainmentHold {
  incidentId: string;
  action: ContainmentAction;
  host: string;
  params: Record<string, unknown>;
  /** The executor's task queue (the agent's or the EDR worker's). */
  taskQueue: string;
  appliedAt: string;
  /** When the effect lifts itself, unless extended; absent = held until released. */
  liftAt?: string;
  /** A hold without a timer still ends after this long, leaving the effect in place (recorded). */
  maxHoldMs: number;
  scheduleToStartMs: number;
  result: ResponseResult;
}

export interface ContainmentState extends ContainmentHold {
  status: 'active' | 'released' | 'lift-failed' | 'abandoned';
  history: { at: string; by: string; what: string }[];
  undo?: ResponseResult;
  error?: string;
}

export interface ExtendRequest {
  operator: string;
  role: string;
  /** How much longer than now the effect stays. */
  forMs: number;
  reason: string;
}
export interface ReleaseRequest {
  operator: string;
  role: string;
  reason: string;
}
