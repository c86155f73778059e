/**
 * Reads the tree ensemble out of an ONNX model's TreeEnsembleClassifier / TreeEnsembleRegressor node
 * (ai.onnx.ml) so attributions can be computed from the very bytes that were verified and handed to
 * onnxruntime. Node covers (training samples per node) come from `nodes_hitrates`, where the training
 * pipeline stores them (onnxruntime ignores that attribute). Only the fields we read are declared.
 */
import protobuf from 'protobufjs';

const root = protobuf.Root.fromJSON({
  nested: {
    onnx: {
      nested: {
        ModelProto: { fields: { graph: { type: 'GraphProto', id: 7 } } },
        GraphProto: {
          fields: {
            node: { rule: 'repeated', type: 'NodeProto', id: 1 },
            input: { rule: 'repeated', type: 'ValueInfoProto', id: 11 },
          },
        },
        ValueInfoProto: { fields: { name: { type: 'string', id: 1 } } },
        NodeProto: {
          fields: {
            opType: { type: 'string', id: 4 },
            domain: { type: 'string', id: 7 },
            attribute: { rule: 'repeated', type: 'AttributeProto', id: 5 },
          },
        },
        AttributeProto: {
          fields: {
            name: { type: 'string', id: 1 },
            f: { type: 'float', id: 2 },
            i: { type: 'int64', id: 3 },
            s: { type: 'bytes', id: 4 },
            t: { type: 'TensorProto', id: 5 },
            floats: { rule: 'repeated', type: 'float', id: 7 },
            ints: { rule: 'repeated', type: 'int64', id: 8 },
            strings: { rule: 'repeated', type: 'bytes', id: 9 },
          },
        },
        TensorProto: {
          fields: {
            dims: { rule: 'repeated', type: 'int64', id: 1 },
            dataType: { type: 'int32', id: 2 },
            floatData: { rule: 'repeated', type: 'float', id: 4 },
            rawData: { type: 'bytes', id: 9 },
            doubleData: { rule: 'repeated', type: 'double', id: 10 },
          },
        },
      },
    },
  },
});
const ModelProto = root.lookupType('onnx.ModelProto');

interface Tensor {
  dataType?: number;
  floatData?: number[];
  doubleData?: number[];
  rawData?: Uint8Array;
}
interface Attribute {
  name: string;
  f?: number;
  i?: number;
  s?: Uint8Array;
  t?: Tensor;
  floats?: number[];
  ints?: number[];
  strings?: Uint8Array[];
}
interface Node {
  opType?: string;
  domain?: string;
  attribute?: Attribute[];
}

export const Mode = { Leaf: 0, Leq: 1, Lt: 2, Gte: 3, Gt: 4, Eq: 5, Neq: 6 } as const;
export type Mode = (typeof Mode)[keyof typeof Mode];
const MODES: Record<string, Mode> = {
  LEAF: Mode.Leaf,
  BRANCH_LEQ: Mode.Leq,
  BRANCH_LT: Mode.Lt,
  BRANCH_GTE: Mode.Gte,
  BRANCH_GT: Mode.Gt,
  BRANCH_EQ: Mode.Eq,
  BRANCH_NEQ: Mode.Neq,
};

/** One tree; arrays are indexed by node (0 = root). */
export interface Tree {
  feature: Int32Array;
  /** float32 thresholds, compared with float32 inputs as onnxruntime does */
  threshold: Float64Array;
  mode: Uint8Array;
  /** child taken when the comparison holds (ONNX "true" node) and when it does not */
  yes: Int32Array;
  no: Int32Array;
  missingYes: Uint8Array;
  cover: Float64Array;
  /** leaf value of the scored output (the positive class), in margin space */
  value: Float64Array;
  maxDepth: number;
}

export interface TreeEnsemble {
  trees: Tree[];
  /** added to the sum of leaf values */
  base: number;
  /** margin -> score: NONE (a forest's vote share), LOGISTIC (boosting's log-odds) */
  postTransform: 'NONE' | 'LOGISTIC';
  /** highest feature index used + 1 */
  nFeatures: number;
}

