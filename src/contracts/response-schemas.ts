/**
 * The zod schemas of the containment contract (src/contracts/response.ts): what the agent and the EDR
 * responders check every request and answer against. Kept apart from the constants and types, which the
 * workflow code imports: workflow code must not import this module.
 */
import { z } from 'zod';
import { CONTAINMENT_ACTIONS, RESPONSE_STATUSES, type ContainmentAction } from './response.js';

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
  path: z
    .string()
    .min(1)
    .startsWith('/')
    .refine((s) => !s.includes('\0'), 'must not contain a NUL byte'),
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

/** A reservation of an automation slot for one automatic action (src/contracts/automation.ts). */
export const ReserveInput = z.strictObject({
  key: z.string().min(1),
  incidentId: z.string().min(1),
  action: z.enum(CONTAINMENT_ACTIONS),
  host: z.string().min(1),
  at: z.string(),
});
