/**
 * Scenario 10: the scoring model, in this process, on the shipped model (verified and loaded as a worker
 * loads it). No Temporal: it runs before the stack starts, on an otherwise quiet machine.
 *
 *   - one inference (onnxruntime, one row, one thread) and one score (features + inference), percentiles
 *                                                                                goal: inference p99 < 0.2 ms
 *   - batched inference without attributions, one thread: rows/s by the wall clock and per CPU-second of
 *     this process, medians of rounds                                           goal: >= 100,000 rows/s
 *   - traces to scores (features computed too), the same way
 *   - exact TreeSHAP attributions per row (only flagged events get them by default)
 *   - the scoring activity's CPU per event, without and with attributions (the run compares it with an
 *     incident's CPU from scenario 2)                                           goal: <= 5% of an incident
 *
 * Inputs: ADFA-LD's traces from ../shared/data/adfa-ld when they are there (real traces reach deeper into
 * the trees than synthetic ones: the figures are lower and truer), else the synthetic sequences of
 * models/syscall-anomaly/parity.json (the data set is never shipped). The report says which.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createScoringActivities } from '../activities/scoring/index.js';
import { loadScoringConfig } from '../activities/scoring/config.js';
import { readLabelledTraces, syscallNames } from '../activities/scoring/evaluate.js';
import { openScoringModel } from '../activities/scoring/model.js';
import { treeShap } from '../activities/scoring/treeshap.js';
import { repoRoot } from '../src/paths.js';
import { median, percentile, round } from './stats.js';

export interface Spread {
  n: number;
  p50: number;
  p99: number;
  max: number;
}

export interface ScoringBench {
  inputs: string;
  model: {
    id: string;
    version: string;
    sha256: string;
    algorithm: string;
    trees: number;
    nodes: number;
    maxDepth: number;
  };
  inference: Spread;
  featuresAndInference: Spread;
  batches: { size: number; rowsPerSecond: number; rowsPerCpuSecond: number }[];
  traces: { size: number; callsPerTrace: number; rowsPerSecond: number; rowsPerCpuSecond: number };
  attributionsMs: Spread;
  /** CPU ms of one scoreEvent call (the activity's body): the process's CPU over many calls, per call */
  scoreEventCpuMs: { withoutAttributions: number; withAttributions: number };
  rounds: number;
}

const spread = (xs: number[]): Spread => ({
  n: xs.length,
  p50: round(percentile(xs, 50), 4),
  p99: round(percentile(xs, 99), 4),
  max: round(Math.max(...xs), 4),
});

const cpuMsOf = (c: NodeJS.CpuUsage) => (c.user + c.system) / 1000;

