/**
 * Loading a scoring model: verify, then run. The order matters:
 *   1. manifest.sig must be an Ed25519 signature of manifest.json's exact bytes by a trusted key;
 *   2. the (signed) manifest is parsed; its model hash must not be revoked;
 *   3. model.onnx is read once and its sha256 must equal the manifest's;
 *   4. only those verified bytes reach onnxruntime and the TreeSHAP parser (never the path, so the file
 *      cannot be swapped between the check and the load).
 * A refusal is a ModelRejected with a reason; the activity turns it into a non-retryable Misconfigured
 * failure so a playbook falls back to a human. One InferenceSession per model per process (cached by the
 * model and manifest bytes), single-threaded: scoring runs beside other activities on small machines.
 */
import { createHash, createPublicKey, verify, type KeyObject } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { z } from 'zod';
import type { ScoringConfig } from './config.js';
import { Featurizer, FeatureSpec } from './features.js';
import { treeEnsembleFromOnnx, type TreeEnsemble } from './onnx-trees.js';
import { expectedValue } from './treeshap.js';
import { revokedHashes } from './revocation.js';

const HeadlineMetrics = z.looseObject({ rocAuc: z.number(), fprAt90: z.number(), fprAt99: z.number() });

export const Manifest = z.looseObject({
  schema: z.literal('vigil.model/v1'),
  id: z.string().min(1),
  version: z.string().min(1),
  created: z.string(),
  model: z.looseObject({
    file: z.string().regex(/^[\w.-]+$/, 'a file name inside the model folder'),
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
    input: z.string().min(1),
    output: z.string().min(1),
    positiveIndex: z.number().int().min(0),
    scoreSpace: z.enum(['probability', 'logit']),
  }),
  features: FeatureSpec,
  thresholds: z.looseObject({
    default: z.string(),
    detect90: z.number(),
    detect99: z.number(),
  }),
  metrics: z.looseObject({
    heldOut: HeadlineMetrics,
    perFamily: z.record(z.string(), HeadlineMetrics),
  }),
  signing: z.object({ algorithm: z.literal('ed25519'), keyId: z.string() }),
});
export type Manifest = z.infer<typeof Manifest>;

export type RejectReason = 'missing' | 'unsigned' | 'bad-signature' | 'revoked' | 'tampered' | 'invalid';

export class ModelRejected extends Error {
  override readonly name = 'ModelRejected';
  constructor(
    readonly reason: RejectReason,
    message: string,
    readonly dir: string,
  ) {
    super(message);
  }
}

