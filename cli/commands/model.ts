/**
 * `vigil model list | verify [dir] | eval <labelled.jsonl[.gz]> | compare <candidate dir> [--on f.jsonl]`:
 * the scoring models, whether they would be loaded (signature by a trusted key, hash, revocation), how one
 * scores on labelled traces, and what would change if a candidate replaced the active model. Uses the
 * worker's settings (VIGIL_MODEL_DIR, VIGIL_MODEL_TRUSTED_KEYS, VIGIL_MODEL_KEYS_DIR, VIGIL_MODEL_REVOKED,
 * VIGIL_MODEL_REVOKED_FILE, VIGIL_MODEL_THRESHOLD).
 */
import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadScoringConfig, type ScoringConfig } from '../../activities/scoring/config.js';
import { compareModels, type CompareSide } from '../../activities/scoring/compare.js';
import { evaluate, readLabelledTraces, type Metrics } from '../../activities/scoring/evaluate.js';
import {
  ModelRejected,
  openScoringModel,
  thresholdOf,
  trustedKeys,
  verifyModelDir,
  type ScoringModel,
} from '../../activities/scoring/model.js';
import { revokedHashes } from '../../activities/scoring/revocation.js';
import { repoRoot } from '../../src/paths.js';
import { printJson, table, UsageError } from '../output.js';

const pct = (v: number) => `${(100 * v).toFixed(1)}%`;

type Status =
  | { dir: string; ok: true; id: string; version: string; created: string; sha256: string; keyId: string }
  | { dir: string; ok: false; reason: string; message: string };

function status(dir: string, cfg: ScoringConfig, revoked: readonly string[]): Status {
  try {
    const v = verifyModelDir(dir, trustedKeys(cfg), revoked);
    const m = v.manifest;
    return {
      dir,
      id: m.id,
      version: m.version,
      created: m.created,
      sha256: v.sha256,
      ok: true,
      keyId: v.keyId,
    };
  } catch (e) {
    const reason = e instanceof ModelRejected ? e.reason : 'error';
    return { dir, ok: false, reason, message: e instanceof Error ? e.message : String(e) };
  }
}

async function refusalOr<T>(dir: string, json: boolean, fn: () => Promise<T>): Promise<T | undefined> {
  try {
    return await fn();
  } catch (e) {
    if (!(e instanceof ModelRejected)) throw e;
    if (json) printJson({ dir, ok: false, reason: e.reason, message: e.message });
    else process.stdout.write(`REFUSED (${e.reason}): ${e.message}\n`);
    return undefined;
  }
}

const USAGE =
  'vigil model list | verify [dir] | eval <labelled.jsonl[.gz]> | compare <candidate dir> [--on <labelled.jsonl[.gz]>]   [--json]';

