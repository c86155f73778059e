/**
 * Shadow scoring, metrics and revocation on the real onnxruntime sessions of the shipped model and of a
 * genuinely different variant of it (half the forest's positive leaves zeroed), both signed by a test key.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, ErrorType } from '../../src/errors.js';
import { repoRoot } from '../../src/paths.js';
import {
  forestVariant,
  newSigner,
  SHIPPED_MODEL,
  signedModelDir,
  type TestSigner,
} from '../../test/helpers/model-variant.js';
import { loadScoringConfig, type ScoringConfig } from './config.js';
import { createScoringActivities } from './index.js';
import { createScoringMetrics } from './metrics.js';
import { ModelRejected, openScoringModel, type ScoringModel } from './model.js';
import { ScoringModels } from './models.js';

let tmp: string;
let signer: TestSigner;
let active: { dir: string; sha256: string };
let candidate: { dir: string; sha256: string };
let keysDir: string;

const cfg = (extra: Partial<ScoringConfig> = {}): ScoringConfig => ({
  ...loadScoringConfig({}, repoRoot()),
  VIGIL_MODEL_DIR: active.dir,
  VIGIL_MODEL_KEYS_DIR: keysDir,
  VIGIL_MODEL_TRUSTED_KEYS: [signer.id],
  ...extra,
});

/** Deterministic syscall windows over the model's vocabulary, some with a reverse-shell core. */
function windows(model: ScoringModel, n: number): string[][] {
  const vocab = model.featurizer.spec.vocabulary;
  let seed = 12345;
  const rnd = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const shell = ['socket', 'connect', 'dup2', 'dup2', 'dup2', 'execve'];
  return Array.from({ length: n }, (_, i) => {
    const len = 40 + Math.floor(rnd() * 300);
    const narrow = vocab.slice(0, 4 + Math.floor(rnd() * vocab.length));
    const seq = Array.from({ length: len }, () => narrow[Math.floor(rnd() * narrow.length)]!);
    if (i % 3 === 0) seq.splice(Math.floor(len / 2), 0, ...shell, ...shell);
    return seq;
  });
}

