/**
 * `vigil model compare`: the shipped model against a genuinely different candidate (a thinned variant of
 * its forest, signed by a test key), on ADFA-LD's held-out traces (read from ../shared/data, never copied
 * into the repository); and the command itself, run as a user runs it.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../../src/paths.js';
import {
  forestVariant,
  newSigner,
  SHIPPED_MODEL,
  signedModelDir,
  type TestSigner,
} from '../../test/helpers/model-variant.js';
import { compareModels, type Comparison } from './compare.js';
import { loadScoringConfig } from './config.js';
import { evaluate, readLabelledTraces, type LabelledTrace } from './evaluate.js';
import { openScoringModel, type ScoringModel } from './model.js';

const data = join(repoRoot(), '..', 'shared', 'data', 'adfa-ld', 'traces.jsonl.gz');
const run = promisify(execFile);

let tmp: string;
let signer: TestSigner;
let candidateDir: string;
let active: ScoringModel;
let candidate: ScoringModel;

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'vigil-compare-'));
  signer = newSigner(join(tmp, 'keys'));
  candidateDir = signedModelDir(join(tmp, 'candidate'), signer, {
    model: forestVariant(readFileSync(join(SHIPPED_MODEL, 'model.onnx')), 2),
    version: '1.1.0',
  }).dir;
  active = await openScoringModel(loadScoringConfig({}, repoRoot()));
  candidate = await openScoringModel({
    ...loadScoringConfig({}, repoRoot()),
    VIGIL_MODEL_DIR: candidateDir,
    VIGIL_MODEL_TRUSTED_KEYS: [signer.pubFile],
  });
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('compareModels', () => {
  it('finds full agreement and no changed decision when the candidate is the active model', async () => {
    const parity = JSON.parse(readFileSync(join(SHIPPED_MODEL, 'parity.json'), 'utf8')) as {
      sequences: { syscalls: string[] }[];
    };
    const traces: LabelledTrace[] = parity.sequences.map((s, i) => ({
      id: `p${i}`,
      label: i % 2 ? 'attack' : 'normal',
      syscalls: s.syscalls,
    }));
    const r = await compareModels(
      { model: active, threshold: 0.3 },
      { model: active, threshold: 0.3 },
      traces,
    );
    expect(r.n).toBe(traces.length);
    expect(r.agreement).toBe(1);
    expect(r.meanAbsScoreChange).toBe(0);
    expect(r.decisions).toEqual([]);
    expect(r.candidate.metrics).toEqual(r.active.metrics);
  });
});

describe.skipIf(!existsSync(data))('compareModels on the held-out split of ADFA-LD', () => {
  let ids: Set<string>;
  let heldOut: LabelledTrace[];
  let r: Comparison;
  beforeAll(async () => {
    const split = JSON.parse(readFileSync(join(SHIPPED_MODEL, 'split.json'), 'utf8')) as {
      heldOutIds: string[];
    };
    ids = new Set(split.heldOutIds);
    heldOut = [];
    for await (const t of readLabelledTraces(data)) if (ids.has(t.id ?? '')) heldOut.push(t);
    r = await compareModels(
      { model: active, threshold: active.manifest.thresholds.detect90 },
      { model: candidate, threshold: candidate.manifest.thresholds.detect90 },
      heldOut,
    );
  });

  it("reports each model's metrics as `vigil model eval` computes them", async () => {
    expect(r.n).toBe(ids.size);
    const card = active.manifest.metrics.heldOut;
    expect(Math.abs(r.active.metrics.rocAuc - card.rocAuc)).toBeLessThan(1e-9);
    expect(Math.abs(r.active.metrics.fprAt90 - card.fprAt90)).toBeLessThan(1e-9);
    expect(Math.abs(r.active.metrics.fprAt99 - card.fprAt99)).toBeLessThan(1e-9);
    const own = await evaluate(candidate, heldOut);
    expect(r.candidate.metrics.rocAuc).toBe(own.rocAuc);
    expect(r.candidate.metrics.fprAt90).toBe(own.fprAt90);
    expect(r.candidate.metrics.fprAt99).toBe(own.fprAt99);
    // A different model, measurably.
    expect(r.candidate.metrics.rocAuc).not.toBe(r.active.metrics.rocAuc);
  });

  it('lists exactly the decisions that would change, split by label', async () => {
    const score = async (m: ScoringModel, t: LabelledTrace) => {
      const names = t.syscalls.map((c) => (typeof c === 'string' ? c : (m.featurizer.i386Name(c) ?? '?')));
      return (await m.score([m.featurizer.features(names)]))[0]!;
    };
    let newly = 0;
    let gone = 0;
    let goneAttacks = 0;
    for (const t of heldOut) {
      const a = (await score(active, t)) >= active.manifest.thresholds.detect90;
      const c = (await score(candidate, t)) >= candidate.manifest.thresholds.detect90;
      if (c && !a) newly++;
      if (a && !c) {
        gone++;
        if (t.label === 'attack') goneAttacks++;
      }
    }
    expect(gone + newly).toBeGreaterThan(0);
    expect(r.changed.newlyFlagged.total).toBe(newly);
    expect(r.changed.noLongerFlagged.total).toBe(gone);
    expect(r.changed.noLongerFlagged.attacks).toBe(goneAttacks);
    expect(r.decisions).toHaveLength(newly + gone);
    expect(r.agreement).toBeCloseTo(1 - (newly + gone) / r.n, 12);
    for (const d of r.decisions) {
      expect(d.change === 'newly-flagged').toBe(d.candidate >= r.candidate.threshold);
      expect(d.active >= r.active.threshold).toBe(d.change === 'no-longer-flagged');
    }
  });

  it('runs as `vigil model compare <dir> --on <file> --json`, and refuses an untrusted candidate', async () => {
    const file = join(tmp, 'sample.jsonl');
    writeFileSync(
      file,
      heldOut
        .slice(0, 400)
        .map((t) => JSON.stringify(t))
        .join('\n') + '\n',
    );
    const env = {
      ...process.env,
      VIGIL_MODEL_TRUSTED_KEYS: `6f3b4ee0d94213f6,${signer.pubFile}`,
    };
    const cli = join(repoRoot(), 'bin', 'vigil.js');
    const { stdout } = await run('node', [cli, 'model', 'compare', candidateDir, '--on', file, '--json'], {
      env,
    });
    const out = JSON.parse(stdout) as Comparison;
    expect(out.n).toBe(400);
    expect(out.active.sha256).toBe(active.sha256);
    expect(out.candidate).toMatchObject({ model: 'syscall-anomaly@1.1.0', sha256: candidate.sha256 });
    expect(out.decisions).toHaveLength(out.changed.newlyFlagged.total + out.changed.noLongerFlagged.total);
    const text = await run('node', [cli, 'model', 'compare', candidateDir, '--on', file], { env });
    expect(text.stdout).toContain('decisions that would change');
    expect(text.stdout).toMatch(/agreement \d+\.\d%/);

    // Without the candidate's key, the candidate is refused like the worker would refuse it.
    const refused = await run('node', [cli, 'model', 'compare', candidateDir, '--on', file], {
      env: { ...process.env, VIGIL_MODEL_TRUSTED_KEYS: '6f3b4ee0d94213f6' },
    }).catch((e: { code: number; stdout: string }) => e);
    expect((refused as { code: number }).code).toBe(1);
    expect((refused as { stdout: string }).stdout).toContain('REFUSED (bad-signature)');
  });
});

describe('vigil model list', () => {
  it('shows the shadow beside the active model and refuses what the revocation file lists', async () => {
    const cli = join(repoRoot(), 'bin', 'vigil.js');
    const list = join(tmp, 'revoked-list.txt');
    writeFileSync(list, `# pulled 2026-11-26\n${active.sha256}\n`);
    const env = {
      ...process.env,
      VIGIL_MODEL_TRUSTED_KEYS: `6f3b4ee0d94213f6,${signer.pubFile}`,
      VIGIL_MODEL_SHADOW_DIR: candidateDir,
      VIGIL_MODEL_REVOKED_FILE: list,
    };
    const r = await run('node', [cli, 'model', 'list', '--json'], { env }).catch(
      (e: { code: number; stdout: string }) => e,
    );
    expect((r as { code?: number }).code).toBe(1); // the active model is refused
    const rows = JSON.parse(r.stdout) as { active: boolean; shadow: boolean; ok: boolean; reason?: string }[];
    expect(rows.find((x) => x.active)).toMatchObject({ ok: false, reason: 'revoked' });
    expect(rows.find((x) => x.shadow)).toMatchObject({ ok: true });
    const missing = await run('node', [cli, 'model', 'list'], {
      env: { ...env, VIGIL_MODEL_REVOKED_FILE: join(tmp, 'no-such-list') },
    }).catch((e: { code: number; stderr: string }) => e);
    expect((missing as { code: number }).code).toBe(2);
    expect((missing as { stderr: string }).stderr).toContain('VIGIL_MODEL_REVOKED_FILE');
  });
});
