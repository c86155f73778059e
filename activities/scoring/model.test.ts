/**
 * The loader refuses what it cannot trust (unsigned, wrong key, tampered manifest or model, revoked), and
 * the activity turns a refusal into a non-retryable Misconfigured failure; a verified model scores.
 */
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorType } from '../../src/errors.js';
import { repoRoot } from '../../src/paths.js';
import { loadScoringConfig, type ScoringConfig } from './config.js';
import { createScoringActivities } from './index.js';
import { keyIdOf, ModelRejected, openScoringModel, type ScoringModel } from './model.js';

const shipped = join(repoRoot(), 'models', 'syscall-anomaly');
let tmp: string;

interface Signer {
  id: string;
  privateKey: KeyObject;
  pubFile: string;
}
function newSigner(keysDir: string): Signer {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const id = keyIdOf(publicKey);
  const pubFile = join(keysDir, `${id}.pub`);
  writeFileSync(pubFile, publicKey.export({ type: 'spki', format: 'pem' }));
  return { id, privateKey, pubFile };
}

/** A copy of the shipped model, its manifest re-signed by `signer` (optionally edited first). */
function modelDir(name: string, signer: Signer, edit?: (m: Record<string, unknown>) => void): string {
  const dir = join(tmp, name);
  mkdirSync(dir);
  copyFileSync(join(shipped, 'model.onnx'), join(dir, 'model.onnx'));
  const manifest = JSON.parse(readFileSync(join(shipped, 'manifest.json'), 'utf8')) as Record<
    string,
    unknown
  >;
  manifest.signing = { algorithm: 'ed25519', keyId: signer.id };
  edit?.(manifest);
  const bytes = Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`);
  writeFileSync(join(dir, 'manifest.json'), bytes);
  writeFileSync(join(dir, 'manifest.sig'), `${sign(null, bytes, signer.privateKey).toString('base64')}\n`);
  return dir;
}

let keysDir: string;
let ours: Signer;
let other: Signer;
const cfg = (dir: string, extra: Partial<ScoringConfig> = {}): ScoringConfig => ({
  ...loadScoringConfig({}, repoRoot()),
  VIGIL_MODEL_DIR: dir,
  VIGIL_MODEL_KEYS_DIR: keysDir,
  VIGIL_MODEL_TRUSTED_KEYS: [ours.id],
  ...extra,
});

async function rejection(c: ScoringConfig): Promise<ModelRejected> {
  const e = await openScoringModel(c).then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(ModelRejected);
  return e as ModelRejected;
}

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'vigil-scoring-'));
  keysDir = join(tmp, 'keys');
  mkdirSync(keysDir);
  ours = newSigner(keysDir);
  other = newSigner(keysDir);
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('model loader', () => {
  it('loads the shipped model with the shipped key and keeps one session per model', async () => {
    const c = loadScoringConfig({}, repoRoot());
    const a = await openScoringModel(c);
    const b = await openScoringModel(c);
    expect(a.session).toBe(b.session);
    expect(a.manifest.id).toBe('syscall-anomaly');
    expect(a.keyId).toBe(a.manifest.signing.keyId);
  });

  it('loads a model signed by a trusted key given as a file', async () => {
    const dir = modelDir('good', ours);
    const m = await openScoringModel(cfg(dir, { VIGIL_MODEL_TRUSTED_KEYS: [ours.pubFile] }));
    expect(m.keyId).toBe(ours.id);
  });

  it('refuses an unsigned model', async () => {
    const dir = modelDir('unsigned', ours);
    unlinkSync(join(dir, 'manifest.sig'));
    expect((await rejection(cfg(dir))).reason).toBe('unsigned');
  });

  it('refuses a model signed by a key that is not trusted', async () => {
    const dir = modelDir('wrong-key', other);
    const e = await rejection(cfg(dir));
    expect(e.reason).toBe('bad-signature');
    expect(e.message).toContain(other.id);
  });

  it('refuses a manifest changed after signing', async () => {
    const dir = modelDir('tampered-manifest', ours);
    const path = join(dir, 'manifest.json');
    writeFileSync(path, readFileSync(path, 'utf8').replace(/"detect90": [0-9.e-]+/, '"detect90": 0.99'));
    const e = await rejection(cfg(dir));
    expect(e.reason).toBe('bad-signature');
    expect(e.message).toContain('changed after signing');
  });

  it('refuses model bytes that do not match the signed hash', async () => {
    const dir = modelDir('tampered-model', ours);
    const path = join(dir, 'model.onnx');
    const bytes = readFileSync(path);
    bytes[bytes.length - 100] = bytes[bytes.length - 100]! ^ 0x01;
    writeFileSync(path, bytes);
    expect((await rejection(cfg(dir))).reason).toBe('tampered');
  });

  it('refuses a revoked model even when its signature is good', async () => {
    const dir = modelDir('revoked', ours);
    const sha = (
      JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as { model: { sha256: string } }
    ).model.sha256;
    const c = loadScoringConfig(
      { VIGIL_MODEL_REVOKED: `${'0'.repeat(64)}, ${sha.toUpperCase()}` },
      repoRoot(),
    );
    expect((await rejection(cfg(dir, { VIGIL_MODEL_REVOKED: c.VIGIL_MODEL_REVOKED }))).reason).toBe(
      'revoked',
    );
  });

  it('refuses a key file named after another key id', async () => {
    const dir = modelDir('swapped-key', ours);
    copyFileSync(other.pubFile, join(keysDir, 'ffffffffffffffff.pub'));
    const e = await rejection(cfg(dir, { VIGIL_MODEL_TRUSTED_KEYS: ['ffffffffffffffff'] }));
    expect(e.message).toContain('holds key');
  });
});

describe('scoreEvent', () => {
  let model: ScoringModel;
  beforeAll(async () => {
    model = await openScoringModel(loadScoringConfig({}, repoRoot()));
  });

  it('fails non-retryably as Misconfigured when the model was refused', async () => {
    const dir = modelDir('refused', other);
    const refused = await rejection(cfg(dir));
    const { scoreEvent } = createScoringActivities(refused);
    const e = await scoreEvent({ syscalls: ['read'] }).catch((err: unknown) => err);
    expect(e).toBeInstanceOf(ApplicationFailure);
    expect((e as ApplicationFailure).type).toBe(ErrorType.Misconfigured);
    expect((e as ApplicationFailure).nonRetryable).toBe(true);
  });

  it('rejects bad input as InvalidInput', async () => {
    const { scoreEvent } = createScoringActivities(model);
    const e = await scoreEvent({ syscalls: 'read' } as never).catch((err: unknown) => err);
    expect((e as ApplicationFailure).type).toBe(ErrorType.InvalidInput);
  });

  it('returns the score, the threshold and top-k attributions that add up', async () => {
    const { scoreEvent } = createScoringActivities(model, { topK: 233, attributions: 'always' });
    const shell = ['socket', 'connect', 'dup2', 'dup2', 'dup2', 'execve', 'brk', 'openat', 'read', 'write'];
    const r = await scoreEvent({ syscalls: [...shell, ...shell, 'clock_gettime'] });
    expect(r).toMatchObject({
      modelId: 'syscall-anomaly',
      sha256: model.sha256,
      space: 'probability',
      calls: 20,
    });
    expect(r.threshold).toBe(model.manifest.thresholds.detect90);
    expect(r.aboveThreshold).toBe(r.score >= r.threshold);
    const sum = r.attributions.reduce((s, a) => s + a.contribution, 0);
    expect(Math.abs(r.baseValue + sum - r.score)).toBeLessThan(1e-6);
    const mags = r.attributions.map((a) => Math.abs(a.contribution));
    expect(mags).toEqual([...mags].sort((a, b) => b - a));
    const top3 = await createScoringActivities(model, { attributions: 'always' }).scoreEvent({
      syscalls: shell,
      topK: 3,
    });
    expect(top3.attributions).toHaveLength(3);
    expect(top3.attributions[0]?.feature).toMatch(/^(len|distinct|freq|bigram|has):/);
  });

  it('scores single rows, also concurrent ones on reused input tensors, exactly as a batch does', async () => {
    const parity = JSON.parse(readFileSync(join(shipped, 'parity.json'), 'utf8')) as {
      vectors: { x: number[] }[];
    };
    const rows = parity.vectors.map((v) => Float32Array.from(v.x));
    const batch = await model.score(rows);
    expect(new Set(batch).size).toBeGreaterThan(3);
    for (let round = 0; round < 3; round++) {
      const singles = await Promise.all(rows.map(async (r) => (await model.score([r]))[0]));
      expect(singles).toEqual(batch);
    }
  });

  it('uses the configured threshold', async () => {
    const r = await createScoringActivities(model, { threshold: 'detect99' }).scoreEvent({
      syscalls: ['read'],
    });
    expect(r.threshold).toBe(model.manifest.thresholds.detect99);
    const fixed = await createScoringActivities(model, { threshold: 0.5 }).scoreEvent({ syscalls: ['read'] });
    expect(fixed.threshold).toBe(0.5);
  });
});