const metricValue = (text: string, name: string, labels: Record<string, string> = {}) =>
  text
    .split('\n')
    .filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `))
    .filter((l) => Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)))
    .reduce((s, l) => s + Number(l.split(' ').pop()), 0);

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'vigil-shadow-'));
  keysDir = join(tmp, 'keys');
  signer = newSigner(keysDir);
  active = signedModelDir(join(tmp, 'active'), signer);
  candidate = signedModelDir(join(tmp, 'candidate'), signer, {
    model: forestVariant(readFileSync(join(SHIPPED_MODEL, 'model.onnx')), 2),
    version: '1.1.0-rc1',
  });
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('shadow scoring', () => {
  it('records the shadow score beside the active one, counts disagreements, and lets only the active decide', async () => {
    const metrics = createScoringMetrics();
    const models = await ScoringModels.open(cfg({ VIGIL_MODEL_SHADOW_DIR: candidate.dir }), { metrics });
    const a = models.active as ScoringModel;
    const s = models.shadow as ScoringModel;
    expect(s.sha256).toBe(candidate.sha256);
    expect(s.sha256).not.toBe(a.sha256);
    const { scoreEvent } = createScoringActivities(models, { metrics, topK: 0 });
    const seqs = windows(a, 150);
    let disagreements = 0;
    for (const syscalls of seqs) {
      const r = await scoreEvent({ syscalls });
      // The active model's numbers are its own, whatever the shadow says.
      const [own] = await a.score([Float32Array.from(a.featurizer.features(syscalls))]);
      expect(r.score).toBe(own);
      expect(r.sha256).toBe(a.sha256);
      expect(r.aboveThreshold).toBe(r.score >= r.threshold);
      const [shadowOwn] = await s.score([Float32Array.from(s.featurizer.features(syscalls))]);
      expect(r.shadow).toMatchObject({
        modelId: 'syscall-anomaly',
        version: '1.1.0-rc1',
        sha256: candidate.sha256,
        score: shadowOwn,
        threshold: s.manifest.thresholds.detect90,
      });
      if (r.shadow && 'score' in r.shadow) {
        expect(r.shadow.aboveThreshold).toBe(r.shadow.score >= r.shadow.threshold);
        expect(r.shadow.disagrees).toBe(r.shadow.aboveThreshold !== r.aboveThreshold);
        if (r.shadow.disagrees) disagreements++;
      }
    }
    // The variant is a different model: some decisions differ, most do not.
    expect(disagreements).toBeGreaterThan(0);
    expect(disagreements).toBeLessThan(seqs.length);
    const text = await metrics.registry.metrics();
    const labels = { active: 'syscall-anomaly@1.0.0', shadow: 'syscall-anomaly@1.1.0-rc1' };
    expect(metricValue(text, 'vigil_scoring_shadow_total', { ...labels, outcome: 'disagree' })).toBe(
      disagreements,
    );
    expect(metricValue(text, 'vigil_scoring_shadow_total', { ...labels, outcome: 'agree' })).toBe(
      seqs.length - disagreements,
    );
    expect(metricValue(text, 'vigil_scoring_score_count', { role: 'shadow', sha256: candidate.sha256 })).toBe(
      seqs.length,
    );
    expect(metricValue(text, 'vigil_scoring_model_info', { role: 'shadow', status: 'loaded' })).toBe(1);
  });

  it('scores with the active model when the shadow is refused, and says why the shadow is missing', async () => {
    const unsigned = signedModelDir(join(tmp, 'shadow-untrusted'), newSigner(join(tmp, 'other-keys')));
    const metrics = createScoringMetrics();
    const warnings: string[] = [];
    const models = await ScoringModels.open(cfg({ VIGIL_MODEL_SHADOW_DIR: unsigned.dir }), {
      metrics,
      warn: (m) => warnings.push(m),
    });
    const r = await createScoringActivities(models, { metrics, topK: 0 }).scoreEvent({
      syscalls: ['read', 'write', 'openat', 'close'],
    });
    expect(r.sha256).toBe(active.sha256);
    expect(r.shadow).toMatchObject({ reason: 'bad-signature' });
    expect(warnings.join('\n')).toContain('shadow model refused (bad-signature)');
    const text = await metrics.registry.metrics();
    expect(
      metricValue(text, 'vigil_scoring_refused_total', { role: 'shadow', reason: 'bad-signature' }),
    ).toBe(1);
    expect(metricValue(text, 'vigil_scoring_shadow_total')).toBe(0);
  });
});

describe('scoring metrics', () => {
  it('observes inference latency per stage and the score distribution per model version', async () => {
    const metrics = createScoringMetrics();
    const model = await openScoringModel(cfg());
    const { scoreEvent } = createScoringActivities(model, { metrics, topK: 3, attributions: 'always' });
    const seqs = windows(model, 12);
    const scores: number[] = [];
    for (const [i, syscalls] of seqs.entries())
      scores.push((await scoreEvent({ syscalls, topK: i < 2 ? 3 : 0 })).score);
    const text = await metrics.registry.metrics();
    const m = { model: 'syscall-anomaly@1.0.0' };
    expect(metricValue(text, 'vigil_scoring_inference_seconds_count', { ...m, stage: 'score' })).toBe(12);
    // Attributions are timed only when they were computed.
    expect(metricValue(text, 'vigil_scoring_inference_seconds_count', { ...m, stage: 'attributions' })).toBe(
      2,
    );
    expect(
      metricValue(text, 'vigil_scoring_inference_seconds_sum', { ...m, stage: 'score' }),
    ).toBeGreaterThan(0);
    const sum = metricValue(text, 'vigil_scoring_score_sum', { sha256: active.sha256, role: 'active' });
    expect(sum).toBeCloseTo(
      scores.reduce((s, x) => s + x, 0),
      5,
    );
    // The bucket holding scores <= 0.5 counts exactly those scores.
    expect(
      metricValue(text, 'vigil_scoring_score_bucket', { sha256: active.sha256, role: 'active', le: '0.5' }),
    ).toBe(scores.filter((s) => s <= 0.5).length);
    const threshold = model.manifest.thresholds.detect90;
    expect(metricValue(text, 'vigil_scoring_flagged_total', { ...m, role: 'active' })).toBe(
      scores.filter((s) => s >= threshold).length,
    );
  });

  it('computes attributions only for flagged events by default (VIGIL_MODEL_ATTRIBUTIONS=flagged)', async () => {
    const metrics = createScoringMetrics();
    const model = await openScoringModel(cfg());
    // No `attributions` option: the library's default is the configuration's, flagged.
    const { scoreEvent } = createScoringActivities(model, { metrics, topK: 3 });
    let flagged = 0;
    for (const syscalls of windows(model, 30)) {
      const r = await scoreEvent({ syscalls });
      expect(r.attributions.length > 0).toBe(r.aboveThreshold);
      if (r.aboveThreshold) flagged++;
    }
    expect(flagged).toBeGreaterThan(0);
    expect(flagged).toBeLessThan(30);
    const text = await metrics.registry.metrics();
    expect(metricValue(text, 'vigil_scoring_inference_seconds_count', { stage: 'attributions' })).toBe(
      flagged,
    );
  });

  it('counts calls refused because the model was refused', async () => {
    const metrics = createScoringMetrics();
    const refused = new ModelRejected('tampered', 'x: changed', '/x');
    const e = await createScoringActivities(refused, { metrics })
      .scoreEvent({ syscalls: ['read'] })
      .catch((err: unknown) => err);
    expect((e as ApplicationFailure).type).toBe(ErrorType.Misconfigured);
    const text = await metrics.registry.metrics();
    expect(metricValue(text, 'vigil_scoring_refused_total', { role: 'active', reason: 'tampered' })).toBe(1);
  });
});

describe('revocation', () => {
  it('refuses at load a model listed in the revocation file', async () => {
    const file = join(tmp, 'revoked-at-load');
    writeFileSync(
      file,
      `# incident 2026-11-02: retrained on poisoned data\n${active.sha256.toUpperCase()}\n`,
    );
    const models = await ScoringModels.open(cfg({ VIGIL_MODEL_REVOKED_FILE: file }), { warn: () => {} });
    expect(models.active).toBeInstanceOf(ModelRejected);
    expect((models.active as ModelRejected).reason).toBe('revoked');
    const e = await createScoringActivities(models)
      .scoreEvent({ syscalls: ['read'] })
      .catch((err: unknown) => err);
    expect((e as ApplicationFailure).type).toBe(ErrorType.Misconfigured);
    expect((e as ApplicationFailure).nonRetryable).toBe(true);
    expect((e as ApplicationFailure).details?.[0]).toMatchObject({ reason: 'revoked' });
  });

  it('stops a running model as soon as its hash is added to the file, and a truncated file does not bring it back', async () => {
    const file = join(tmp, 'revoked-live');
    writeFileSync(file, '# nothing revoked yet\n');
    const warnings: string[] = [];
    const metrics = createScoringMetrics();
    const models = await ScoringModels.open(
      cfg({ VIGIL_MODEL_REVOKED_FILE: file, VIGIL_MODEL_SHADOW_DIR: candidate.dir }),
      { revocationCheckMs: 0, warn: (m) => warnings.push(m), metrics },
    );
    const { scoreEvent } = createScoringActivities(models, { topK: 0, metrics });
    expect((await scoreEvent({ syscalls: ['read'] })).sha256).toBe(active.sha256);

    // Revoke the shadow only: the active model keeps deciding, the shadow is reported refused.
    writeFileSync(file, `${candidate.sha256}\n`);
    const r = await scoreEvent({ syscalls: ['read'] });
    expect(r.sha256).toBe(active.sha256);
    expect(r.shadow).toMatchObject({ reason: 'revoked' });

    writeFileSync(file, `${candidate.sha256}\n${active.sha256}  # bad model\n`);
    const e = await scoreEvent({ syscalls: ['read'] }).catch((err: unknown) => err);
    expect((e as ApplicationFailure).type).toBe(ErrorType.Misconfigured);
    expect((e as ApplicationFailure).details?.[0]).toMatchObject({ reason: 'revoked' });
    expect(warnings.join('\n')).toContain(`(${active.sha256}) was revoked`);
    expect(
      metricValue(await metrics.registry.metrics(), 'vigil_scoring_model_info', {
        role: 'active',
        status: 'refused:revoked',
      }),
    ).toBe(1);

    // A garbled or emptied file never un-revokes a running worker.
    writeFileSync(file, 'not a hash\n');
    expect(models.active).toBeInstanceOf(ModelRejected);
    writeFileSync(file, '');
    expect(models.active).toBeInstanceOf(ModelRejected);
    expect(warnings.join('\n')).toContain('cannot be read; keeping the previous list');

    // An explicit reload with the hash taken off the list loads the model again.
    await models.reload();
    expect((await scoreEvent({ syscalls: ['read'] })).sha256).toBe(active.sha256);
  });

  it('stops at start with a ConfigError naming VIGIL_MODEL_REVOKED_FILE when the file is missing or malformed', async () => {
    const missing = await ScoringModels.open(cfg({ VIGIL_MODEL_REVOKED_FILE: join(tmp, 'nope') })).catch(
      (e: unknown) => e,
    );
    expect(missing).toBeInstanceOf(ConfigError);
    expect((missing as ConfigError).problems[0]?.key).toBe('VIGIL_MODEL_REVOKED_FILE');
    const bad = join(tmp, 'bad-list');
    writeFileSync(bad, `${active.sha256}\nabc123\n`);
    const e = await ScoringModels.open(cfg({ VIGIL_MODEL_REVOKED_FILE: bad })).catch((err: unknown) => err);
    expect(e).toBeInstanceOf(ConfigError);
    expect((e as ConfigError).message).toContain('line 2');
  });
});
