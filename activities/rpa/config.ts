import { z } from 'zod';
import { Duration, parseEnv, type Env } from '../../src/config.js';

export const RpaConfig = z.object({
  /** Open jobs (pending + leased) one queue holds before a new dispatch is refused for a while. */
  VIGIL_RPA_MAX_JOBS: z.coerce.number().int().min(1).max(1000).default(200),
  /** Deadline of one call to the queue workflow (enqueue). */
  VIGIL_RPA_TIMEOUT: Duration.default(10_000),
});
export type RpaConfig = z.infer<typeof RpaConfig>;

export function loadRpaConfig(env: Env): RpaConfig {
  return parseEnv(RpaConfig, env, 'RPA configuration');
}
