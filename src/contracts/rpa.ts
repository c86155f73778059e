/**
 * RPA job types: what a playbook may hand to a bot, and what a bot must answer. A bot's result is
 * validated against its type's schema at the intake, before the queue workflow (and the playbook) see
 * it. Schemas are strict: an unknown key is an error, so a bot cannot smuggle extra data (a new password,
 * a token) into the workflow history. Adding a job type: its name in rpa-queue.ts, an entry here.
 */
import { z } from 'zod';
import {
  RPA_JOB_ID_PATTERN,
  RPA_JOB_TYPE_NAMES,
  RPA_LIMITS,
  RPA_QUEUE_PATTERN,
  type RpaJobTypeName,
} from './rpa-queue.js';

export const RpaQueueName = z
  .string()
  .regex(
    RPA_QUEUE_PATTERN,
    'queue: 1-63 lowercase letters, digits or dashes, starting with a letter or digit',
  );
export const RpaJobType = z.enum(RPA_JOB_TYPE_NAMES);
export const RpaJobId = z.string().regex(RPA_JOB_ID_PATTERN, 'jobId: 1-128 letters, digits, . _ : -');

const IsoTime = z.iso.datetime({ offset: true });
const Sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'lowercase hex sha256');
const HostName = z
  .string()
  .min(1)
  .max(255)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'a host name');
const AbsolutePath = z
  .string()
  .min(2)
  .max(4096)
  .startsWith('/', 'an absolute path')
  .refine((p) => !p.includes('\0'), 'no NUL bytes')
  .refine((p) => !p.split('/').includes('..'), 'no ".." segments');
const Account = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9_][A-Za-z0-9_.@-]*\$?$/, 'an account name');
const SystemName = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[a-z0-9][a-z0-9._-]*$/, 'a system name (lowercase)');

/** collect-evidence: hash one file on the bot's host and report its metadata (read-only). */
export const CollectEvidenceInput = z.strictObject({
  path: AbsolutePath,
  /** Refuse files larger than this (bytes). */
  maxBytes: z
    .number()
    .int()
    .positive()
    .max(2 ** 40)
    .optional(),
});
export const CollectEvidenceResult = z.strictObject({
  host: HostName,
  path: AbsolutePath,
  sha256: Sha256,
  size: z.number().int().nonnegative(),
  /** Permission bits, octal (e.g. "0644"). */
  mode: z.string().regex(/^0[0-7]{3,4}$/, 'octal permission bits like 0644'),
  uid: z.number().int().nonnegative(),
  gid: z.number().int().nonnegative(),
  inode: z.number().int().nonnegative(),
  mtime: IsoTime,
  ctime: IsoTime,
  collectedAt: IsoTime,
});

/**
 * reset-password: the bot resets an account's password in a system it drives (a help-desk console, an
 * AD tool). The new secret never comes back: the bot hands it to the owner out of band, and the strict
 * result schema refuses any extra key (a `password` field is a 400, not a history entry).
 */
export const ResetPasswordInput = z.strictObject({
  account: Account,
  system: SystemName,
  reason: z.string().min(1).max(500),
});
export const ResetPasswordResult = z.strictObject({
  account: Account,
  system: SystemName,
  resetAt: IsoTime,
  mustChangeAtNextLogon: z.boolean(),
  deliveredTo: z.enum(['owner-email', 'manager', 'helpdesk']),
});

/** lookup-asset: the bot reads a host's record in an inventory (CMDB) it can reach. */
export const LookupAssetInput = z.strictObject({ host: HostName });
export const LookupAssetResult = z.strictObject({
  host: HostName,
  found: z.boolean(),
  owner: z.string().max(200).optional(),
  department: z.string().max(200).optional(),
  os: z.string().max(200).optional(),
  criticality: z.enum(['low', 'medium', 'high', 'critical']).optional(),
  tags: z.array(z.string().max(64)).max(32).optional(),
});

