/**
 * Exact path-dependent TreeSHAP (the values of Lundberg, Erion and Lee 2018): the value of a feature subset
 * S is the expected tree output when the features in S follow x and the others are averaged over the
 * training data by node covers. The attributions of one row sum to margin(x) - expectedValue, in margin
 * space (a forest's vote share, or boosting's log-odds). Computed in O(trees x nodes x depth/2) per row (see
 * below), checked against brute-force Shapley values and an independent per-leaf computation in tests.
 */
import { setImmediate } from 'node:timers/promises';
import { goesYes, Mode, type Tree, type TreeEnsemble } from './onnx-trees.js';

/** E[margin] over the training data: base + every leaf's value weighted by its share of the root's cover. */
export function expectedValue(e: TreeEnsemble): number {
  let v = e.base;
  for (const t of e.trees) {
    const rootCover = t.cover[0] as number;
    for (let i = 0; i < t.mode.length; i++) {
      if (t.mode[i] === Mode.Leaf) v += ((t.cover[i] as number) / rootCover) * (t.value[i] as number);
    }
  }
  return v;
}

/*
 * Exact path-dependent TreeSHAP in time linear in the tree's size (the idea of Linear TreeSHAP, Yu et al.
 * 2022). For a leaf l, v(S) = value(l) * prod over the unique features j on its path of (j in S ? O_j : Z_j),
 * where O_j says whether x follows the path at every split on j and Z_j is the product of j's cover
 * fractions. A product game's Shapley value is
 *   phi_i(l) = value(l) * (O_i - Z_i) * integral_0^1 prod_{j != i} (Z_j + t (O_j - Z_j)) dt,
 * a polynomial of degree < (distinct features on the path) in t, integrated exactly by Gauss-Legendre
 * quadrature with half as many points. One walk carries G(t) = prod_j F_j(t) down at those points, sums H(t) = sum_l value(l) G_l(t) up,
 * and credits each split edge on feature i with the leaves below it that meet no deeper split on i (their F_i
 * is that edge's): H(child) minus the H of the topmost splits on i below it. O(nodes x points) per tree
 * instead of O(leaves x depth^2).
 */

interface Quadrature {
  n: number;
  t: Float64Array;
  w: Float64Array;
}
const quadratures = new Map<number, Quadrature>();

/** Gauss-Legendre points and weights on [0, 1] (Newton on the Legendre polynomial). */
function quadrature(n: number): Quadrature {
  const known = quadratures.get(n);
  if (known) return known;
  const t = new Float64Array(n);
  const w = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let z = Math.cos((Math.PI * (i + 0.75)) / (n + 0.5));
    let dp = 0;
    for (let it = 0; it < 100; it++) {
      let p0 = 1;
      let p1 = 0;
      for (let k = 1; k <= n; k++) {
        const p2 = p1;
        p1 = p0;
        p0 = ((2 * k - 1) * z * p1 - (k - 1) * p2) / k;
      }
      dp = (n * (z * p0 - p1)) / (z * z - 1);
      const dz = p0 / dp;
      z -= dz;
      if (Math.abs(dz) < 1e-16) break;
    }
    t[i] = (1 - z) / 2;
    w[i] = 1 / ((1 - z * z) * dp * dp);
  }
  const q = { n, t, w };
  quadratures.set(n, q);
  return q;
}

/** Per-walk state, sized for the deepest tree and reused across trees and rows. */
interface Scratch {
  /** G, H and the subtracted sums per depth level, `n` numbers each */
  g: Float64Array;
  h: Float64Array;
  sub: Float64Array;
  /** per feature: the cumulative O and Z on the current path, and the level of its deepest split edge */
  o: Float64Array;
  z: Float64Array;
  level: Int32Array;
  /** 1 / F_i at the points for the split edge into each level (0 where F_i is 0) */
  inv: Float64Array;
  /** G at each level without the factor of the feature split there */
  gw: Float64Array;
}

function scratch(e: TreeEnsemble, nFeatures: number): Scratch {
  let deepest = 0;
  for (const t of e.trees) deepest = Math.max(deepest, t.maxDepth);
  const n = Math.ceil((deepest + 1) / 2);
  const levels = deepest + 2;
  return {
    g: new Float64Array(levels * n),
    h: new Float64Array(levels * n),
    sub: new Float64Array(levels * n),
    o: new Float64Array(nFeatures).fill(1),
    z: new Float64Array(nFeatures).fill(1),
    level: new Int32Array(nFeatures).fill(-1),
    inv: new Float64Array(levels * n),
    gw: new Float64Array(levels * n),
  };
}

