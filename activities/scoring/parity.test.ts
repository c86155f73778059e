/**
 * Node must score exactly like the training pipeline: ONNX in onnxruntime-node vs scikit-learn's
 * probabilities on the synthetic rows of parity.json, the TS features vs features.py, and the pure-TS
 * tree evaluation (used for attributions) vs onnxruntime.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../../src/paths.js';
import { loadScoringConfig } from './config.js';
import { openScoringModel, type ScoringModel } from './model.js';
import { margin, toScore } from './onnx-trees.js';

interface Parity {
  modelSha256: string;
  sequences: { syscalls: string[]; features: number[]; sklearn: number }[];
  vectors: { x: number[]; sklearn: number; onnx: number }[];
}
const dir = join(repoRoot(), 'models', 'syscall-anomaly');
const parity = JSON.parse(readFileSync(join(dir, 'parity.json'), 'utf8')) as Parity;

let model: ScoringModel;
beforeAll(async () => {
  model = await openScoringModel(loadScoringConfig({}, repoRoot()));
});

describe('parity with the training pipeline', () => {
  it('is the model the fixture was made with', () => {
    expect(model.sha256).toBe(parity.modelSha256);
  });

  it('scores the synthetic vectors like scikit-learn within 1e-5', async () => {
    const scores = await model.score(parity.vectors.map((v) => Float32Array.from(v.x)));
    parity.vectors.forEach((v, i) => {
      expect(Math.abs(scores[i]! - v.sklearn)).toBeLessThan(1e-5);
      expect(Math.abs(scores[i]! - v.onnx)).toBeLessThan(1e-7);
    });
    // the fixture spans the score range, not one corner of it
    expect(Math.min(...scores)).toBeLessThan(0.2);
    expect(Math.max(...scores)).toBeGreaterThan(0.5);
  });

  it('computes the same features as features.py and the same score from syscall names', async () => {
    const xs = parity.sequences.map((s) => model.featurizer.features(s.syscalls));
    parity.sequences.forEach((s, i) => {
      const x = xs[i]!;
      expect(x.length).toBe(s.features.length);
      s.features.forEach((want, j) => expect(Math.abs(x[j]! - want)).toBeLessThanOrEqual(1e-12));
    });
    const scores = await model.score(xs.map((x) => Float32Array.from(x)));
    parity.sequences.forEach((s, i) => expect(Math.abs(scores[i]! - s.sklearn)).toBeLessThan(1e-5));
  });

  it('scores syscall names in a batch (features written into the input tensor) exactly like the row path', async () => {
    const traces = parity.sequences.map((s) => s.syscalls);
    const rows = traces.map((t) => Float32Array.from(model.featurizer.features(t)));
    const byRow = await model.score(rows);
    // Repeated to 300 rows (a reused buffer, then a smaller batch in the same buffer, then the big again).
    const many = Array.from({ length: 300 }, (_, i) => traces[i % traces.length]!);
    for (const batch of [many, traces, many]) {
      const scores = await model.scoreTraces(batch);
      expect(scores).toHaveLength(batch.length);
      batch.forEach((_, i) => expect(scores[i]).toBe(byRow[i % traces.length]));
    }
    parity.sequences.forEach((s, i) => expect(Math.abs(byRow[i]! - s.sklearn)).toBeLessThan(1e-5));
  });

  it('scores large batches on a multi-threaded session (VIGIL_MODEL_BATCH_THREADS) like the single-threaded one', async () => {
    const threaded = await openScoringModel(
      loadScoringConfig({ VIGIL_MODEL_BATCH_THREADS: '2' }, repoRoot()),
    );
    const rows = Array.from({ length: 1024 }, (_, i) =>
      Float32Array.from(parity.vectors[i % parity.vectors.length]!.x),
    );
    const one = await model.score(rows);
    const two = await threaded.score(rows);
    rows.forEach((_, i) => expect(Math.abs(two[i]! - one[i]!)).toBeLessThan(1e-6));
    parity.vectors.forEach((v, i) => expect(Math.abs(two[i]! - v.sklearn)).toBeLessThan(1e-5));
  });

  it('evaluates the trees in TypeScript exactly like onnxruntime', async () => {
    const rows = parity.vectors.map((v) => Float32Array.from(v.x));
    const scores = await model.score(rows);
    rows.forEach((x, i) => {
      expect(Math.abs(toScore(model.ensemble, margin(model.ensemble, x)) - scores[i]!)).toBeLessThan(1e-6);
    });
  });
});