const text = (b: Uint8Array) => new TextDecoder().decode(b);

function numbers(a: Attribute | undefined): number[] | undefined {
  if (!a) return undefined;
  if (a.floats?.length) return a.floats;
  if (a.ints?.length) return a.ints;
  const t = a.t;
  if (!t) return undefined;
  if (t.floatData?.length) return t.floatData;
  if (t.doubleData?.length) return t.doubleData;
  if (t.rawData?.length) {
    const raw = t.rawData;
    const buf = raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength);
    return t.dataType === 11 ? Array.from(new Float64Array(buf)) : Array.from(new Float32Array(buf));
  }
  return undefined;
}

/** Parse the tree ensemble of an ONNX model (throws if there is none). */
export function treeEnsembleFromOnnx(bytes: Uint8Array): TreeEnsemble {
  const model = ModelProto.toObject(ModelProto.decode(bytes), { longs: Number, defaults: false }) as {
    graph?: { node?: Node[] };
  };
  const node = model.graph?.node?.find(
    (n) => n.opType === 'TreeEnsembleClassifier' || n.opType === 'TreeEnsembleRegressor',
  );
  if (!node) throw new Error('the ONNX model has no TreeEnsembleClassifier or TreeEnsembleRegressor node');
  const attrs = new Map((node.attribute ?? []).map((a) => [a.name, a]));
  const get = (name: string) => numbers(attrs.get(name)) ?? numbers(attrs.get(`${name}_as_tensor`));
  const need = (name: string) => {
    const v = get(name);
    if (!v) throw new Error(`the tree ensemble has no ${name}`);
    return v;
  };
  const treeIds = need('nodes_treeids');
  const nodeIds = need('nodes_nodeids');
  const featureIds = need('nodes_featureids');
  const values = need('nodes_values');
  const trueIds = need('nodes_truenodeids');
  const falseIds = need('nodes_falsenodeids');
  const missing = get('nodes_missing_value_tracks_true') ?? [];
  const hitrates = get('nodes_hitrates');
  const modes = (attrs.get('nodes_modes')?.strings ?? []).map((s) => MODES[text(s)]);
  if (!hitrates)
    throw new Error('the tree ensemble has no node covers (nodes_hitrates): retrain with models/train');

  const classifier = node.opType === 'TreeEnsembleClassifier';
  const p = classifier ? 'class' : 'target';
  const leafTrees = need(`${p}_treeids`);
  const leafNodes = need(`${p}_nodeids`);
  const leafIds = need(`${p}_ids`);
  const leafWeights = need(`${p}_weights`);
  // Binary classifiers may carry weights for class 1 only, or (skl2onnx) a single column that onnxruntime
  // reads as the positive class's score.
  const positive = classifier && leafIds.some((c) => c === 1) ? 1 : 0;
  const baseValues = get('base_values') ?? [];
  const post = attrs.get('post_transform')?.s;
  const postTransform = post ? text(post) : 'NONE';
  if (postTransform !== 'NONE' && postTransform !== 'LOGISTIC') {
    throw new Error(`unsupported post_transform ${postTransform}`);
  }

  // Group node rows by tree, then index nodes by their id within the tree.
  const rowsByTree = new Map<number, number[]>();
  treeIds.forEach((t, r) => {
    const rows = rowsByTree.get(t) ?? [];
    rows.push(r);
    rowsByTree.set(t, rows);
  });
  const trees: Tree[] = [];
  const treeIndex = new Map<number, { tree: Tree; index: Map<number, number> }>();
  let nFeatures = 0;
  for (const [tid, rows] of [...rowsByTree].sort((a, b) => a[0] - b[0])) {
    const children = new Set<number>();
    for (const r of rows) {
      if (modes[r] !== Mode.Leaf) {
        children.add(trueIds[r] as number);
        children.add(falseIds[r] as number);
      }
    }
    const rootRow = rows.find((r) => !children.has(nodeIds[r] as number));
    if (rootRow === undefined) throw new Error(`tree ${tid} has no root`);
    // Root first, then the rest in id order.
    const ordered = [rootRow, ...rows.filter((r) => r !== rootRow).sort((a, b) => nodeIds[a]! - nodeIds[b]!)];
    const index = new Map(ordered.map((r, i) => [nodeIds[r] as number, i]));
    const n = ordered.length;
    const tree: Tree = {
      feature: new Int32Array(n),
      threshold: new Float64Array(n),
      mode: new Uint8Array(n),
      yes: new Int32Array(n).fill(-1),
      no: new Int32Array(n).fill(-1),
      missingYes: new Uint8Array(n),
      cover: new Float64Array(n),
      value: new Float64Array(n),
      maxDepth: 0,
    };
    ordered.forEach((r, i) => {
      const mode = modes[r];
      if (mode === undefined) throw new Error(`tree ${tid}: unknown node mode`);
      tree.mode[i] = mode;
      tree.cover[i] = hitrates[r] as number;
      if (mode === Mode.Leaf) {
        tree.feature[i] = -1;
        return;
      }
      const f = featureIds[r] as number;
      const yes = index.get(trueIds[r] as number);
      const no = index.get(falseIds[r] as number);
      if (yes === undefined || no === undefined)
        throw new Error(`tree ${tid}: a child of node ${nodeIds[r]} is missing`);
      tree.feature[i] = f;
      tree.threshold[i] = Math.fround(values[r] as number);
      tree.yes[i] = yes;
      tree.no[i] = no;
      tree.missingYes[i] = missing[r] ? 1 : 0;
      nFeatures = Math.max(nFeatures, f + 1);
    });
    tree.maxDepth = depth(tree, 0);
    trees.push(tree);
    treeIndex.set(tid, { tree, index });
  }
  leafWeights.forEach((w, r) => {
    if (leafIds[r] !== positive) return;
    const t = treeIndex.get(leafTrees[r] as number);
    const i = t?.index.get(leafNodes[r] as number);
    if (!t || i === undefined) throw new Error('a leaf weight names an unknown node');
    t.tree.value[i] = (t.tree.value[i] ?? 0) + w;
  });
  const base = baseValues.length > positive ? (baseValues[positive] as number) : (baseValues[0] ?? 0);
  return { trees, base, postTransform, nFeatures };
}

