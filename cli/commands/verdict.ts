/**
 * Analyst verdicts from the command line, as an authenticated operator (VIGIL_OPERATOR_TOKEN, or a dev
 * operator with --as on the dev stack), through the intake's verdict API:
 *   vigil verdict <incident> tp|fp [--note "..."]    mark an incident a true or a false positive
 *   vigil verdict stats [--json]                      false-positive / false-negative rates per model and rule
 *   vigil verdict export --out f.jsonl                the judged syscall windows as labelled traces (ADFA-LD
 *                                                     JSONL: vigil model eval|compare --on read it)
 */
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { printJson, table, UsageError } from '../output.js';
import { api } from './approvals.js';

const USAGE = 'vigil verdict <incident> tp|fp [--note "..."] | stats [--json] | export --out <file.jsonl>';
const pct = (v: number | null) => (v === null ? '-' : `${(100 * v).toFixed(1)}%`);

interface ModelRates {
  model: string;
  sha256: string;
  role: string;
  verdicts: number;
  tp: number;
  fp: number;
  tn: number;
  fn: number;
  falsePositiveRate: number | null;
  falseNegativeRate: number | null;
  falseDiscoveryRate: number | null;
}
interface RuleRates {
  rule: string;
  verdicts: number;
  tp: number;
  fp: number;
  fpShare: number | null;
  missedByEngine: number;
}

export async function verdict(opts: {
  action?: string;
  arg?: string;
  note?: string;
  out?: string;
  as?: string;
  json: boolean;
}): Promise<number> {
  switch (opts.action) {
    case undefined:
      throw new UsageError(USAGE);
    case 'stats': {
      const { status, json } = await api('GET', '/v1/verdicts/stats', undefined, opts.as);
      if (status !== 200)
        throw new UsageError(`could not read the verdicts (HTTP ${status}): ${String(json.error)}`);
      if (opts.json) return (printJson(json), 0);
      const models = (json.byModel ?? []) as ModelRates[];
      const rules = (json.byRule ?? []) as RuleRates[];
      process.stdout.write(
        `${String(json.verdicts)} verdicts (${String(json.tp)} true positives, ${String(json.fp)} false positives)\n\n` +
          `Per model (its own decision on the incident against the verdict):\n${table(
            models.map((m) => ({
              model: m.model,
              role: m.role,
              sha256: m.sha256.slice(0, 12),
              verdicts: String(m.verdicts),
              'tp/fp/tn/fn': `${m.tp}/${m.fp}/${m.tn}/${m.fn}`,
              fpr: pct(m.falsePositiveRate),
              fnr: pct(m.falseNegativeRate),
              fdr: pct(m.falseDiscoveryRate),
            })),
            ['model', 'role', 'sha256', 'verdicts', 'tp/fp/tn/fn', 'fpr', 'fnr', 'fdr'],
          )}\n\nPer rule:\n${table(
            rules.map((r) => ({
              rule: r.rule,
              verdicts: String(r.verdicts),
              tp: String(r.tp),
              fp: String(r.fp),
              'fp share': pct(r.fpShare),
              'missed by engine': String(r.missedByEngine),
            })),
            ['rule', 'verdicts', 'tp', 'fp', 'fp share', 'missed by engine'],
          )}\n\nfpr = fp/(fp+tn), fnr = fn/(fn+tp), fdr = fp/(fp+tp); fp share = fp/(tp+fp); missed by engine: true positives the engine judged benign\n`,
      );
      return 0;
    }
    case 'export': {
      if (!opts.out) throw new UsageError('vigil verdict export --out <file.jsonl>');
      const { status, json } = await api('GET', '/v1/verdicts/export', undefined, opts.as);
      if (status !== 200)
        throw new UsageError(
          `could not export (HTTP ${status}): ${String(json.error)}${typeof json.message === 'string' ? `: ${json.message}` : ''}`,
        );
      const traces = (json.traces ?? []) as { label: string }[];
      const out = resolve(opts.out);
      writeFileSync(out, traces.map((t) => JSON.stringify(t)).join('\n') + (traces.length ? '\n' : ''), {
        mode: 0o600,
      });
      const attacks = traces.filter((t) => t.label === 'attack').length;
      const summary = {
        file: out,
        traces: traces.length,
        attacks,
        normal: traces.length - attacks,
        withoutWindow: Number(json.withoutWindow ?? 0),
      };
      if (opts.json) printJson(summary);
      else
        process.stdout.write(
          `wrote ${summary.traces} labelled traces (${attacks} attack, ${summary.normal} normal) to ${out}` +
            (summary.withoutWindow ? `; ${summary.withoutWindow} verdicts had no syscall window` : '') +
            '\n',
        );
      return 0;
    }
    default: {
      const incident = opts.action;
      const label = opts.arg;
      if (label !== 'tp' && label !== 'fp') throw new UsageError(USAGE);
      const { status, json } = await api(
        'POST',
        `/v1/incidents/${encodeURIComponent(incident)}/verdict`,
        { verdict: label, ...(opts.note ? { note: opts.note } : {}) },
        opts.as,
      );
      if (opts.json) printJson({ httpStatus: status, ...json });
      else if (status === 200) {
        const model = json.model as { id: string; version: string; score: number; threshold: number } | null;
        const v = json as {
          operator?: string;
          previous?: string;
          rule?: string;
          engineVerdict?: string | null;
        };
        process.stdout.write(
          `${incident}: ${label === 'tp' ? 'true positive' : 'false positive'} by ${v.operator ?? '?'}` +
            (json.changed ? (v.previous ? ` (was ${v.previous})` : '') : ' (unchanged)') +
            `\n  rule ${v.rule ?? '?'}; engine verdict ${v.engineVerdict ?? '-'}` +
            (model
              ? `; model ${model.id}@${model.version} scored ${model.score.toFixed(3)} (threshold ${model.threshold.toFixed(3)})`
              : '; no model score') +
            '\n',
        );
      } else
        process.stdout.write(
          `refused (HTTP ${status}): ${String(json.error)}${json.issues ? `: ${JSON.stringify(json.issues)}` : typeof json.message === 'string' ? `: ${json.message}` : ''}\n`,
        );
      return status === 200 ? 0 : 1;
    }
  }
}
