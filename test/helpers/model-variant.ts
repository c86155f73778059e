/**
 * Signed model folders for tests: a copy of the shipped model (or a genuinely different variant of it),
 * its manifest re-signed by a throw-away Ed25519 key. The variant edits leaf weights in place in the ONNX
 * protobuf (packed floats keep their length, so nothing else moves): the positive-class weights of every
 * `keepEvery`-th tree are kept and the others zeroed, i.e. a smaller forest scaled down, whose scores and
 * decisions differ from the shipped model's on real traces.
 */
import { createHash, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { keyIdOf } from '../../activities/scoring/model.js';
import { repoRoot } from '../../src/paths.js';

export const SHIPPED_MODEL = join(repoRoot(), 'models', 'syscall-anomaly');

export interface TestSigner {
  id: string;
  privateKey: KeyObject;
  pubFile: string;
}

export function newSigner(keysDir: string): TestSigner {
  mkdirSync(keysDir, { recursive: true });
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const id = keyIdOf(publicKey);
  const pubFile = join(keysDir, `${id}.pub`);
  writeFileSync(pubFile, publicKey.export({ type: 'spki', format: 'pem' }));
  return { id, privateKey, pubFile };
}

/** Write a signed model folder: `model` bytes (default the shipped model), manifest edited then signed. */
export function signedModelDir(
  dir: string,
  signer: TestSigner,
  opts: { model?: Buffer; version?: string; edit?: (m: Record<string, unknown>) => void } = {},
): { dir: string; sha256: string } {
  mkdirSync(dir, { recursive: true });
  const model = opts.model ?? readFileSync(join(SHIPPED_MODEL, 'model.onnx'));
  writeFileSync(join(dir, 'model.onnx'), model);
  const manifest = JSON.parse(readFileSync(join(SHIPPED_MODEL, 'manifest.json'), 'utf8')) as {
    model: { sha256: string; bytes: number };
    [k: string]: unknown;
  };
  const sha256 = createHash('sha256').update(model).digest('hex');
  manifest.model.sha256 = sha256;
  manifest.model.bytes = model.length;
  if (opts.version) manifest.version = opts.version;
  manifest.signing = { algorithm: 'ed25519', keyId: signer.id };
  opts.edit?.(manifest);
  const bytes = Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`);
  writeFileSync(join(dir, 'manifest.json'), bytes);
  writeFileSync(join(dir, 'manifest.sig'), `${sign(null, bytes, signer.privateKey).toString('base64')}\n`);
  return { dir, sha256 };
}

// --- protobuf wire format, just enough to find the tree ensemble's packed attributes ---

function varint(b: Buffer, pos: number): [number, number] {
  let v = 0;
  let mul = 1;
  for (;;) {
    const byte = b[pos++]!;
    v += (byte & 0x7f) * mul;
    if (byte < 0x80) return [v, pos];
    mul *= 128;
  }
}

/** Fields of the message in b[start, end): field number, wire type, and the payload range. */
function* fields(b: Buffer, start: number, end: number) {
  let pos = start;
  while (pos < end) {
    const [key, p] = varint(b, pos);
    const field = Math.floor(key / 8);
    const wt = key & 7;
    if (wt === 0) {
      const [, q] = varint(b, p);
      yield { field, wt, start: p, end: q };
      pos = q;
    } else if (wt === 1) {
      yield { field, wt, start: p, end: p + 8 };
      pos = p + 8;
    } else if (wt === 2) {
      const [len, q] = varint(b, p);
      yield { field, wt, start: q, end: q + len };
      pos = q + len;
    } else if (wt === 5) {
      yield { field, wt, start: p, end: p + 4 };
      pos = p + 4;
    } else throw new Error(`unsupported wire type ${wt}`);
  }
}

/** A variant of an ONNX TreeEnsembleClassifier: positive-class leaf weights kept on every keepEvery-th tree. */
export function forestVariant(onnx: Buffer, keepEvery = 2): Buffer {
  const b = Buffer.from(onnx);
  const graph = [...fields(b, 0, b.length)].find((f) => f.field === 7);
  if (!graph) throw new Error('no graph');
  for (const node of fields(b, graph.start, graph.end)) {
    if (node.field !== 1) continue;
    const attrs: { name: string; floatsAt: number[]; ints: number[] }[] = [];
    let op = '';
    for (const f of fields(b, node.start, node.end)) {
      if (f.field === 4) op = b.toString('utf8', f.start, f.end);
      if (f.field !== 5) continue;
      const a = { name: '', floatsAt: [] as number[], ints: [] as number[] };
      for (const g of fields(b, f.start, f.end)) {
        if (g.field === 1) a.name = b.toString('utf8', g.start, g.end);
        if (g.field === 7 && g.wt === 2) for (let o = g.start; o < g.end; o += 4) a.floatsAt.push(o);
        if (g.field === 7 && g.wt === 5) a.floatsAt.push(g.start);
        if (g.field === 8 && g.wt === 2) {
          for (let o = g.start; o < g.end;) {
            const [v, q] = varint(b, o);
            a.ints.push(v);
            o = q;
          }
        }
        if (g.field === 8 && g.wt === 0) a.ints.push(varint(b, g.start)[0]);
      }
      attrs.push(a);
    }
    if (op !== 'TreeEnsembleClassifier') continue;
    const by = (n: string) => attrs.find((a) => a.name === n);
    const weights = by('class_weights')?.floatsAt;
    const ids = by('class_ids')?.ints;
    const trees = by('class_treeids')?.ints;
    if (!weights || !ids || !trees || weights.length !== ids.length) throw new Error('no class weights');
    // skl2onnx's binary classifiers carry one column (class id 0) that onnxruntime reads as P(positive).
    const positive = ids.includes(1) ? 1 : 0;
    weights.forEach((o, i) => {
      if (ids[i] === positive && trees[i]! % keepEvery !== 0) b.writeFloatLE(0, o);
    });
    return b;
  }
  throw new Error('no TreeEnsembleClassifier');
}
