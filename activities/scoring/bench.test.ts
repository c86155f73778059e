/**
 * Scoring benchmark (not part of the normal run): VIGIL_BENCH=1 npx vitest run activities/scoring/bench.test.ts
 * Prints single-row latency (features + onnxruntime), batched throughput without attributions, and the cost
 * of TreeSHAP attributions per row, on the synthetic parity rows.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../../src/paths.js';
import { loadScoringConfig } from './config.js';
import { createScoringActivities } from './index.js';
import { openScoringModel } from './model.js';
import { treeShap } from './treeshap.js';

const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))]!;

describe.skipIf(!process.env.VIGIL_BENCH)('scoring benchmark', () => {
  it('measures latency, throughput and attribution cost', { timeout: 600_000 }, async () => {
    const model = await openScoringModel(loadScoringConfig({}, repoRoot()));
    const parity = JSON.parse(
      readFileSync(join(repoRoot(), 'models', 'syscall-anomaly', 'parity.json'), 'utf8'),
    ) as { sequences: { syscalls: string[] }[]; vectors: { x: number[] }[] };
    const seqs = parity.sequences.filter((s) => s.syscalls.length >= 40).map((s) => s.syscalls);
    const rows = parity.vectors.map((v) => Float32Array.from(v.x));
    const out: Record<string, string> = {};

    // one row: features + onnxruntime, no attributions
    const single: number[] = [];
    for (let i = 0; i < 2000; i++) {
      const s = seqs[i % seqs.length]!;
      const t0 = performance.now();
      await model.score([Float32Array.from(model.featurizer.features(s))]);
      if (i >= 200) single.push(performance.now() - t0);
    }
    out['single score (features + onnx) p50 ms'] = pct(single, 0.5).toFixed(3);
    out['single score (features + onnx) p99 ms'] = pct(single, 0.99).toFixed(3);

    // the two parts of a single score
    const feats: number[] = [];
    const infer: number[] = [];
    for (let i = 0; i < 3000; i++) {
      const s = seqs[i % seqs.length]!;
      let t = performance.now();
      const x = Float32Array.from(model.featurizer.features(s));
      feats.push(performance.now() - t);
      t = performance.now();
      await model.score([x]);
      infer.push(performance.now() - t);
    }
    out['features only p50 / p99 ms'] = `${pct(feats, 0.5).toFixed(4)} / ${pct(feats, 0.99).toFixed(4)}`;
    out['onnx single row only p50 / p99 ms'] =
      `${pct(infer, 0.5).toFixed(4)} / ${pct(infer, 0.99).toFixed(4)}`;

    // onnxruntime only, by batch size
    let t0 = 0;
    for (const size of [256, 1024, 4096]) {
      const batch = Array.from({ length: size }, (_, i) => rows[i % rows.length]!);
      await model.score(batch);
      const reps = Math.max(5, Math.round(40_000 / size));
      t0 = performance.now();
      for (let i = 0; i < reps; i++) await model.score(batch);
      out[`batched onnx rows/s (${size}/batch)`] = (
        (reps * size) /
        ((performance.now() - t0) / 1000)
      ).toFixed(0);
    }

    // TreeSHAP per row
    for (let i = 0; i < 5; i++) treeShap(model.ensemble, rows[i % rows.length]!);
    const shap: number[] = [];
    for (let i = 0; i < 60; i++) {
      t0 = performance.now();
      treeShap(model.ensemble, rows[i % rows.length]!);
      shap.push(performance.now() - t0);
    }
    out['TreeSHAP per row p50 ms'] = pct(shap, 0.5).toFixed(2);
    out['TreeSHAP per row p99 ms'] = pct(shap, 0.99).toFixed(2);

    // the activity end to end (features + onnx + TreeSHAP top 5)
    const { scoreEvent } = createScoringActivities(model);
    const act: number[] = [];
    for (let i = 0; i < 60; i++) {
      t0 = performance.now();
      await scoreEvent({ syscalls: seqs[i % seqs.length]! });
      act.push(performance.now() - t0);
    }
    out['scoreEvent with top-5 attributions p50 ms'] = pct(act, 0.5).toFixed(2);
    out['scoreEvent with top-5 attributions p99 ms'] = pct(act, 0.99).toFixed(2);
    const trees = model.ensemble.trees;
    out['model'] =
      `${trees.length} trees, ${trees.reduce((s, t) => s + t.mode.length, 0)} nodes, max depth ${Math.max(...trees.map((t) => t.maxDepth))}`;
    console.log(
      `\n${Object.entries(out)
        .map(([k, v]) => `${k.padEnd(44)} ${v}`)
        .join('\n')}\n`,
    );
    expect(single.length).toBeGreaterThan(0);
  });
});
