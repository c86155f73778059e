/**
 * Scoring: the syscall-anomaly model's P(attack) for one process's syscall sequence, with the threshold
 * it is compared to and exact TreeSHAP attributions (top k by |contribution|). Pure computation on a
 * model verified at worker start; safe to retry. A refused model (unsigned, bad signature, tampered,
 * revoked) makes every call fail with a non-retryable Misconfigured failure, so the playbook falls back
 * to a human instead of trusting an unverified score.
 */
import { z } from 'zod';
import { ErrorType } from '../../src/errors.js';
import { failure, parseInput } from '../lib/failures.js';
import { ModelRejected, thresholdOf, type Attribution, type ScoringModel } from './model.js';
import { treeShapAsync } from './treeshap.js';

export const ScoreEventInput = z.object({
  /** syscall names in order (x86_64 or i386 spellings: stat64, mmap2, socketcall, ... are mapped) */
  syscalls: z.array(z.string().min(1).max(64)).max(200_000),
  /** attributions to return (default VIGIL_MODEL_TOP_K) */
  topK: z.number().int().min(0).max(50).optional(),
});
export type ScoreEventInput = z.infer<typeof ScoreEventInput>;

export interface ScoreEventResult {
  modelId: string;
  version: string;
  sha256: string;
  /** P(attack) from onnxruntime */
  score: number;
  threshold: number;
  aboveThreshold: boolean;
  /** margin space of the attributions ("probability": a forest's vote share) */
  space: 'probability' | 'logit';
  /** expected margin over the training data; baseValue + sum of all contributions = the margin */
  baseValue: number;
  /** calls counted after mapping (ignored names such as clock_gettime are dropped) */
  calls: number;
  attributions: Attribution[];
}

export interface ScoringOptions {
  /** VIGIL_MODEL_THRESHOLD: a manifest threshold name or a number */
  threshold?: string | number;
  /** VIGIL_MODEL_TOP_K */
  topK?: number;
}

/** Top k attributions by |contribution| (ties by feature order), zero contributions left out. */
export function topAttributions(
  names: readonly string[],
  x: ArrayLike<number>,
  phi: ArrayLike<number>,
  k: number,
): Attribution[] {
  const idx = Array.from({ length: names.length }, (_, i) => i).filter((i) => phi[i] !== 0);
  idx.sort((a, b) => Math.abs(phi[b]!) - Math.abs(phi[a]!) || a - b);
  return idx.slice(0, k).map((i) => ({ feature: names[i]!, value: x[i]!, contribution: phi[i]! }));
}

export function createScoringActivities(model: ScoringModel | ModelRejected, opts: ScoringOptions = {}) {
  const threshold = model instanceof ModelRejected ? NaN : thresholdOf(model.manifest, opts.threshold);
  return {
    scoreEvent: async (input: ScoreEventInput): Promise<ScoreEventResult> => {
      const { syscalls, topK } = parseInput(ScoreEventInput, input, 'scoreEvent');
      if (model instanceof ModelRejected) {
        throw failure(ErrorType.Misconfigured, `scoring model refused (${model.reason}): ${model.message}`, {
          reason: model.reason,
          dir: model.dir,
        });
      }
      const f = model.featurizer;
      const x = Float32Array.from(f.features(syscalls));
      const [score] = await model.score([x]);
      if (score === undefined)
        throw failure(ErrorType.Misconfigured, 'scoreEvent: the model returned no score');
      const k = topK ?? opts.topK ?? 5;
      const phi = k > 0 ? await treeShapAsync(model.ensemble, x, f.count) : new Float64Array(0);
      return {
        modelId: model.manifest.id,
        version: model.manifest.version,
        sha256: model.sha256,
        score,
        threshold,
        aboveThreshold: score >= threshold,
        space: model.manifest.model.scoreSpace,
        baseValue: model.expectedValue,
        calls: f.canonicalize(syscalls).length,
        attributions: k > 0 ? topAttributions(f.names, x, phi, k) : [],
      };
    },
  };
}
export type ScoringActivities = ReturnType<typeof createScoringActivities>;

export { loadScoringConfig, type ScoringConfig } from './config.js';
export { ModelRejected, openScoringModel, type ScoringModel } from './model.js';