export async function model(opts: {
  action?: string;
  arg?: string;
  on?: string;
  json: boolean;
}): Promise<number> {
  const root = repoRoot();
  const cfg = loadScoringConfig(process.env, root);
  switch (opts.action ?? 'list') {
    case 'list': {
      const base = join(root, 'models');
      const shadow = cfg.VIGIL_MODEL_SHADOW_DIR ? resolve(cfg.VIGIL_MODEL_SHADOW_DIR) : undefined;
      const dirs = new Set<string>([resolve(cfg.VIGIL_MODEL_DIR), ...(shadow ? [shadow] : [])]);
      if (existsSync(base)) {
        for (const d of readdirSync(base, { withFileTypes: true })) {
          if (d.isDirectory() && existsSync(join(base, d.name, 'manifest.json')))
            dirs.add(join(base, d.name));
        }
      }
      const revoked = revokedHashes(cfg); // a bad revocation file is a ConfigError, not a model refusal
      const rows = [...dirs].map((d) => ({
        ...status(d, cfg, revoked),
        active: d === resolve(cfg.VIGIL_MODEL_DIR),
        shadow: d === shadow,
      }));
      // Exit 1 when the active model would be refused (in --json too, for scripts).
      const code = rows.every((r) => r.ok || !r.active) ? 0 : 1;
      if (opts.json) return (printJson(rows), code);
      process.stdout.write(
        `${table(
          rows.map((r) => ({
            model: r.ok ? `${r.id}@${r.version}` : '?',
            sha256: r.ok ? r.sha256.slice(0, 12) : '',
            signature: r.ok ? `ok (key ${r.keyId})` : `REFUSED: ${r.reason}`,
            role: r.active ? 'active' : r.shadow ? 'shadow' : '',
            dir: r.dir,
          })),
          ['model', 'sha256', 'signature', 'role', 'dir'],
        )}\n`,
      );
      return code;
    }
    case 'verify': {
      const dir = resolve(opts.arg ?? cfg.VIGIL_MODEL_DIR);
      const m = await refusalOr(dir, opts.json, () => openScoringModel({ ...cfg, VIGIL_MODEL_DIR: dir }));
      if (!m) return 1;
      const out = {
        dir,
        ok: true,
        id: m.manifest.id,
        version: m.manifest.version,
        sha256: m.sha256,
        keyId: m.keyId,
        features: m.featurizer.count,
        trees: m.ensemble.trees.length,
        thresholds: m.manifest.thresholds,
      };
      if (opts.json) return (printJson(out), 0);
      process.stdout.write(
        `OK ${out.id}@${out.version}: signed by trusted key ${out.keyId}, model.onnx sha256 ${out.sha256}\n` +
          `   not revoked; onnxruntime loads it (${out.trees} trees, ${out.features} features)\n`,
      );
      return 0;
    }
    case 'eval': {
      if (!opts.arg) throw new UsageError('vigil model eval <labelled.jsonl[.gz]> [--json]');
      const file = resolve(opts.arg);
      if (!existsSync(file)) throw new UsageError(`no such file: ${file}`);
      const m = await refusalOr(resolve(cfg.VIGIL_MODEL_DIR), opts.json, () => openScoringModel(cfg));
      if (!m) return 1;
      const r = await evaluate(m, readLabelledTraces(file));
      const out = { model: `${m.manifest.id}@${m.manifest.version}`, sha256: m.sha256, file, ...r };
      if (opts.json) return (printJson(out), 0);
      const row = (slice: string, x: Metrics) => ({
        slice,
        traces: String(x.n),
        attacks: String(x.attacks),
        rocAuc: x.attacks && x.normal ? x.rocAuc.toFixed(4) : '-',
        fprAt90: x.attacks && x.normal ? pct(x.fprAt90) : '-',
        fprAt99: x.attacks && x.normal ? pct(x.fprAt99) : '-',
      });
      process.stdout.write(
        `${out.model} (${m.sha256.slice(0, 12)}) on ${file}\n\n${table(
          [row('all', r), ...Object.entries(r.perFamily).map(([f, x]) => row(`${f} vs normal`, x))],
          ['slice', 'traces', 'attacks', 'rocAuc', 'fprAt90', 'fprAt99'],
        )}\n` + (r.unknownNumbers ? `\n${r.unknownNumbers} syscall numbers not in the i386 table\n` : ''),
      );
      return 0;
    }
    case 'compare':
      return compare(cfg, opts);
    default:
      throw new UsageError(USAGE);
  }
}

/**
 * The active model (VIGIL_MODEL_DIR, at VIGIL_MODEL_THRESHOLD) against a candidate folder (at its own
 * manifest's threshold of the same name, or its default when the threshold is a number). Without --on, the
 * two manifests' held-out metrics side by side; with --on, both scored on the labelled file.
 */
