/**
 * Exact path-dependent TreeSHAP (Lundberg, Erion and Lee 2018, Algorithm 2; the recursion of the shap
 * library's C++ `tree_shap_recursive`). The value of a feature subset S is the expected tree output when
 * the features in S follow x and the others are averaged over the training data by node covers. The
 * attributions of one row sum to margin(x) - expectedValue, in margin space (a forest's vote share, or
 * boosting's log-odds). Cost: O(trees x leaves x depth^2) per row.
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
 * The path of unique features from the root, one block per recursion level, four numbers per element
 * (feature, zero fraction, one fraction, permutation weight) in one array so a level is copied at once.
 */
const F = 0;
const Z = 1;
const O = 2;
const W = 3;

function extend(p: Float64Array, o: number, depth: number, zero: number, one: number, feature: number): void {
  const e = 4 * (o + depth);
  p[e + F] = feature;
  p[e + Z] = zero;
  p[e + O] = one;
  p[e + W] = depth === 0 ? 1 : 0;
  for (let i = depth - 1; i >= 0; i--) {
    const a = 4 * (o + i);
    p[a + 4 + W]! += (one * p[a + W]! * (i + 1)) / (depth + 1);
    p[a + W] = (zero * p[a + W]! * (depth - i)) / (depth + 1);
  }
}

function unwind(p: Float64Array, o: number, depth: number, k: number): void {
  const one = p[4 * (o + k) + O]!;
  const zero = p[4 * (o + k) + Z]!;
  let next = p[4 * (o + depth) + W]!;
  for (let i = depth - 1; i >= 0; i--) {
    const a = 4 * (o + i) + W;
    if (one !== 0) {
      const tmp = p[a]!;
      const w = (next * (depth + 1)) / ((i + 1) * one);
      p[a] = w;
      next = tmp - (w * zero * (depth - i)) / (depth + 1);
    } else {
      p[a] = (p[a]! * (depth + 1)) / (zero * (depth - i));
    }
  }
  for (let i = k; i < depth; i++) {
    const a = 4 * (o + i);
    p[a + F] = p[a + 4 + F]!;
    p[a + Z] = p[a + 4 + Z]!;
    p[a + O] = p[a + 4 + O]!;
  }
}

/** Sum of the path's weights with element k unwound, without changing the path. */
function unwoundSum(p: Float64Array, o: number, depth: number, k: number): number {
  const one = p[4 * (o + k) + O]!;
  const zero = p[4 * (o + k) + Z]!;
  let next = p[4 * (o + depth) + W]!;
  let total = 0;
  if (one !== 0) {
    for (let i = depth - 1; i >= 0; i--) {
      const tmp = next / ((i + 1) * one);
      total += tmp;
      next = p[4 * (o + i) + W]! - tmp * zero * (depth - i);
    }
  } else {
    for (let i = depth - 1; i >= 0; i--) total += p[4 * (o + i) + W]! / (zero * (depth - i));
  }
  return total * (depth + 1);
}

function recurse(
  t: Tree,
  x: ArrayLike<number>,
  phi: Float64Array,
  p: Float64Array,
  node: number,
  parentOffset: number,
  depthIn: number,
  zero: number,
  one: number,
  feature: number,
): void {
  // This level's copy of the path starts right after the parent's.
  const o = parentOffset + depthIn;
  let depth = depthIn;
  if (depth > 0) p.copyWithin(4 * o, 4 * parentOffset, 4 * (parentOffset + depth));
  extend(p, o, depth, zero, one, feature);
  if (t.mode[node] === Mode.Leaf) {
    const v = t.value[node]!;
    for (let i = 1; i <= depth; i++) {
      const a = 4 * (o + i);
      const w = unwoundSum(p, o, depth, i);
      phi[p[a + F]!]! += w * (p[a + O]! - p[a + Z]!) * v;
    }
    return;
  }
  const f = t.feature[node]!;
  const yes = goesYes(t, node, x[f]!);
  const hot = yes ? t.yes[node]! : t.no[node]!;
  const cold = yes ? t.no[node]! : t.yes[node]!;
  const cover = t.cover[node]!;
  let inZero = 1;
  let inOne = 1;
  // A feature met before on this path: undo that split and redo it here.
  let k = 0;
  while (k <= depth && p[4 * (o + k) + F] !== f) k++;
  if (k <= depth) {
    inZero = p[4 * (o + k) + Z]!;
    inOne = p[4 * (o + k) + O]!;
    unwind(p, o, depth, k);
    depth -= 1;
  }
  recurse(t, x, phi, p, hot, o, depth + 1, (t.cover[hot]! / cover) * inZero, inOne, f);
  recurse(t, x, phi, p, cold, o, depth + 1, (t.cover[cold]! / cover) * inZero, 0, f);
}

function pathBuffer(e: TreeEnsemble): Float64Array {
  let deepest = 0;
  for (const t of e.trees) deepest = Math.max(deepest, t.maxDepth);
  const maxd = deepest + 2;
  return new Float64Array(4 * ((maxd * (maxd + 1)) / 2 + maxd));
}

/** SHAP values of one row (length = nFeatures; features the ensemble never splits on get 0). */
export function treeShap(e: TreeEnsemble, x: ArrayLike<number>, nFeatures = e.nFeatures): Float64Array {
  const phi = new Float64Array(Math.max(nFeatures, e.nFeatures));
  const p = pathBuffer(e);
  for (const t of e.trees) recurse(t, x, phi, p, 0, 0, 0, 1, 1, -1);
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
  const p = pathBuffer(e);
  for (let i = 0; i < e.trees.length; i++) {
    if (i > 0 && i % treesPerSlice === 0) await setImmediate();
    recurse(e.trees[i]!, x, phi, p, 0, 0, 0, 1, 1, -1);
  }
  return phi;
}