function walk(
  t: Tree,
  x: ArrayLike<number>,
  phi: Float64Array,
  s: Scratch,
  q: Quadrature,
  node: number,
  d: number,
): void {
  const n = q.n;
  const { g, h, sub, inv } = s;
  const at = d * n;
  if (t.mode[node] === Mode.Leaf) {
    const v = t.value[node]!;
    for (let k = 0; k < n; k++) h[at + k] = v * g[at + k]!;
    return;
  }
  const qt = q.t;
  const qw = q.w;
  const feat = t.feature[node]!;
  const hot = goesYes(t, node, x[feat]!) ? t.yes[node]! : t.no[node]!;
  const cover = t.cover[node]!;
  const pO = s.o[feat]!;
  const pZ = s.z[feat]!;
  const pLevel = s.level[feat]!;
  // 1 / F_feat before this split: that of the enclosing split edge on `feat` (F = 1 when there is none).
  const before = pLevel >= 0 ? pLevel * n : -1;
  const next = at + n;
  // G without this feature's factor, shared by both children.
  const { gw } = s;
  if (before < 0) for (let k = 0; k < n; k++) gw[at + k] = g[at + k]!;
  else for (let k = 0; k < n; k++) gw[at + k] = g[at + k]! * inv[before + k]!;
  for (let c = 0; c < 2; c++) {
    const child = c === 0 ? t.yes[node]! : t.no[node]!;
    const o = child === hot ? pO : 0;
    const z = pZ * (t.cover[child]! / cover);
    const dz = o - z;
    if (t.mode[child] === Mode.Leaf) {
      // A leaf child: its H is value * G, no walk needed.
      const v = t.value[child]!;
      for (let k = 0; k < n; k++) {
        const after = z + qt[k]! * dz;
        inv[next + k] = after === 0 ? 0 : 1 / after;
        h[next + k] = v * gw[at + k]! * after;
        sub[next + k] = 0;
      }
    } else {
      for (let k = 0; k < n; k++) {
        const after = z + qt[k]! * dz;
        // F = 0 only when O = Z = 0: then G is 0 from here down, and this edge credits nothing.
        inv[next + k] = after === 0 ? 0 : 1 / after;
        g[next + k] = gw[at + k]! * after;
        sub[next + k] = 0;
      }
      s.o[feat] = o;
      s.z[feat] = z;
      s.level[feat] = d + 1;
      walk(t, x, phi, s, q, child, d + 1);
    }
    // Credit this edge with the leaves below it whose deepest split on `feat` it is; sum H up.
    let acc = 0;
    if (c === 0)
      for (let k = 0; k < n; k++) {
        const hk = h[next + k]!;
        acc += qw[k]! * (hk - sub[next + k]!) * inv[next + k]!;
        h[at + k] = hk;
      }
    else
      for (let k = 0; k < n; k++) {
        const hk = h[next + k]!;
        acc += qw[k]! * (hk - sub[next + k]!) * inv[next + k]!;
        h[at + k]! += hk;
      }
    if (dz !== 0) phi[feat]! += dz * acc;
  }
  s.o[feat] = pO;
  s.z[feat] = pZ;
  s.level[feat] = pLevel;
  // This node is a split on `feat` below the nearest enclosing split edge on it: those leaves are not
  // that edge's to credit.
  if (pLevel >= 0) {
    const up = pLevel * n;
    for (let k = 0; k < n; k++) sub[up + k]! += h[at + k]!;
  }
}

const pointsOfTree = new WeakMap<Tree, number>();

/**
 * Quadrature points a tree needs: a leaf's integrand has degree (distinct features on its path) - 1, and n
 * Gauss-Legendre points are exact up to degree 2n - 1.
 */
function pointsFor(t: Tree): number {
  let n = pointsOfTree.get(t);
  if (n !== undefined) return n;
  const seen = new Map<number, number>();
  let most = 0;
  const visit = (node: number, distinct: number): void => {
    if (t.mode[node] === Mode.Leaf) {
      most = Math.max(most, distinct);
      return;
    }
    const f = t.feature[node]!;
    const times = seen.get(f) ?? 0;
    seen.set(f, times + 1);
    const d = times === 0 ? distinct + 1 : distinct;
    visit(t.yes[node]!, d);
    visit(t.no[node]!, d);
    seen.set(f, times);
  };
  visit(0, 0);
  n = Math.max(1, Math.ceil(most / 2));
  pointsOfTree.set(t, n);
  return n;
}

function shapTree(t: Tree, x: ArrayLike<number>, phi: Float64Array, s: Scratch): void {
  const q = quadrature(pointsFor(t));
  for (let k = 0; k < q.n; k++) s.g[k] = 1;
  walk(t, x, phi, s, q, 0, 0);
}

/** SHAP values of one row (length = nFeatures; features the ensemble never splits on get 0). */
export function treeShap(e: TreeEnsemble, x: ArrayLike<number>, nFeatures = e.nFeatures): Float64Array {
  const phi = new Float64Array(Math.max(nFeatures, e.nFeatures));
  const s = scratch(e, phi.length);
  for (const t of e.trees) shapTree(t, x, phi, s);
  return phi;
}

/**
 * The same, yielding to the event loop every `treesPerSlice` trees: deep forests take tens of
 * milliseconds per row, which must not stall a worker's other activities and heartbeats.
 */
export async function treeShapAsync(
  e: TreeEnsemble,
  x: ArrayLike<number>,
  nFeatures = e.nFeatures,
  treesPerSlice = 20,
): Promise<Float64Array> {
  const phi = new Float64Array(Math.max(nFeatures, e.nFeatures));
  const s = scratch(e, phi.length);
  for (let i = 0; i < e.trees.length; i++) {
    if (i > 0 && i % treesPerSlice === 0) await setImmediate();
    shapTree(e.trees[i]!, x, phi, s);
  }
  return phi;
}
