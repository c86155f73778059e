/**
 * TreeSHAP against the definition: Shapley values computed by enumerating every feature subset of the
 * path-dependent value function v(S) (features in S follow x, the others are averaged by node covers),
 * on random ensembles; an independent exact computation (per-leaf product games) on the shipped model's
 * trees, which are too large to enumerate; and additivity on the shipped model.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../../src/paths.js';
import { loadScoringConfig } from './config.js';
import { openScoringModel, type ScoringModel } from './model.js';
import { goesYes, margin, Mode, type Tree, type TreeEnsemble } from './onnx-trees.js';
import { expectedValue, treeShap } from './treeshap.js';

/** v(S) of one tree. */
function valueOf(t: Tree, x: ArrayLike<number>, inS: (f: number) => boolean, i = 0): number {
  if (t.mode[i] === Mode.Leaf) return t.value[i]!;
  const f = t.feature[i]!;
  const yes = t.yes[i]!;
  const no = t.no[i]!;
  if (inS(f)) return valueOf(t, x, inS, goesYes(t, i, x[f]!) ? yes : no);
  return (t.cover[yes]! * valueOf(t, x, inS, yes) + t.cover[no]! * valueOf(t, x, inS, no)) / t.cover[i]!;
}

/** Exact Shapley values by enumerating all 2^M subsets of the features the ensemble uses. */
function bruteForce(e: TreeEnsemble, x: ArrayLike<number>): Float64Array {
  const used = [...new Set(e.trees.flatMap((t) => [...t.feature].filter((f) => f >= 0)))].sort(
    (a, b) => a - b,
  );
  const m = used.length;
  const fact = [1];
  for (let i = 1; i <= m; i++) fact.push(fact[i - 1]! * i);
  const v = new Float64Array(1 << m);
  for (let mask = 0; mask < 1 << m; mask++) {
    const inS = (f: number) => {
      const k = used.indexOf(f);
      return k >= 0 && (mask & (1 << k)) !== 0;
    };
    v[mask] = e.base + e.trees.reduce((s, t) => s + valueOf(t, x, inS), 0);
  }
  const phi = new Float64Array(e.nFeatures);
  used.forEach((f, k) => {
    let total = 0;
    for (let mask = 0; mask < 1 << m; mask++) {
      if (mask & (1 << k)) continue;
      let size = 0;
      for (let b = mask; b; b &= b - 1) size++;
      total += ((fact[size]! * fact[m - size - 1]!) / fact[m]!) * (v[mask | (1 << k)]! - v[mask]!);
    }
    phi[f] = total;
  });
  return phi;
}

/**
 * An independent exact algorithm for trees too large to enumerate: v(S) is a sum over leaves of
 * value * prod over the leaf's path features j of (j in S ? b_j : a_j), where b_j says whether x follows
 * the path at all of j's splits and a_j is the product of j's cover fractions. Each leaf is a product
 * game whose Shapley values come from the coefficients of prod_{j != i} (a_j + b_j z).
 */
function byPolynomials(e: TreeEnsemble, x: ArrayLike<number>): Float64Array {
  const phi = new Float64Array(e.nFeatures);
  const walk = (t: Tree, i: number, a: Map<number, number>, b: Map<number, number>) => {
    if (t.mode[i] === Mode.Leaf) {
      const fs = [...a.keys()];
      const m = fs.length;
      const weight = (s: number) => {
        // s! (m - s - 1)! / m!
        let w = 1 / m;
        for (let k = 1; k <= s; k++) w *= k / (m - k);
        return w;
      };
      fs.forEach((fi) => {
        let c = [1];
        for (const fj of fs) {
          if (fj === fi) continue;
          const aj = a.get(fj)!;
          const bj = b.get(fj)!;
          const next = new Array<number>(c.length + 1).fill(0);
          c.forEach((ck, k) => {
            next[k]! += ck * aj;
            next[k + 1]! += ck * bj;
          });
          c = next;
        }
        const sum = c.reduce((acc, ck, s) => acc + weight(s) * ck, 0);
        phi[fi]! += t.value[i]! * (b.get(fi)! - a.get(fi)!) * sum;
      });
      return;
    }
    const f = t.feature[i]!;
    const yes = goesYes(t, i, x[f]!);
    for (const [child, follows] of [
      [t.yes[i]!, yes],
      [t.no[i]!, !yes],
    ] as const) {
      const a2 = new Map(a).set(f, (a.get(f) ?? 1) * (t.cover[child]! / t.cover[i]!));
      const b2 = new Map(b).set(f, (b.get(f) ?? 1) * (follows ? 1 : 0));
      walk(t, child, a2, b2);
    }
  };
  for (const t of e.trees) walk(t, 0, new Map(), new Map());
  return phi;
}

