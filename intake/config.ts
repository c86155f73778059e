import { z } from 'zod';
import { Bool, CsvList, Duration, parseEnv, Port, TemporalConfig, type Env } from '../src/config.js';
import { CORRELATION_FIELDS } from '../src/events/correlation.js';

const KeyId = z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'id: 1-64 letters, digits, dot, dash or underscore');
const Sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'must be a lowercase hex sha256');
/** Sources this credential may post to; "*" for all. */
const Sources = z.array(z.string().min(1)).min(1).default(['*']);
/**
 * Hosts this credential may report on (host ids; `*` is a wildcard inside a pattern, `["*"]` any host).
 * Required: one leaked credential must not raise incidents (and trigger containment) for other hosts.
 */
const Hosts = z
  .array(z.string().min(1).max(255))
  .min(1, 'name the hosts this credential may report on (["*"] for any)');

const IntakeKey = z.object({
  id: KeyId,
  secret: z.string().min(32, 'secret must be at least 32 characters'),
  sources: Sources,
  hosts: Hosts,
});
export type IntakeKey = z.infer<typeof IntakeKey>;

/** A static token for senders that cannot sign (Falcosidekick's webhook headers, log shippers); only its hash is configured. */
const IntakeToken = z.object({ id: KeyId, sha256: Sha256Hex, sources: Sources, hosts: Hosts });
export type IntakeToken = z.infer<typeof IntakeToken>;

/** An osquery enroll secret (TLS enroll plugin); nodes that enroll with it get a node key bound to their host. */
const EnrollSecret = z.object({ id: KeyId, sha256: Sha256Hex, hosts: Hosts });
export type EnrollSecret = z.infer<typeof EnrollSecret>;

const jsonArray = (what: string) =>
  z.string().transform((s, ctx) => {
    try {
      return JSON.parse(s) as unknown;
    } catch {
      ctx.addIssue({ code: 'custom', message: `must be a JSON array of ${what}` });
      return z.NEVER;
    }
  });
const uniqueIds = (xs: { id: string }[]) => new Set(xs.map((x) => x.id)).size === xs.length;

export const IntakeConfig = TemporalConfig.extend({
  VIGIL_INTAKE_HOST: z.string().min(1).default('127.0.0.1'),
  VIGIL_INTAKE_PORT: Port.default(8088),
  VIGIL_INTAKE_KEYS: jsonArray('{"id","secret","sources"?,"hosts"}')
    .pipe(z.array(IntakeKey))
    .refine(uniqueIds, 'key ids must be unique')
    .default([]),
  VIGIL_INTAKE_TOKENS: jsonArray('{"id","sha256","sources"?,"hosts"}')
    .pipe(z.array(IntakeToken))
    .refine(uniqueIds, 'token ids must be unique')
    .default([]),
  VIGIL_OSQUERY_ENROLL_SECRETS: jsonArray('{"id","sha256","hosts"}')
    .pipe(z.array(EnrollSecret))
    .refine(uniqueIds, 'enroll secret ids must be unique')
    .default([]),
  /** Per-sender rate limit: sustained events per second and the burst above it. */
  VIGIL_RATE_LIMIT: z.coerce.number().min(0.1).max(1_000_000).default(2000),
  VIGIL_RATE_BURST: z.coerce.number().int().min(1).max(10_000_000).default(4000),
  /** sha256 (hex) of the admin bearer token for /v1/admin and /metrics; the token itself is never configured. */
  VIGIL_ADMIN_TOKEN_SHA256: z.string().regex(/^[0-9a-f]{64}$/, 'must be the hex sha256 of the admin token'),
  VIGIL_METRICS_PUBLIC: Bool.default(false),
  /**
   * Group commit per incident (the `detections` signal). Off: every event goes alone as `detection`, for a
   * rolling upgrade whose playbook workers do not have the `detections` handler yet.
   */
  VIGIL_INTAKE_GROUP_COMMIT: Bool.default(true),
  VIGIL_BODY_LIMIT: z.coerce
    .number()
    .int()
    .min(1024)
    .max(64 * 1024 * 1024)
    .default(1024 * 1024),
  VIGIL_REPLAY_WINDOW: Duration.pipe(
    z.number().min(1000, 'at least 1s (every signed request would be stale)').max(3_600_000, 'at most 1h'),
  ).default(300_000),
  VIGIL_CORRELATION_KEY: CsvList.pipe(z.array(z.enum(CORRELATION_FIELDS)).min(1)).default(['host', 'rule']),
  VIGIL_DATA_DIR: z.string().min(1).default('.vigil'),
  /** Temporal calls in flight beyond which the intake answers 429 (back-pressure, not a silent drop). */
  VIGIL_MAX_INFLIGHT: z.coerce.number().int().min(1).max(100_000).default(512),
  VIGIL_TEMPORAL_TIMEOUT: Duration.pipe(
    z.number().min(100, 'at least 100ms (every Temporal call would time out)').max(600_000, 'at most 10m'),
  ).default(5_000),
  /** The Cedar policies (the approval API re-checks them before the workflow's own check); default: the repo's policies/. */
  VIGIL_POLICY_DIR: z.string().min(1).optional(),
  /** The Temporal UI's origin, allowed to call the codec endpoint (CORS). */
  VIGIL_CODEC_CORS_ORIGIN: z.string().url().optional(),
  /** Dev stack only: serve the codec endpoint to that origin on loopback without a token. */
  VIGIL_CODEC_DEV_OPEN: Bool.default(false),
});
export type IntakeConfig = z.infer<typeof IntakeConfig>;

const Credentials = IntakeConfig.refine(
  (c) =>
    c.VIGIL_INTAKE_KEYS.length + c.VIGIL_INTAKE_TOKENS.length + c.VIGIL_OSQUERY_ENROLL_SECRETS.length > 0,
  {
    path: ['VIGIL_INTAKE_KEYS'],
    message:
      'configure at least one credential (VIGIL_INTAKE_KEYS, VIGIL_INTAKE_TOKENS or VIGIL_OSQUERY_ENROLL_SECRETS)',
  },
).refine(
  (c) => {
    const ids = [...c.VIGIL_INTAKE_KEYS, ...c.VIGIL_INTAKE_TOKENS, ...c.VIGIL_OSQUERY_ENROLL_SECRETS].map(
      (x) => x.id,
    );
    return new Set(ids).size === ids.length;
  },
  {
    path: ['VIGIL_INTAKE_TOKENS'],
    message:
      'credential ids must be unique across keys, tokens and enroll secrets (they name the sender in metrics and dead letters)',
  },
);

export function loadIntakeConfig(env: Env): IntakeConfig {
  return parseEnv(Credentials, env, 'intake configuration');
}
