/**
 * Scoring breakdown (not part of the normal run): VIGIL_BENCH=1 npx vitest run activities/scoring/bench.test.ts
 * What `npm run bench -- --scoring-only` (bench/scoring.ts: latency, one-thread throughput, TreeSHAP, the
 * activity's CPU) does not show: one thread against VIGIL_MODEL_BATCH_THREADS=2, interleaved, and where a
 * batch's CPU goes (features, input copy, onnxruntime), on the synthetic parity rows.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../../src/paths.js';
import { loadScoringConfig } from './config.js';
import { openScoringModel } from './model.js';

describe.skipIf(!process.env.VIGIL_BENCH)('scoring breakdown', () => {
  it("compares one and two threads and splits a batch's CPU", { timeout: 600_000 }, async () => {
    const model = await openScoringModel(loadScoringConfig({}, repoRoot()));
    const parity = JSON.parse(
      readFileSync(join(repoRoot(), 'models', 'syscall-anomaly', 'parity.json'), 'utf8'),
    ) as { sequences: { syscalls: string[] }[]; vectors: { x: number[] }[] };
    const seqs = parity.sequences.filter((s) => s.syscalls.length >= 40).map((s) => s.syscalls);
    const rows = parity.vectors.map((v) => Float32Array.from(v.x));
    const out: Record<string, string> = {};

    // Batched scoring without attributions. Wall-clock rows/s depends on what else the machine runs; rows
    // per CPU-second of this process does much less (for one thread it is what an idle core would give).
    // A and B are interleaved, several rounds, medians.
    const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
    const rate = async (rowsPerCall: number, fn: () => Promise<unknown>, calls: number) => {
      await fn();
      const c0 = process.cpuUsage();
      const t = performance.now();
      for (let i = 0; i < calls; i++) await fn();
      const wall = (performance.now() - t) / 1000;
      const c = process.cpuUsage(c0);
      return { wall: (calls * rowsPerCall) / wall, cpu: (calls * rowsPerCall) / ((c.user + c.system) / 1e6) };
    };
    const threaded = await openScoringModel(
      loadScoringConfig({ VIGIL_MODEL_BATCH_THREADS: '2' }, repoRoot()),
    );
    const ROUNDS = Number(process.env.VIGIL_BENCH_ROUNDS ?? 5);
    for (const size of [256, 1024, 4096]) {
      const batch = Array.from({ length: size }, (_, i) => rows[i % rows.length]!);
      const calls = Math.max(5, Math.round(20_000 / size));
      const one: { wall: number; cpu: number }[] = [];
      const two: { wall: number; cpu: number }[] = [];
      for (let r = 0; r < ROUNDS; r++) {
        one.push(await rate(size, () => model.score(batch), calls));
        two.push(await rate(size, () => threaded.score(batch), calls));
      }
      out[`batched onnx rows/s (${size}/batch), 1 thread`] =
        `${med(one.map((x) => x.wall)).toFixed(0)} wall, ${med(one.map((x) => x.cpu)).toFixed(0)} per CPU-s`;
      out[`batched onnx rows/s (${size}/batch), 2 threads`] =
        `${med(two.map((x) => x.wall)).toFixed(0)} wall, ${med(two.map((x) => x.cpu)).toFixed(0)} per CPU-s`;
    }

    // Where a batch's time goes (4,096 traces of syscall names): features, building the input, onnxruntime.
    // In CPU time of this process (one thread does all of it), so other work on the machine matters less.
    {
      const size = 4096;
      const traces = Array.from({ length: size }, (_, i) => seqs[i % seqs.length]!);
      const n = model.featurizer.count;
      const buf = new Float32Array(size * n);
      const cpuMs = async (fn: () => unknown) => {
        const c0 = process.cpuUsage();
        await fn();
        const c = process.cpuUsage(c0);
        return (c.user + c.system) / 1000;
      };
      const perRow = (ms: number) => ((ms * 1000) / size).toFixed(2);
      const parts = {
        features: [] as number[],
        featuresInto: [] as number[],
        copy: [] as number[],
        run: [] as number[],
      };
      const old: number[] = [];
      const fused: number[] = [];
      for (let r = 0; r < ROUNDS; r++) {
        let fs: Float32Array[] = [];
        parts.features.push(
          await cpuMs(() => (fs = traces.map((tr) => Float32Array.from(model.featurizer.features(tr))))),
        );
        parts.featuresInto.push(
          await cpuMs(() => {
            for (let i = 0; i < size; i++) model.featurizer.featuresInto(traces[i]!, buf, i * n);
          }),
        );
        parts.copy.push(
          await cpuMs(() => {
            const data = new Float32Array(size * n);
            fs.forEach((x, i) => data.set(x, i * n));
          }),
        );
        parts.run.push(await cpuMs(() => model.score(fs)));
        // end to end: before (a Float64Array and a Float32Array per row, then score) and after (scoreTraces)
        old.push(
          await cpuMs(() =>
            model.score(traces.map((tr) => Float32Array.from(model.featurizer.features(tr)))),
          ),
        );
        fused.push(await cpuMs(() => model.scoreTraces(traces)));
      }
      const L = traces.reduce((a, t) => a + t.length, 0) / size;
      out[`batch of 4096 traces (${L.toFixed(0)} calls each), CPU us per row`] =
        `features+Float32Array ${perRow(med(parts.features))}, featuresInto ${perRow(med(parts.featuresInto))}, input copy ${perRow(med(parts.copy))}, score() (copy + onnx) ${perRow(med(parts.run))}`;
      out['traces -> scores (features + onnx) rows per CPU-s'] =
        `per-row arrays ${(size / (med(old) / 1000)).toFixed(0)}, scoreTraces ${(size / (med(fused) / 1000)).toFixed(0)}`;
      // The two paths timed above score the same: the fused one is a faster route, not another answer.
      const some = traces.slice(0, 256);
      const viaRows = await model.score(some.map((tr) => Float32Array.from(model.featurizer.features(tr))));
      expect(Array.from(await model.scoreTraces(some))).toEqual(viaRows.map((x) => Math.fround(x)));
    }

    const trees = model.ensemble.trees;
    out['model'] =
      `${trees.length} trees, ${trees.reduce((s, t) => s + t.mode.length, 0)} nodes, max depth ${Math.max(...trees.map((t) => t.maxDepth))}`;
    console.log(
      `\n${Object.entries(out)
        .map(([k, v]) => `${k.padEnd(44)} ${v}`)
        .join('\n')}\n`,
    );
  });
});
