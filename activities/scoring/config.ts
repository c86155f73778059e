import { join } from 'node:path';
import { z } from 'zod';
import { CsvList, HostPort, parseEnv, type Env } from '../../src/config.js';

const Sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'a sha256 is 64 hex digits');

export function scoringConfigSchema(root: string) {
  return z.object({
    /** the model folder: model.onnx, manifest.json, manifest.sig */
    VIGIL_MODEL_DIR: z
      .string()
      .min(1)
      .default(join(root, 'models', 'syscall-anomaly')),
    /** where key ids in VIGIL_MODEL_TRUSTED_KEYS are looked up as <id>.pub */
    VIGIL_MODEL_KEYS_DIR: z
      .string()
      .min(1)
      .default(join(root, 'models', 'keys')),
    /** comma list of public key files (PEM) or key ids; unset: every <id>.pub in VIGIL_MODEL_KEYS_DIR */
    VIGIL_MODEL_TRUSTED_KEYS: CsvList.optional(),
    /** comma list of sha256 of model.onnx files that must not be loaded */
    VIGIL_MODEL_REVOKED: CsvList.pipe(z.array(z.string().toLowerCase().pipe(Sha256))).default([]),
    /** a file of revoked model.onnx sha256 (one a line, # comments); re-read when it changes */
    VIGIL_MODEL_REVOKED_FILE: z.string().min(1).optional(),
    /** a candidate model scored beside the active one (recorded, never deciding) */
    VIGIL_MODEL_SHADOW_DIR: z.string().min(1).optional(),
    /** host:port of the worker's scoring metrics endpoint (/metrics, Prometheus text) */
    VIGIL_SCORING_METRICS: HostPort.optional(),
    /** which manifest threshold flags a trace (detect90, detect99), or a number in (0, 1) */
    VIGIL_MODEL_THRESHOLD: z
      .union([z.enum(['detect90', 'detect99']), z.coerce.number().gt(0).lt(1)])
      .optional(),
    /**
     * which scored events get TreeSHAP attributions (tens of ms each): flagged (the default: only those at
     * or above the threshold, the ones that move the decision), or always (every scored event)
     */
    VIGIL_MODEL_ATTRIBUTIONS: z.enum(['always', 'flagged']).default('flagged'),
    /**
     * intra-op threads for batches of 256 rows or more (`vigil model eval`/`compare`, batch scoring); a
     * second session, created on first use. Single-event scoring always runs on one thread.
     */
    VIGIL_MODEL_BATCH_THREADS: z.coerce.number().int().min(1).max(16).default(1),
    /** attributions returned per score */
    VIGIL_MODEL_TOP_K: z.coerce.number().int().min(0).max(50).default(5),
  });
}
export type ScoringConfig = z.infer<ReturnType<typeof scoringConfigSchema>>;

export function loadScoringConfig(env: Env, root: string): ScoringConfig {
  return parseEnv(scoringConfigSchema(root), env, 'model scoring configuration');
}
