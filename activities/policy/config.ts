import { join } from 'node:path';
import { z } from 'zod';
import { parseEnv, type Env } from '../../src/config.js';

export function loadPolicyConfig(env: Env, root: string) {
  return parseEnv(
    z.object({ VIGIL_POLICY_DIR: z.string().min(1).default(join(root, 'policies')) }),
    env,
    'policy configuration',
  );
}
