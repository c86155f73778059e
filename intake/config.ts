import { z } from 'zod';
import { Bool, CsvList, Duration, parseEnv, Port, TemporalConfig, type Env } from '../src/config.js';
import { CORRELATION_FIELDS } from '../src/events/correlation.js';

const IntakeKey = z.object({
  id: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'key id: 1-64 letters, digits, dot, dash or underscore'),
  secret: z.string().min(32, 'secret must be at least 32 characters'),
  /** Sources this key may post to; "*" for all. */
  sources: z.array(z.string().min(1)).min(1).default(['*']),
});
export type IntakeKey = z.infer<typeof IntakeKey>;

const JsonKeys = z.string().transform((s, ctx) => {
  try {
    return JSON.parse(s) as unknown;
  } catch {
    ctx.addIssue({ code: 'custom', message: 'must be a JSON array of {"id","secret","sources"?}' });
    return z.NEVER;
  }
});

export const IntakeConfig = TemporalConfig.extend({
  VIGIL_INTAKE_HOST: z.string().min(1).default('127.0.0.1'),
  VIGIL_INTAKE_PORT: Port.default(8088),
  VIGIL_INTAKE_KEYS: JsonKeys.pipe(z.array(IntakeKey).min(1, 'configure at least one signing key')).refine(
    (keys) => new Set(keys.map((k) => k.id)).size === keys.length,
    'key ids must be unique',
  ),
  /** sha256 (hex) of the admin bearer token for /v1/admin and /metrics; the token itself is never configured. */
  VIGIL_ADMIN_TOKEN_SHA256: z.string().regex(/^[0-9a-f]{64}$/, 'must be the hex sha256 of the admin token'),
  VIGIL_METRICS_PUBLIC: Bool.default(false),
  VIGIL_BODY_LIMIT: z.coerce
    .number()
    .int()
    .min(1024)
    .max(64 * 1024 * 1024)
    .default(1024 * 1024),
  VIGIL_REPLAY_WINDOW: Duration.default(300_000),
  VIGIL_CORRELATION_KEY: CsvList.pipe(z.array(z.enum(CORRELATION_FIELDS)).min(1)).default(['host', 'rule']),
  VIGIL_DATA_DIR: z.string().min(1).default('.vigil'),
  /** Temporal calls in flight beyond which the intake answers 429 (back-pressure, not a silent drop). */
  VIGIL_MAX_INFLIGHT: z.coerce.number().int().min(1).max(100_000).default(512),
  VIGIL_TEMPORAL_TIMEOUT: Duration.default(5_000),
});
export type IntakeConfig = z.infer<typeof IntakeConfig>;

export function loadIntakeConfig(env: Env): IntakeConfig {
  return parseEnv(IntakeConfig, env, 'intake configuration');
}
