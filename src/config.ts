/**
 * Configuration: env-style keys validated with zod once at start-up. A bad or missing key stops the
 * process with a message that names the key (ConfigError). Each process and activity group declares
 * its own schema; this file holds the shared keys and helpers.
 */
import { z } from 'zod';
import { ConfigError } from './errors.js';

export type Env = Record<string, string | undefined>;

/** Parse `env` with `schema`; on failure throw a ConfigError naming every bad key. */
export function parseEnv<S extends z.ZodType>(schema: S, env: Env, context = 'configuration'): z.infer<S> {
  const r = schema.safeParse(env);
  if (r.success) return r.data;
  throw new ConfigError(
    r.error.issues.map((i) => ({
      key: i.path.map(String).join('.') || '(root)',
      // zod does not report the input: "not set" only when the key really is absent from the environment.
      message:
        i.code === 'invalid_type' && env[String(i.path[0])] === undefined
          ? 'is required but not set'
          : i.message,
    })),
    context,
  );
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** A duration such as `250ms`, `30s`, `15m`, `2h`, `30d` (a bare number is milliseconds) -> ms. */
export const Duration = z.string().transform((s, ctx) => {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(s);
  if (!m) {
    ctx.addIssue({ code: 'custom', message: `"${s}" is not a duration like 500ms, 30s, 15m, 2h or 30d` });
    return z.NEVER;
  }
  return Math.round(Number(m[1]) * (UNITS[m[2] ?? 'ms'] ?? 1));
});

export const Port = z.coerce.number().int().min(0).max(65535);

export const Bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

/** `host:port` (port 0-65535) */
export const HostPort = z
  .string()
  .regex(/^[^\s:]+:\d{1,5}$|^\[[0-9a-fA-F:]+\]:\d{1,5}$/, 'expected host:port')
  .refine((s) => Number(s.slice(s.lastIndexOf(':') + 1)) <= 65535, 'the port must be 0-65535');

/** A comma-separated list. */
export const CsvList = z.string().transform((s) =>
  s
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean),
);

/** Keys every process that talks to Temporal reads. */
export const TemporalConfig = z.object({
  TEMPORAL_ADDRESS: HostPort.default('127.0.0.1:7233'),
  TEMPORAL_NAMESPACE: z.string().min(1).default('vigil'),
  VIGIL_TASK_QUEUE: z.string().min(1).default('vigil-playbooks'),
});
export type TemporalConfig = z.infer<typeof TemporalConfig>;

/** The automation budget a new deployment starts with (operators change it with `vigil automation budget`). */
export const AutomationConfig = z.object({
  VIGIL_AUTOMATION_BUDGET: z.coerce.number().int().min(0).max(100_000).default(20),
  VIGIL_AUTOMATION_WINDOW: Duration.default(3600_000),
});