function depth(t: Tree, i: number): number {
  if (t.mode[i] === Mode.Leaf) return 0;
  return 1 + Math.max(depth(t, t.yes[i] as number), depth(t, t.no[i] as number));
}

/** Which child x takes at an internal node (onnxruntime's semantics, float32 comparisons). */
export function goesYes(t: Tree, i: number, xv: number): boolean {
  if (Number.isNaN(xv)) return t.missingYes[i] === 1;
  const x = Math.fround(xv);
  const th = t.threshold[i] as number;
  switch (t.mode[i]) {
    case Mode.Leq:
      return x <= th;
    case Mode.Lt:
      return x < th;
    case Mode.Gte:
      return x >= th;
    case Mode.Gt:
      return x > th;
    case Mode.Eq:
      return x === th;
    case Mode.Neq:
      return x !== th;
    default:
      return false;
  }
}

export function leafOf(t: Tree, x: ArrayLike<number>): number {
  let i = 0;
  while (t.mode[i] !== Mode.Leaf) {
    i = goesYes(t, i, x[t.feature[i] as number] as number) ? (t.yes[i] as number) : (t.no[i] as number);
  }
  return i;
}

/** The ensemble's margin (sum of leaf values + base) for one row. */
export function margin(e: TreeEnsemble, x: ArrayLike<number>): number {
  let m = e.base;
  for (const t of e.trees) m += t.value[leafOf(t, x)] as number;
  return m;
}

export function toScore(e: TreeEnsemble, m: number): number {
  return e.postTransform === 'LOGISTIC' ? 1 / (1 + Math.exp(-m)) : m;
}
