import { join } from 'node:path';
import { z } from 'zod';
import { parseEnv, type Env } from '../../src/config.js';

export function loadEnrichmentConfig(env: Env, root: string) {
  return parseEnv(
    z.object({
      VIGIL_ATTACK_TABLE: z
        .string()
        .min(1)
        .default(join(root, 'data', 'attack', 'techniques.json')),
    }),
    env,
    'enrichment configuration',
  );
}
