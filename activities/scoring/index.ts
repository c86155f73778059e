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
import type { ScoringMetrics } from './metrics.js';
import { ScoringModels } from './models.js';
import { treeShapAsync } from './treeshap.js';

export const ScoreEventInput = z.object({
  /** syscall names in order (x86_64 or i386 spellings: stat64, mmap2, socketcall, ... are mapped) */
  syscalls: z.array(z.string().min(1).max(64)).max(200_000),
  /** attributions to return (default VIGIL_MODEL_TOP_K) */
  topK: z.number().int().min(0).max(50).optional(),
});
export type ScoreEventInput = z.infer<typeof ScoreEventInput>;

/** The shadow model's view of the same event (recorded beside the active score; it never decides). */
export type ShadowScore =
  | {
      modelId: string;
      version: string;
      sha256: string;
      score: number;
      threshold: number;
      aboveThreshold: boolean;
      /** the shadow's decision differs from the active model's */
      disagrees: boolean;
    }
  | { refused: string; reason: string };

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
  /** present when a shadow model is configured (VIGIL_MODEL_SHADOW_DIR) */
  shadow?: ShadowScore;
}

export interface ScoringOptions {
  /** VIGIL_MODEL_THRESHOLD: a manifest threshold name or a number */
  threshold?: string | number;
  /** VIGIL_MODEL_TOP_K */
  topK?: number;
  /** VIGIL_MODEL_ATTRIBUTIONS (default 'flagged': only for scores at or above the threshold; 'always') */
  attributions?: 'always' | 'flagged';
  /** Prometheus metrics (latency, score distribution, shadow agreement, refusals) */
  metrics?: ScoringMetrics;
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

const seconds = (t0: number) => (performance.now() - t0) / 1000;

/**
 * The scoring activities over the held models: a ScoringModels (active + shadow, revocation re-checked),
 * or one model (or its refusal) for callers without a shadow.
 */
export function createScoringActivities(
  held: ScoringModel | ModelRejected | ScoringModels,
  opts: ScoringOptions = {},
) {
  const models = held instanceof ScoringModels ? held : ScoringModels.of(held, undefined, opts);
  const m = opts.metrics;
  // Thresholds per loaded model (a number applies to the active model; a shadow keeps its own manifest's).
  const thresholds = new WeakMap<ScoringModel, number>();
  const thresholdFor = (model: ScoringModel, role: 'active' | 'shadow') => {
    let t = thresholds.get(model);
    if (t === undefined) {
      const choice = role === 'shadow' && typeof opts.threshold === 'number' ? undefined : opts.threshold;
      t = thresholdOf(model.manifest, choice);
      thresholds.set(model, t);
    }
    return t;
  };

  const scoreShadow = async (
    shadow: ScoringModel | ModelRejected,
    syscalls: readonly string[],
    active: { label: string; flagged: boolean },
  ): Promise<ShadowScore> => {
    if (shadow instanceof ModelRejected) {
      m?.refused.inc({ role: 'shadow', reason: shadow.reason });
      return { refused: shadow.message, reason: shadow.reason };
    }
    try {
      const [score] = await shadow.score([Float32Array.from(shadow.featurizer.features(syscalls))]);
      if (score === undefined) throw new Error('the shadow model returned no score');
      const threshold = thresholdFor(shadow, 'shadow');
      const label = `${shadow.manifest.id}@${shadow.manifest.version}`;
      const aboveThreshold = score >= threshold;
      const disagrees = aboveThreshold !== active.flagged;
      if (m) {
        m.score.observe({ model: label, sha256: shadow.sha256, role: 'shadow' }, score);
        if (aboveThreshold) m.flagged.inc({ model: label, role: 'shadow' });
        m.shadow.inc({ active: active.label, shadow: label, outcome: disagrees ? 'disagree' : 'agree' });
      }
      return {
        modelId: shadow.manifest.id,
        version: shadow.manifest.version,
        sha256: shadow.sha256,
        score,
        threshold,
        aboveThreshold,
        disagrees,
      };
    } catch (e) {
      // A shadow never fails the call it rides along with.
      m?.refused.inc({ role: 'shadow', reason: 'error' });
      return { refused: `the shadow model failed: ${(e as Error).message}`, reason: 'error' };
    }
  };

  return {
    scoreEvent: async (input: ScoreEventInput): Promise<ScoreEventResult> => {
      const { syscalls, topK } = parseInput(ScoreEventInput, input, 'scoreEvent');
      const model = models.active;
      if (model instanceof ModelRejected) {
        m?.refused.inc({ role: 'active', reason: model.reason });
        throw failure(ErrorType.Misconfigured, `scoring model refused (${model.reason}): ${model.message}`, {
          reason: model.reason,
          dir: model.dir,
        });
      }
      const label = `${model.manifest.id}@${model.manifest.version}`;
      const f = model.featurizer;
      let t0 = performance.now();
      const x = Float32Array.from(f.features(syscalls));
      const [score] = await model.score([x]);
      if (score === undefined)
        throw failure(ErrorType.Misconfigured, 'scoreEvent: the model returned no score');
      m?.latency.observe({ model: label, stage: 'score' }, seconds(t0));
      const threshold = thresholdFor(model, 'active');
      const aboveThreshold = score >= threshold;
      if (m) {
        m.score.observe({ model: label, sha256: model.sha256, role: 'active' }, score);
        if (aboveThreshold) m.flagged.inc({ model: label, role: 'active' });
      }
      const k = opts.attributions !== 'always' && !aboveThreshold ? 0 : (topK ?? opts.topK ?? 5);
      t0 = performance.now();
      const phi = k > 0 ? await treeShapAsync(model.ensemble, x, f.count) : new Float64Array(0);
      if (k > 0) m?.latency.observe({ model: label, stage: 'attributions' }, seconds(t0));
      const shadow = models.shadow;
      return {
        modelId: model.manifest.id,
        version: model.manifest.version,
        sha256: model.sha256,
        score,
        threshold,
        aboveThreshold,
        space: model.manifest.model.scoreSpace,
        baseValue: model.expectedValue,
        calls: f.canonicalize(syscalls).length,
        attributions: k > 0 ? topAttributions(f.names, x, phi, k) : [],
        ...(shadow
          ? { shadow: await scoreShadow(shadow, syscalls, { label, flagged: aboveThreshold }) }
          : {}),
      };
    },
  };
}
export type ScoringActivities = ReturnType<typeof createScoringActivities>;

export { loadScoringConfig, type ScoringConfig } from './config.js';
export { ModelRejected, openScoringModel, type ScoringModel } from './model.js';
export { ScoringModels } from './models.js';
export { createScoringMetrics, type ScoringMetrics } from './metrics.js';