export interface TrustedKey {
  id: string;
  key: KeyObject;
  source: string;
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** Key id: the first 16 hex digits of sha256 of the raw 32-byte Ed25519 public key. */
export function keyIdOf(key: KeyObject): string {
  const jwk = key.export({ format: 'jwk' });
  if (jwk.crv !== 'Ed25519' || !jwk.x) throw new Error('not an Ed25519 public key');
  return sha256(Buffer.from(jwk.x, 'base64url')).slice(0, 16);
}

export function readPublicKey(path: string): TrustedKey {
  const key = createPublicKey(readFileSync(path));
  return { id: keyIdOf(key), key, source: path };
}

/** The trusted keys: files or ids from VIGIL_MODEL_TRUSTED_KEYS, else every <id>.pub in the keys folder. */
export function trustedKeys(cfg: Pick<ScoringConfig, 'VIGIL_MODEL_KEYS_DIR' | 'VIGIL_MODEL_TRUSTED_KEYS'>) {
  const dir = cfg.VIGIL_MODEL_KEYS_DIR;
  const entries =
    cfg.VIGIL_MODEL_TRUSTED_KEYS ??
    (existsSync(dir) ? readdirSync(dir).filter((f) => /^[0-9a-f]{16}\.pub$/.test(f)) : []);
  return entries.map((e) => {
    const byId = /^[0-9a-f]{16}$/.test(e);
    const path = byId ? join(dir, `${e}.pub`) : isAbsolute(e) ? e : resolve(dir, e);
    const k = readPublicKey(path);
    const named = byId ? e : /([0-9a-f]{16})\.pub$/.exec(path)?.[1];
    // A key file named after an id must hold that key: a swapped file is not silently trusted.
    if (named && named !== k.id) throw new Error(`${path} holds key ${k.id}, not ${named}`);
    return k;
  });
}

export interface VerifiedModel {
  dir: string;
  manifest: Manifest;
  manifestBytes: Buffer;
  modelBytes: Buffer;
  sha256: string;
  keyId: string;
}

/** Signature, revocation and hash checks; throws ModelRejected. Reads each file once. */
export function verifyModelDir(
  dir: string,
  keys: readonly TrustedKey[],
  revoked: readonly string[],
): VerifiedModel {
  const read = (name: string) => {
    try {
      return readFileSync(join(dir, name));
    } catch {
      return undefined;
    }
  };
  const manifestBytes = read('manifest.json');
  if (!manifestBytes) throw new ModelRejected('missing', `no manifest.json in ${dir}`, dir);
  const sigText = read('manifest.sig');
  if (!sigText)
    throw new ModelRejected('unsigned', `${dir} has no manifest.sig: unsigned models are refused`, dir);
  const sig = Buffer.from(sigText.toString('utf8').trim(), 'base64');
  const signer = keys.find((k) => sig.length === 64 && verify(null, manifestBytes, k.key, sig));
  if (!signer) {
    let claimed = '';
    try {
      claimed = String(
        (JSON.parse(manifestBytes.toString('utf8')) as { signing?: { keyId?: string } }).signing?.keyId,
      );
    } catch {
      // an unreadable manifest is reported as a bad signature all the same
    }
    const trusted = keys.map((k) => k.id).join(', ') || 'none';
    const why = keys.some((k) => k.id === claimed)
      ? `the signature does not match manifest.json (changed after signing?)`
      : `it is not signed by a trusted key (manifest names ${claimed || 'no key'}; trusted: ${trusted})`;
    throw new ModelRejected('bad-signature', `${dir}: ${why}`, dir);
  }
  let manifest: Manifest;
  try {
    manifest = Manifest.parse(JSON.parse(manifestBytes.toString('utf8')));
  } catch (e) {
    throw new ModelRejected(
      'invalid',
      `${dir}: signed manifest is not a vigil.model/v1 manifest: ${String(e)}`,
      dir,
    );
  }
  if (revoked.includes(manifest.model.sha256)) {
    throw new ModelRejected(
      'revoked',
      `${dir}: model ${manifest.model.sha256} is revoked (VIGIL_MODEL_REVOKED / VIGIL_MODEL_REVOKED_FILE)`,
      dir,
    );
  }
  const modelBytes = read(manifest.model.file);
  if (!modelBytes) throw new ModelRejected('missing', `${dir}: no ${manifest.model.file}`, dir);
  const actual = sha256(modelBytes);
  if (actual !== manifest.model.sha256) {
    throw new ModelRejected(
      'tampered',
      `${dir}: ${manifest.model.file} has sha256 ${actual}, the signed manifest says ${manifest.model.sha256}`,
      dir,
    );
  }
  return { dir, manifest, manifestBytes, modelBytes, sha256: actual, keyId: signer.id };
}

export interface Attribution {
  feature: string;
  value: number;
  contribution: number;
}

export interface ScoringModel {
  readonly dir: string;
  readonly manifest: Manifest;
  readonly sha256: string;
  readonly keyId: string;
  readonly featurizer: Featurizer;
  readonly ensemble: TreeEnsemble;
  /** E[margin] over the training data: attributions sum to margin(x) - expectedValue */
  readonly expectedValue: number;
  readonly session: InferenceSession;
  /** P(attack) for each row (onnxruntime), rows of featurizer.count numbers */
  score(rows: readonly ArrayLike<number>[]): Promise<number[]>;
  /**
   * P(attack) for each trace (syscall names): the features are written straight into one reused float32
   * input tensor (no per-row arrays or copies). Same numbers as score(traces.map(featurizer.features)).
   */
  scoreTraces(traces: readonly (readonly string[])[]): Promise<Float32Array>;
}

/** Batches of at least this many rows may use the batch session (VIGIL_MODEL_BATCH_THREADS > 1). */
export const BATCH_SESSION_MIN_ROWS = 256;

interface Core extends Pick<ScoringModel, 'featurizer' | 'ensemble' | 'expectedValue' | 'session'> {
  score(rows: readonly ArrayLike<number>[], batchThreads: number): Promise<number[]>;
  scoreTraces(traces: readonly (readonly string[])[], batchThreads: number): Promise<Float32Array>;
}
const cores = new Map<string, Promise<Core>>();

/**
 * Verify and open a model folder. Verification runs on every call; the session (and the parsed trees) are
 * shared by every caller in the process that verified the same model and manifest bytes.
 */
export async function openScoringModel(
  cfg: Pick<
    ScoringConfig,
    | 'VIGIL_MODEL_DIR'
    | 'VIGIL_MODEL_KEYS_DIR'
    | 'VIGIL_MODEL_TRUSTED_KEYS'
    | 'VIGIL_MODEL_REVOKED'
    | 'VIGIL_MODEL_REVOKED_FILE'
  > &
    Partial<Pick<ScoringConfig, 'VIGIL_MODEL_BATCH_THREADS'>>,
  /** the revoked hashes to apply (default: VIGIL_MODEL_REVOKED and the file's, read now) */
  revoked: readonly string[] = revokedHashes(cfg),
): Promise<ScoringModel> {
  const dir = resolve(cfg.VIGIL_MODEL_DIR);
  let keys: TrustedKey[];
  try {
    keys = trustedKeys(cfg);
  } catch (e) {
    throw new ModelRejected('bad-signature', `cannot read the trusted keys: ${(e as Error).message}`, dir);
  }
  const v = verifyModelDir(dir, keys, revoked);
  const key = `${v.sha256}:${sha256(v.manifestBytes)}`;
  let core = cores.get(key);
  if (!core) {
    core = openCore(v);
    cores.set(key, core);
    core.catch(() => cores.delete(key));
  }
  const c = await core;
  const threads = cfg.VIGIL_MODEL_BATCH_THREADS ?? 1;
  return {
    featurizer: c.featurizer,
    ensemble: c.ensemble,
    expectedValue: c.expectedValue,
    session: c.session,
    score: (rows) => c.score(rows, threads),
    scoreTraces: (traces) => c.scoreTraces(traces, threads),
    dir,
    manifest: v.manifest,
    sha256: v.sha256,
    keyId: v.keyId,
  };
}

async function openCore(v: VerifiedModel): Promise<Core> {
  const { manifest, dir } = v;
  let featurizer: Featurizer;
  let ensemble: TreeEnsemble;
  try {
    featurizer = new Featurizer(manifest.features);
    ensemble = treeEnsembleFromOnnx(v.modelBytes);
    if (ensemble.nFeatures > featurizer.count)
      throw new Error('the model uses more features than the manifest lists');
  } catch (e) {
    throw new ModelRejected('invalid', `${dir}: ${(e as Error).message}`, dir);
  }
  let session: InferenceSession;
  try {
    session = await InferenceSession.create(v.modelBytes, {
      intraOpNumThreads: 1,
      interOpNumThreads: 1,
      executionMode: 'sequential',
    });
  } catch (e) {
    throw new ModelRejected(
      'invalid',
      `${dir}: onnxruntime cannot load the model: ${(e as Error).message}`,
      dir,
    );
  }
  const { input, output, positiveIndex } = manifest.model;
  if (!session.inputNames.includes(input) || !session.outputNames.includes(output)) {
    throw new ModelRejected('invalid', `${dir}: the model has no input ${input} or output ${output}`, dir);
  }
  const n = featurizer.count;
  // Single-row calls (one per event) reuse input tensors instead of allocating one each time: fewer
  // allocations, fewer GC pauses in the tail. One per concurrent call; returned after the run.
  const pool: Tensor[] = [];
  // Batches reuse their input buffers too (a 4,096-row batch is 3.8 MB of float32).
  const buffers: Float32Array[] = [];
  const takeBuffer = (length: number) => {
    const i = buffers.findIndex((b) => b.length >= length);
    return i >= 0 ? buffers.splice(i, 1)[0]!.subarray(0, length) : new Float32Array(length);
  };
  const giveBuffer = (b: Float32Array) => {
    if (buffers.length < 4) buffers.push(new Float32Array(b.buffer, 0, b.buffer.byteLength / 4));
  };
  /*
   * Large batches may run on a second session with more intra-op threads (VIGIL_MODEL_BATCH_THREADS),
   * created on first use (a worker that only scores single events never pays its memory). Its threads do
   * not spin while idle: on a small shared machine a spinning pool burns the cores other work needs.
   * Single rows always use the one-thread session (for a row, threads only add hand-off latency).
   */
  const batchSessions = new Map<number, Promise<InferenceSession>>();
  const sessionFor = (rows: number, threads: number): InferenceSession | Promise<InferenceSession> => {
    if (threads <= 1 || rows < BATCH_SESSION_MIN_ROWS) return session;
    let s = batchSessions.get(threads);
    if (!s) {
      s = InferenceSession.create(v.modelBytes, {
        intraOpNumThreads: threads,
        interOpNumThreads: 1,
        executionMode: 'sequential',
        extra: { session: { intra_op: { allow_spinning: '0' } } },
      });
      batchSessions.set(threads, s);
      s.catch(() => batchSessions.delete(threads));
    }
    return s;
  };
  const run = async (feed: Tensor, rows: number, threads: number): Promise<Float32Array> => {
    const res = await (await sessionFor(rows, threads)).run({ [input]: feed }, [output]);
    const probs = res[output]?.data as Float32Array | undefined;
    if (!probs) throw new Error(`the model returned no ${output}`);
    const width = probs.length / rows;
    const out = new Float32Array(rows);
    for (let i = 0; i < rows; i++) out[i] = probs[i * width + positiveIndex]!;
    return out;
  };
  const check = (r: ArrayLike<number>) => {
    if (r.length !== n) throw new Error(`a feature row has ${r.length} numbers, the model takes ${n}`);
  };
  const runBuffer = async (data: Float32Array, rows: number, threads: number) => {
    try {
      return await run(new Tensor('float32', data, [rows, n]), rows, threads);
    } finally {
      giveBuffer(data);
    }
  };
  return {
    featurizer,
    ensemble,
    expectedValue: expectedValue(ensemble),
    session,
    async score(rows, threads) {
      if (rows.length === 0) return [];
      if (rows.length === 1) {
        const row = rows[0]!;
        check(row);
        const t = pool.pop() ?? new Tensor('float32', new Float32Array(n), [1, n]);
        (t.data as Float32Array).set(row);
        try {
          return Array.from(await run(t, 1, 1));
        } finally {
          if (pool.length < 8) pool.push(t);
        }
      }
      const data = takeBuffer(rows.length * n);
      for (let i = 0; i < rows.length; i++) {
        const r = rows[i]!;
        check(r);
        data.set(r, i * n);
      }
      return Array.from(await runBuffer(data, rows.length, threads));
    },
    async scoreTraces(traces, threads) {
      if (traces.length === 0) return new Float32Array(0);
      const data = takeBuffer(traces.length * n);
      for (let i = 0; i < traces.length; i++) featurizer.featuresInto(traces[i]!, data, i * n);
      return runBuffer(data, traces.length, threads);
    },
  };
}

/** Which threshold applies: VIGIL_MODEL_THRESHOLD (a manifest name or a number), else the manifest's default. */
export function thresholdOf(m: Manifest, choice?: string | number): number {
  if (typeof choice === 'number') return choice;
  const name = choice ?? m.thresholds.default;
  const t = (m.thresholds as Record<string, unknown>)[name];
  if (typeof t !== 'number') throw new Error(`the manifest has no threshold ${name}`);
  return t;
}