async function compare(
  cfg: ScoringConfig,
  opts: { arg?: string; on?: string; json: boolean },
): Promise<number> {
  if (!opts.arg)
    throw new UsageError('vigil model compare <candidate dir> [--on <labelled.jsonl[.gz]>] [--json]');
  const candDir = resolve(opts.arg);
  const file = opts.on ? resolve(opts.on) : undefined;
  if (file && !existsSync(file)) throw new UsageError(`no such file: ${file}`);
  const active = await refusalOr(resolve(cfg.VIGIL_MODEL_DIR), opts.json, () => openScoringModel(cfg));
  if (!active) return 1;
  const candidate = await refusalOr(candDir, opts.json, () =>
    openScoringModel({ ...cfg, VIGIL_MODEL_DIR: candDir }),
  );
  if (!candidate) return 1;
  const choice = cfg.VIGIL_MODEL_THRESHOLD;
  const ta = thresholdOf(active.manifest, choice);
  const tc = thresholdOf(candidate.manifest, typeof choice === 'number' ? undefined : choice);
  const id = (m: ScoringModel) => `${m.manifest.id}@${m.manifest.version}`;
  if (!file) {
    const card = (m: ScoringModel, t: number) => ({
      model: id(m),
      sha256: m.sha256,
      threshold: t,
      heldOut: m.manifest.metrics.heldOut,
    });
    const out = { active: card(active, ta), candidate: card(candidate, tc) };
    if (opts.json) return (printJson(out), 0);
    const row = (role: string, c: ReturnType<typeof card>) => ({
      role,
      model: c.model,
      sha256: c.sha256.slice(0, 12),
      threshold: c.threshold.toFixed(3),
      rocAuc: c.heldOut.rocAuc.toFixed(4),
      fprAt90: pct(c.heldOut.fprAt90),
      fprAt99: pct(c.heldOut.fprAt99),
    });
    process.stdout.write(
      `Each model's own held-out metrics (from its signed manifest; not comparable if the splits differ):\n\n${table(
        [row('active', out.active), row('candidate', out.candidate)],
        ['role', 'model', 'sha256', 'threshold', 'rocAuc', 'fprAt90', 'fprAt99'],
      )}\n\nGive --on <labelled.jsonl[.gz]> to score both on the same traces and see the decisions that would change.\n`,
    );
    return 0;
  }
  const r = await compareModels(
    { model: active, threshold: ta },
    { model: candidate, threshold: tc },
    readLabelledTraces(file),
  );
  if (opts.json) return (printJson({ file, ...r }), 0);
  const row = (role: string, c: CompareSide) => ({
    role,
    model: c.model,
    sha256: c.sha256.slice(0, 12),
    rocAuc: r.attacks && r.normal ? c.metrics.rocAuc.toFixed(4) : '-',
    fprAt90: r.attacks && r.normal ? pct(c.metrics.fprAt90) : '-',
    fprAt99: r.attacks && r.normal ? pct(c.metrics.fprAt99) : '-',
    threshold: c.threshold.toFixed(3),
    flagged: String(c.atThreshold.flagged),
    detection: r.attacks ? pct(c.atThreshold.detection) : '-',
    fpr: r.normal ? pct(c.atThreshold.fpr) : '-',
  });
  const { newlyFlagged: nf, noLongerFlagged: nl } = r.changed;
  const shown = r.decisions.slice(0, 20);
  process.stdout.write(
    `${r.n} traces (${r.attacks} attacks, ${r.normal} normal) from ${file}\n\n${table(
      [row('active', r.active), row('candidate', r.candidate)],
      ['role', 'model', 'sha256', 'rocAuc', 'fprAt90', 'fprAt99', 'threshold', 'flagged', 'detection', 'fpr'],
    )}\n\n` +
      `agreement ${pct(r.agreement)} (mean |score change| ${r.meanAbsScoreChange.toFixed(4)}); decisions that would change:\n` +
      `  newly flagged:     ${nf.total} (${nf.attacks} attacks caught, ${nf.normal} new false positives)\n` +
      `  no longer flagged: ${nl.total} (${nl.attacks} attacks missed, ${nl.normal} false positives avoided)\n` +
      (shown.length
        ? `\n${table(
            shown.map((d) => ({
              trace: d.id,
              label: d.attackType ? `${d.label} (${d.attackType})` : d.label,
              active: d.active.toFixed(3),
              candidate: d.candidate.toFixed(3),
              change: d.change,
            })),
            ['trace', 'label', 'active', 'candidate', 'change'],
          )}\n${r.decisions.length > shown.length ? `... and ${r.decisions.length - shown.length} more (--json lists all)\n` : ''}`
        : '') +
      (r.unknownNumbers ? `\n${r.unknownNumbers} syscall numbers not in the i386 table\n` : ''),
  );
  return 0;
}
