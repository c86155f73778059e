import { z } from 'zod';
import { Bool, Duration, parseEnv, type Env } from '../../src/config.js';

/**
 * Edge capture on the endpoint agent (optional per agent). Off unless VIGIL_AGENT_CAPTURE=true; the local
 * pre-filter (the same signed model, verified the same way) only when VIGIL_AGENT_MODEL_DIR is set, so an
 * agent without it never loads onnxruntime. Key trust and revocation use the scoring keys
 * (VIGIL_MODEL_KEYS_DIR, VIGIL_MODEL_TRUSTED_KEYS, VIGIL_MODEL_REVOKED, VIGIL_MODEL_REVOKED_FILE).
 */
export const CaptureConfig = z.object({
  VIGIL_AGENT_CAPTURE: Bool.default(false),
  /** the strace binary (Debian package strace) */
  VIGIL_STRACE_PATH: z.string().min(1).default('/usr/bin/strace'),
  /** the longest capture a caller may ask for */
  VIGIL_CAPTURE_MAX_SECONDS: z.coerce.number().gt(0).max(300).default(30),
  /** calls kept per capture at most (strace is stopped when reached) */
  VIGIL_CAPTURE_MAX_CALLS: z.coerce.number().int().min(1).max(200_000).default(50_000),
  /** how far a process's start time may be from the one the caller names (same key as the responder's) */
  VIGIL_AGENT_PID_START_TOLERANCE: Duration.pipe(z.number().max(60_000)).default(1010),
  /** the pre-filter's model folder; unset: no local scoring */
  VIGIL_AGENT_MODEL_DIR: z.string().min(1).optional(),
  /** the pre-filter's threshold: a manifest threshold name or a number in (0, 1); default the manifest's */
  VIGIL_AGENT_MODEL_THRESHOLD: z
    .union([z.enum(['detect90', 'detect99']), z.coerce.number().gt(0).lt(1)])
    .optional(),
});
export type CaptureConfig = z.infer<typeof CaptureConfig>;

export function loadCaptureConfig(env: Env): CaptureConfig {
  return parseEnv(CaptureConfig, env, 'syscall capture configuration');
}