export async function runScoring(opts: { quick: boolean; say: (l: string) => void }): Promise<ScoringBench> {
  const root = repoRoot();
  const model = await openScoringModel(loadScoringConfig({}, root));
  const adfa = join(root, '..', 'shared', 'data', 'adfa-ld', 'traces.jsonl.gz');
  let seqs: string[][] = [];
  let inputs = 'the synthetic sequences of parity.json';
  if (existsSync(adfa)) {
    for await (const t of readLabelledTraces(adfa)) seqs.push(syscallNames(model, t));
    inputs = `ADFA-LD's ${seqs.length} traces (${adfa})`;
  } else {
    const parity = JSON.parse(readFileSync(join(model.dir, 'parity.json'), 'utf8')) as {
      sequences: { syscalls: string[] }[];
    };
    seqs = parity.sequences.filter((s) => s.syscalls.length >= 40).map((s) => s.syscalls);
  }
  if (!seqs.length) throw new Error(`no inputs: neither ${adfa} nor sequences in ${model.dir}/parity.json`);
  const rows = seqs.map((q) => Float32Array.from(model.featurizer.features(q)));
  const rounds = opts.quick ? 3 : 5;
  const singles = 10_000;

  opts.say(`bench: scoring: ${singles} single inferences...`);
  const inference: number[] = [];
  const both: number[] = [];
  for (let i = 0; i < singles + 500; i++) {
    const s = seqs[i % seqs.length]!;
    let t = performance.now();
    const x = Float32Array.from(model.featurizer.features(s));
    const f = performance.now() - t;
    t = performance.now();
    await model.score([x]);
    const r = performance.now() - t;
    if (i >= 500) {
      inference.push(r);
      both.push(f + r);
    }
  }

  opts.say('bench: scoring: batched inference, one thread...');
  const rate = async (rowsPerCall: number, calls: number, fn: () => Promise<unknown>) => {
    await fn();
    const c0 = process.cpuUsage();
    const t = performance.now();
    for (let i = 0; i < calls; i++) await fn();
    const wall = (performance.now() - t) / 1000;
    const cpu = cpuMsOf(process.cpuUsage(c0)) / 1000;
    return { wall: (calls * rowsPerCall) / wall, cpu: (calls * rowsPerCall) / cpu };
  };
  const batches: ScoringBench['batches'] = [];
  for (const size of [256, 1024, 4096]) {
    // Consecutive windows over all the inputs, so every batch size sees the same mix of traces.
    const calls = Math.max(5, Math.round(40_000 / size));
    const windows = Array.from({ length: calls }, (_, j) =>
      Array.from({ length: size }, (_, i) => rows[(j * size + i) % rows.length]!),
    );
    const rs = [];
    for (let r = 0; r < rounds; r++) {
      let j = 0;
      rs.push(await rate(size, calls, () => model.score(windows[j++ % calls]!)));
    }
    batches.push({
      size,
      rowsPerSecond: Math.round(median(rs.map((x) => x.wall))),
      rowsPerCpuSecond: Math.round(median(rs.map((x) => x.cpu))),
    });
  }
  const size = 1024;
  const traces = Array.from({ length: size }, (_, i) => seqs[i % seqs.length]!);
  const tr = [];
  for (let r = 0; r < rounds; r++) tr.push(await rate(size, 4, () => model.scoreTraces(traces)));

  opts.say('bench: scoring: TreeSHAP attributions and the scoring activity...');
  const nShap = opts.quick ? 30 : 100;
  for (let i = 0; i < 3; i++) treeShap(model.ensemble, rows[i % rows.length]!);
  const shap: number[] = [];
  for (let i = 0; i < nShap; i++) {
    const t = performance.now();
    treeShap(model.ensemble, rows[i % rows.length]!);
    shap.push(performance.now() - t);
  }
  // The activity's body as a worker runs it (input check, features, inference, metrics off), with top-5
  // attributions for every call or none (topK 0).
  const perCall = async (topK: number, n: number) => {
    const { scoreEvent } = createScoringActivities(model, { attributions: 'always', topK });
    for (let i = 0; i < Math.min(200, n); i++) await scoreEvent({ syscalls: seqs[i % seqs.length]! });
    const c0 = process.cpuUsage();
    for (let i = 0; i < n; i++) await scoreEvent({ syscalls: seqs[i % seqs.length]! });
    return round(cpuMsOf(process.cpuUsage(c0)) / n, 4);
  };
  const without = await perCall(0, opts.quick ? 1000 : 3000);
  const withAttr = await perCall(5, Math.min(nShap, 30));
  const trees = model.ensemble.trees;
  return {
    inputs,
    model: {
      id: model.manifest.id,
      version: model.manifest.version,
      sha256: model.sha256,
      algorithm: (model.manifest.model as { algorithm?: string }).algorithm ?? '?',
      trees: trees.length,
      nodes: trees.reduce((s, t) => s + t.mode.length, 0),
      maxDepth: Math.max(...trees.map((t) => t.maxDepth)),
    },
    inference: spread(inference),
    featuresAndInference: spread(both),
    batches,
    traces: {
      size,
      callsPerTrace: Math.round(traces.reduce((a, t) => a + t.length, 0) / size),
      rowsPerSecond: Math.round(median(tr.map((x) => x.wall))),
      rowsPerCpuSecond: Math.round(median(tr.map((x) => x.cpu))),
    },
    attributionsMs: spread(shap),
    scoreEventCpuMs: { withoutAttributions: without, withAttributions: withAttr },
    rounds,
  };
}
