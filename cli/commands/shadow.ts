/**
 * `vigil shadow report [--since 24h] [--json]`: shadow and live decisions side by side, per playbook, over a
 * period, from the audit log (offline; the signed record of every closed incident run). For each playbook:
 * how many runs were live and how many in shadow, their verdicts, the builds that ran them, and per action
 * what live runs did (executed, approved, denied, ...) against what shadow runs would have done (execute
 * automatically, ask for approval, nothing: no responder), as counts and per-run rates.
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { z } from 'zod';
import { Duration, parseEnv } from '../../src/config.js';
import type { ActionRecord, IncidentStatus, Verdict } from '../../src/contracts/incident.js';
import type { AuditEntry } from '../../activities/audit/entry.js';
import { AuditLog } from '../../activities/audit/log.js';
import { printJson, UsageError } from '../output.js';
import { auditLogPath } from './audit.js';

type Mode = 'live' | 'shadow';

export interface ModeStats {
  runs: number;
  verdicts: Partial<Record<Verdict, number>>;
  builds: Record<string, number>;
  /** action -> outcome -> count. Live outcomes are action statuses; shadow ones `would <wouldHave>`. */
  actions: Record<string, Record<string, number>>;
}

export interface ShadowReport {
  from: string;
  to: string;
  log: string;
  runs: number;
  playbooks: Record<string, Record<Mode, ModeStats>>;
}

const empty = (): ModeStats => ({ runs: 0, verdicts: {}, builds: {}, actions: {} });
const bump = (m: Record<string, number>, k: string) => (m[k] = (m[k] ?? 0) + 1);

type Closed = Partial<IncidentStatus> & { actions?: ActionRecord[] };

/** Fold the `incident.closed` entries whose run closed in [from, to] into the report. */
export function shadowReport(entries: AuditEntry[], from: Date, to: Date, log = ''): ShadowReport {
  const report: ShadowReport = {
    from: from.toISOString(),
    to: to.toISOString(),
    log,
    runs: 0,
    playbooks: {},
  };
  for (const e of entries) {
    if (e.kind !== 'incident.closed') continue;
    const closeTime = typeof e.payload.closeTime === 'string' ? Date.parse(e.payload.closeTime) : NaN;
    if (!(closeTime >= from.getTime() && closeTime <= to.getTime())) continue;
    const r = e.payload.result as Closed | undefined;
    if (!r?.playbook) continue; // a run that did not complete, or never reached a playbook
    const mode: Mode = r.shadow ? 'shadow' : 'live';
    const pb = (report.playbooks[r.playbook.name] ??= { live: empty(), shadow: empty() });
    const st = pb[mode];
    report.runs += 1;
    st.runs += 1;
    if (r.verdict) bump(st.verdicts, r.verdict);
    bump(st.builds, r.build?.id ?? r.playbook.build ?? 'unrecorded');
    for (const a of r.actions ?? []) {
      const outcome =
        a.status === 'shadow'
          ? `would ${typeof a.detail?.wouldHave === 'string' ? a.detail.wouldHave : 'act'}`
          : (a.status as string);
      bump((st.actions[a.action] ??= {}), outcome);
    }
  }
  return report;
}

function describe(st: ModeStats, action: string): string {
  const o = st.actions[action];
  if (!o || !st.runs) return '-';
  const total = Object.values(o).reduce((a, b) => a + b, 0);
  const parts = Object.entries(o)
    .sort((a, b) => b[1] - a[1])
    .map(([k, n]) => `${k.replace(/^would /, 'would ').replace(/-/g, ' ')} ${n}`);
  return `${parts.join(', ')} (${(total / st.runs).toFixed(2)}/run)`;
}

export function formatShadowReport(r: ShadowReport): string {
  const out = [`Shadow report ${r.from} .. ${r.to}: ${r.runs} closed incident runs in ${r.log}`];
  const names = Object.keys(r.playbooks).sort();
  if (!names.length) out.push('(no completed incident runs in this period)');
  for (const name of names) {
    const pb = r.playbooks[name] as Record<Mode, ModeStats>;
    out.push('', `Playbook ${name}`);
    for (const mode of ['live', 'shadow'] as const) {
      const st = pb[mode];
      const v = (['benign', 'suspicious', 'malicious'] as const).map((k) => `${k} ${st.verdicts[k] ?? 0}`);
      const builds = Object.entries(st.builds)
        .map(([b, n]) => `${b} (${n})`)
        .join(', ');
      out.push(
        `  ${mode.padEnd(6)} ${String(st.runs).padStart(5)} runs   ${v.join('  ')}${builds ? `   builds: ${builds}` : ''}`,
      );
    }
    const actions = [...new Set([...Object.keys(pb.live.actions), ...Object.keys(pb.shadow.actions)])].sort();
    if (actions.length) {
      const w = Math.max(6, ...actions.map((a) => a.length));
      out.push(`  ${'action'.padEnd(w)}  live  |  shadow`);
      for (const a of actions)
        out.push(`  ${a.padEnd(w)}  ${describe(pb.live, a)}  |  ${describe(pb.shadow, a)}`);
    }
    if (!pb.shadow.runs)
      out.push('  (no shadow runs in this period: set VIGIL_SHADOW_PLAYBOOKS on the worker)');
    if (!pb.live.runs) out.push('  (no live runs in this period to compare with)');
  }
  return out.join('\n');
}

export function shadow(opts: { action?: string; since?: string; json: boolean; now?: Date }): number {
  if (opts.action !== 'report') throw new UsageError('vigil shadow report [--since 24h] [--json]');
  const { since } = parseEnv(
    z.object({ since: Duration.default(24 * 3600_000) }),
    { since: opts.since },
    'vigil shadow report --since',
  );
  const path = auditLogPath();
  if (!existsSync(path))
    throw new UsageError(
      `no audit log at ${path} (the audit exporter writes it; VIGIL_AUDIT_LOG names another)`,
    );
  const log = AuditLog.open({
    logPath: path,
    indexPath: resolve(process.env.VIGIL_AUDIT_INDEX ?? join(dirname(path), 'audit-index.db')),
    mode: 'reader',
  });
  try {
    const w = log.status().warning;
    if (w) process.stderr.write(`vigil shadow: warning: ${w}\n`);
    const to = opts.now ?? new Date();
    const r = shadowReport(log.entriesOfKind('incident.closed'), new Date(to.getTime() - since), to, path);
    if (opts.json) printJson(r);
    else process.stdout.write(`${formatShadowReport(r)}\n`);
    return 0;
  } finally {
    log.close();
  }
}