/** A seeded random number generator (mulberry32). */
function rng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A random tree over `nf` features (features repeat along paths), with consistent covers. */
function randomTree(rand: () => number, nf: number, maxDepth: number): Tree {
  const nodes: {
    f: number;
    th: number;
    mode: Mode;
    yes: number;
    no: number;
    cover: number;
    value: number;
  }[] = [];
  const modes = [Mode.Leq, Mode.Lt, Mode.Gte, Mode.Gt];
  const build = (d: number): number => {
    const i = nodes.length;
    nodes.push({ f: -1, th: 0, mode: Mode.Leaf, yes: -1, no: -1, cover: 0, value: 0 });
    const n = nodes[i]!;
    if (d === maxDepth || (d > 1 && rand() < 0.25)) {
      n.cover = 1 + Math.floor(rand() * 50);
      n.value = rand() * 2 - 1;
      return i;
    }
    n.f = Math.floor(rand() * nf);
    n.th = Math.fround(rand());
    n.mode = modes[Math.floor(rand() * modes.length)]!;
    n.yes = build(d + 1);
    n.no = build(d + 1);
    n.cover = nodes[n.yes]!.cover + nodes[n.no]!.cover;
    return i;
  };
  build(0);
  const t: Tree = {
    feature: Int32Array.from(nodes.map((n) => n.f)),
    threshold: Float64Array.from(nodes.map((n) => n.th)),
    mode: Uint8Array.from(nodes.map((n) => n.mode)),
    yes: Int32Array.from(nodes.map((n) => n.yes)),
    no: Int32Array.from(nodes.map((n) => n.no)),
    missingYes: new Uint8Array(nodes.length),
    cover: Float64Array.from(nodes.map((n) => n.cover)),
    value: Float64Array.from(nodes.map((n) => n.value)),
    maxDepth: 0,
  };
  const depth = (i: number): number =>
    t.mode[i] === Mode.Leaf ? 0 : 1 + Math.max(depth(t.yes[i]!), depth(t.no[i]!));
  t.maxDepth = depth(0);
  return t;
}

describe('TreeSHAP', () => {
  it('equals brute-force Shapley values on random ensembles (repeated features, all split modes)', () => {
    const rand = rng(5);
    for (let trial = 0; trial < 25; trial++) {
      const nf = 3 + (trial % 8);
      const e: TreeEnsemble = {
        trees: Array.from({ length: 1 + (trial % 4) }, () => randomTree(rand, nf, 2 + (trial % 5))),
        base: rand(),
        postTransform: 'NONE',
        nFeatures: nf,
      };
      const x = Array.from({ length: nf }, () => Math.fround(rand()));
      const phi = treeShap(e, x);
      const want = bruteForce(e, x);
      const poly = byPolynomials(e, x);
      for (let f = 0; f < nf; f++) {
        expect(Math.abs(phi[f]! - want[f]!)).toBeLessThan(1e-9);
        expect(Math.abs(poly[f]! - want[f]!)).toBeLessThan(1e-9);
      }
      const sum = phi.reduce((a, b) => a + b, 0);
      expect(Math.abs(sum - (margin(e, x) - expectedValue(e)))).toBeLessThan(1e-9);
    }
  });

  describe('on the shipped model', () => {
    let model: ScoringModel;
    let rows: Float32Array[];
    beforeAll(async () => {
      model = await openScoringModel(loadScoringConfig({}, repoRoot()));
      const parity = JSON.parse(
        readFileSync(join(repoRoot(), 'models', 'syscall-anomaly', 'parity.json'), 'utf8'),
      ) as { vectors: { x: number[] }[] };
      rows = parity.vectors.map((v) => Float32Array.from(v.x));
    });

    it('equals an independent exact computation on every tree of the model', () => {
      for (const x of rows.slice(0, 2)) {
        const phi = treeShap(model.ensemble, x);
        const want = byPolynomials(model.ensemble, x);
        for (let f = 0; f < model.ensemble.nFeatures; f++)
          expect(Math.abs(phi[f]! - want[f]!)).toBeLessThan(1e-9);
      }
    });

    it('sums to the model margin minus the expected value, which matches onnxruntime', async () => {
      const scores = await model.score(rows);
      rows.forEach((x, i) => {
        const phi = treeShap(model.ensemble, x, model.featurizer.count);
        expect(phi.length).toBe(model.featurizer.count);
        const sum = phi.reduce((a, b) => a + b, 0);
        const m = margin(model.ensemble, x);
        expect(Math.abs(sum - (m - model.expectedValue))).toBeLessThan(1e-9);
        expect(Math.abs(m - scores[i]!)).toBeLessThan(1e-6);
      });
    });
  });
});
