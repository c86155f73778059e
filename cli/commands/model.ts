/**
 * `vigil model list | verify [dir] | eval <labelled.jsonl[.gz]>`: the scoring models, whether they would be
 * loaded (signature by a trusted key, hash, revocation), and how one scores on labelled traces. Uses the
 * worker's settings (VIGIL_MODEL_DIR, VIGIL_MODEL_TRUSTED_KEYS, VIGIL_MODEL_KEYS_DIR, VIGIL_MODEL_REVOKED).
 */
import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadScoringConfig, type ScoringConfig } from '../../activities/scoring/config.js';
import { evaluate, readLabelledTraces, type Metrics } from '../../activities/scoring/evaluate.js';
import {
  ModelRejected,
  openScoringModel,
  trustedKeys,
  verifyModelDir,
} from '../../activities/scoring/model.js';
import { repoRoot } from '../../src/paths.js';
import { printJson, table, UsageError } from '../output.js';

const pct = (v: number) => `${(100 * v).toFixed(1)}%`;

type Status =
  | { dir: string; ok: true; id: string; version: string; created: string; sha256: string; keyId: string }
  | { dir: string; ok: false; reason: string; message: string };

function status(dir: string, cfg: ScoringConfig): Status {
  try {
    const v = verifyModelDir(dir, trustedKeys(cfg), cfg.VIGIL_MODEL_REVOKED);
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

export async function model(opts: { action?: string; arg?: string; json: boolean }): Promise<number> {
  const root = repoRoot();
  const cfg = loadScoringConfig(process.env, root);
  switch (opts.action ?? 'list') {
    case 'list': {
      const base = join(root, 'models');
      const dirs = new Set<string>([resolve(cfg.VIGIL_MODEL_DIR)]);
      if (existsSync(base)) {
        for (const d of readdirSync(base, { withFileTypes: true })) {
          if (d.isDirectory() && existsSync(join(base, d.name, 'manifest.json')))
            dirs.add(join(base, d.name));
        }
      }
      const rows = [...dirs].map((d) => ({ ...status(d, cfg), active: d === resolve(cfg.VIGIL_MODEL_DIR) }));
      if (opts.json) return (printJson(rows), 0);
      process.stdout.write(
        `${table(
          rows.map((r) => ({
            model: r.ok ? `${r.id}@${r.version}` : '?',
            sha256: r.ok ? r.sha256.slice(0, 12) : '',
            signature: r.ok ? `ok (key ${r.keyId})` : `REFUSED: ${r.reason}`,
            active: r.active ? 'yes' : '',
            dir: r.dir,
          })),
          ['model', 'sha256', 'signature', 'active', 'dir'],
        )}\n`,
      );
      return rows.every((r) => r.ok || !r.active) ? 0 : 1;
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
    default:
      throw new UsageError('vigil model list | verify [dir] | eval <labelled.jsonl[.gz]>   [--json]');
  }
}