export const RPA_JOB_TYPES = {
  'collect-evidence': {
    description: 'hash a file and report its metadata',
    input: CollectEvidenceInput,
    result: CollectEvidenceResult,
  },
  'reset-password': {
    description: "reset an account's password; the secret goes to its owner out of band",
    input: ResetPasswordInput,
    result: ResetPasswordResult,
  },
  'lookup-asset': {
    description: 'look a host up in the asset inventory',
    input: LookupAssetInput,
    result: LookupAssetResult,
  },
} as const satisfies Record<RpaJobTypeName, { description: string; input: z.ZodType; result: z.ZodType }>;

export type RpaJobInput<T extends RpaJobTypeName> = z.infer<(typeof RPA_JOB_TYPES)[T]['input']>;
export type RpaJobResult<T extends RpaJobTypeName> = z.infer<(typeof RPA_JOB_TYPES)[T]['result']>;

export type Checked<T> = { ok: true; value: T } | { ok: false; issues: string[] };

const issuesOf = (e: z.ZodError, prefix = '') =>
  e.issues.map(
    (i) => `${[prefix, ...i.path.map(String)].filter(Boolean).join('.') || '(root)'}: ${i.message}`,
  );

const jsonBytes = (v: unknown) => Buffer.byteLength(JSON.stringify(v) ?? '', 'utf8');

/** Check a bot's result against its job type (and the size bound) before anything else sees it. */
export function checkRpaResult(jobType: string, result: unknown): Checked<unknown> {
  const t = RpaJobType.safeParse(jobType);
  if (!t.success) return { ok: false, issues: [`jobType: unknown job type "${jobType.slice(0, 64)}"`] };
  const r = RPA_JOB_TYPES[t.data].result.safeParse(result);
  if (!r.success) return { ok: false, issues: issuesOf(r.error, 'result') };
  if (jsonBytes(r.data) > RPA_LIMITS.resultBytes)
    return { ok: false, issues: [`result: larger than ${RPA_LIMITS.resultBytes} bytes`] };
  return { ok: true, value: r.data };
}

/** Check a job's input against its type (and the size bound). */
export function checkRpaInput(jobType: string, input: unknown): Checked<unknown> {
  const t = RpaJobType.safeParse(jobType);
  if (!t.success) return { ok: false, issues: [`jobType: unknown job type "${jobType.slice(0, 64)}"`] };
  const r = RPA_JOB_TYPES[t.data].input.safeParse(input);
  if (!r.success) return { ok: false, issues: issuesOf(r.error, 'input') };
  if (jsonBytes(r.data) > RPA_LIMITS.inputBytes)
    return { ok: false, issues: [`input: larger than ${RPA_LIMITS.inputBytes} bytes`] };
  return { ok: true, value: r.data };
}

/** What a bot reports when it could not do the job. */
export const RpaFailureReport = z.strictObject({
  leaseId: z.string().min(1).max(64),
  code: z.string().regex(/^[a-z0-9][a-z0-9-]{0,63}$/, 'code: lowercase letters, digits, dashes (max 64)'),
  message: z.string().min(1).max(RPA_LIMITS.failureMessageChars),
  /** true: another claim may succeed (the job goes back to the queue while claims remain). */
  retryable: z.boolean().default(false),
});

/** The dispatch activity's input. */
export const DispatchRpaJobInput = z
  .strictObject({
    queue: RpaQueueName,
    jobType: RpaJobType,
    input: z.unknown(),
    /** When the job stops being useful (ISO); the queue drops it then and the playbook sees a timeout. */
    deadline: IsoTime,
    /** Stable across retries; default: derived from the workflow and activity ids. */
    jobId: RpaJobId.optional(),
    /** Leases a job may lose (dead bots) before it fails as `leases-exhausted`. */
    maxClaims: z.number().int().min(1).max(RPA_LIMITS.maxClaims).default(3),
  })
  .superRefine((v, ctx) => {
    const c = checkRpaInput(v.jobType, v.input);
    if (!c.ok) for (const message of c.issues) ctx.addIssue({ code: 'custom', message, path: ['input'] });
  });
export type DispatchRpaJobInput = z.input<typeof DispatchRpaJobInput>;
