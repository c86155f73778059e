/**
 * `vigil audit ...`: the audit log, offline (no server needed).
 *   verify [log|bundle] [--head file] [--trust fp,...]   exit 0 only when valid; names the first bad entry
 *   show [incident]                                       an incident's record from the log (who, what, when, why)
 *   export <incident> --out <file>                        a self-contained, verifiable evidence bundle
 *   head                                                  the latest signed checkpoint + tail, for keeping
 *   keygen --out <file> | seal | rotate-key <new key file>   key management (the signing key is --key or
 *                                                         VIGIL_AUDIT_SIGNING_KEY)
 */
import { existsSync, openSync, readFileSync, readSync, closeSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { z } from 'zod';
import { parseEnv } from '../../src/config.js';
import type { DecisionRecord, IncidentStatus } from '../../src/contracts/incident.js';
import {
  BUNDLE_FORMAT,
  exportBundle,
  NotSealed,
  verifyBundle,
  type BundleReport,
} from '../../activities/audit/bundle.js';
import { jsonText } from '../../activities/audit/canonical.js';
import { Fingerprints } from '../../activities/audit/config.js';
import type { AuditEntry } from '../../activities/audit/entry.js';
import { HEAD_FORMAT, parseHead, type AuditHead } from '../../activities/audit/head.js';
import { KeyFileError, loadSigningKey, writeSigningKey } from '../../activities/audit/keys.js';
import { AuditLog, AuditLogError } from '../../activities/audit/log.js';
import { verifyLog, type VerifyReport } from '../../activities/audit/verify.js';
import { printJson, UsageError } from '../output.js';
import { describeBuild } from './incidents.js';
import { vigilHome } from '../state.js';

export interface AuditOptions {
  action?: string;
  arg?: string;
  head?: string;
  out?: string;
  trust?: string;
  key?: string;
  json: boolean;
}

export function auditLogPath(env = process.env): string {
  return resolve(env.VIGIL_AUDIT_LOG ?? join(vigilHome(env), 'audit', 'audit.log'));
}

const indexPath = (log: string, env = process.env) =>
  resolve(env.VIGIL_AUDIT_INDEX ?? join(dirname(log), 'audit-index.db'));

/** The dev stack's audit key fingerprint, pinned in credentials.json when `vigil up` created the key. */
function devFingerprint(): string | undefined {
  const file = join(vigilHome(), 'credentials.json');
  if (!existsSync(file)) return undefined;
  return (JSON.parse(readFileSync(file, 'utf8')) as { auditFingerprint?: string }).auditFingerprint;
}

function trusted(opts: AuditOptions): string[] {
  const raw = opts.trust ?? process.env.VIGIL_AUDIT_TRUSTED_KEYS ?? devFingerprint();
  if (!raw)
    throw new UsageError(
      'pin the verifying key: --trust <fingerprint> or VIGIL_AUDIT_TRUSTED_KEYS (vigil audit keygen printed it)',
    );
  return parseEnv(
    z.object({ keys: Fingerprints }),
    { keys: raw },
    'trusted keys (--trust / VIGIL_AUDIT_TRUSTED_KEYS)',
  ).keys;
}

function openLog(mode: 'reader' | 'writer', key?: string): AuditLog {
  const path = auditLogPath();
  if (!existsSync(path))
    throw new UsageError(
      `no audit log at ${path} (the audit exporter writes it; VIGIL_AUDIT_LOG names another)`,
    );
  const log = AuditLog.open({
    logPath: path,
    indexPath: indexPath(path),
    mode,
    ...(key ? { signer: signingKey(key) } : {}),
  });
  const w = log.status().warning;
  if (w) process.stderr.write(`vigil audit: warning: ${w}\n`);
  return log;
}

function signingKey(path: string) {
  try {
    return loadSigningKey(path);
  } catch (e) {
    if (e instanceof KeyFileError) throw new UsageError(`signing key: ${e.message}`);
    throw e;
  }
}

function keyPath(opts: AuditOptions): string {
  const k = opts.key ?? process.env.VIGIL_AUDIT_SIGNING_KEY;
  if (!k) throw new UsageError('give the signing key: --key <file> or VIGIL_AUDIT_SIGNING_KEY');
  return k;
}

function looksLikeBundle(path: string): boolean {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(200);
    const n = readSync(fd, buf, 0, buf.length, 0);
    return /^\s*\{\s*"format"\s*:\s*"vigil-audit-bundle\//.test(buf.subarray(0, n).toString('utf8'));
  } finally {
    closeSync(fd);
  }
}

export async function audit(opts: AuditOptions): Promise<number> {
  try {
    return await run(opts);
  } catch (e) {
    if (e instanceof AuditLogError || e instanceof NotSealed) throw new UsageError(e.message);
    throw e;
  }
}

async function run(opts: AuditOptions): Promise<number> {
  switch (opts.action) {
    case 'verify':
      return verifyCmd(opts);
    case 'show':
      return showCmd(opts);
    case 'export':
      return exportCmd(opts);
    case 'head':
      return headCmd();
    case 'seal': {
      const log = openLog('writer', keyPath(opts));
      try {
        const cp = log.checkpoint();
        if (opts.json) printJson({ sealed: !!cp, checkpoint: cp });
        else
          process.stdout.write(
            cp ? `sealed entries up to ${cp.seq - 1} with checkpoint ${cp.seq}\n` : 'nothing to seal\n',
          );
        return 0;
      } finally {
        log.close();
      }
    }
    case 'rotate-key': {
      if (!opts.arg)
        throw new UsageError('vigil audit rotate-key <new key file> (make one with vigil audit keygen)');
      const next = signingKey(opts.arg);
      const log = openLog('writer', keyPath(opts));
      try {
        const written = log.rotateKey(next, 'rotated with vigil audit rotate-key');
        const rot = written[written.length - 1];
        if (opts.json) printJson({ rotated: rot, newFingerprint: next.fingerprint });
        else
          process.stdout.write(
            `key.rotated at seq ${rot?.seq}: new key ${next.fingerprint}\n` +
              `Now point VIGIL_AUDIT_SIGNING_KEY at ${resolve(opts.arg)} and restart the exporter;\n` +
              `verifiers of the log may pin either key (the rotation is signed by both); bundles of entries\n` +
              `sealed before now verify only with the old key pinned.\n`,
          );
        return 0;
      } finally {
        log.close();
      }
    }
    case 'keygen': {
      if (!opts.out) throw new UsageError('vigil audit keygen --out <file> (outside VIGIL_HOME/audit)');
      if (existsSync(opts.out)) throw new UsageError(`${opts.out} exists; not overwriting a key`);
      const s = writeSigningKey(opts.out);
      if (opts.json)
        printJson({ path: resolve(opts.out), fingerprint: s.fingerprint, publicKey: s.publicKey });
      else
        process.stdout.write(
          `Ed25519 signing key written to ${resolve(opts.out)} (mode 0600)\n` +
            `fingerprint ${s.fingerprint}\n\n` +
            `  VIGIL_AUDIT_SIGNING_KEY=${resolve(opts.out)}\n  VIGIL_AUDIT_TRUSTED_KEYS=${s.fingerprint}\n`,
        );
      return 0;
    }
    default:
      throw new UsageError(
        'vigil audit verify [file] [--head file] | show [incident] | export <incident> --out <file> | head | keygen --out <file> | seal | rotate-key <new key>',
      );
  }
}

async function verifyCmd(opts: AuditOptions): Promise<number> {
  const path = resolve(opts.arg ?? auditLogPath());
  if (!existsSync(path)) throw new UsageError(`no such file: ${path}`);
  const keys = trusted(opts);
  if (looksLikeBundle(path)) {
    if (opts.head) throw new UsageError('--head applies to a log, not to a bundle');
    let json: unknown;
    try {
      json = JSON.parse(readFileSync(path, 'utf8'));
    } catch {
      json = undefined;
    }
    const r = verifyBundle(json, keys);
    if (opts.json) printJson({ path, type: 'bundle', ...r });
    else printBundleReport(path, r);
    return r.ok ? 0 : 1;
  }
  let head: AuditHead | undefined;
  if (opts.head) {
    try {
      head = parseHead(JSON.parse(readFileSync(opts.head, 'utf8')));
    } catch (e) {
      throw new UsageError(
        `${opts.head} is not a head from vigil audit head (${e instanceof Error ? e.message.slice(0, 200) : ''})`,
      );
    }
  }
  const r = await verifyLog(path, { trustedFingerprints: keys, ...(head ? { head } : {}) });
  if (opts.json) printJson({ path, type: 'log', ...r });
  else printLogReport(path, r);
  return r.ok ? 0 : 1;
}

function printLogReport(path: string, r: VerifyReport): void {
  const lines: string[] = [];
  if (r.ok) {
    lines.push(`OK  ${path}: ${r.entries} entries, ${r.checkpoints} signed checkpoints`);
    if (r.lastCheckpoint)
      lines.push(
        `    last signed checkpoint: seq ${r.lastCheckpoint.seq} (${r.lastCheckpoint.time}, key ${r.lastCheckpoint.keyFingerprint})`,
      );
    if (r.keys.length > 1)
      lines.push(
        `    keys: ${r.keys.map((k) => `${k.fingerprint.slice(0, 16)} (signing from seq ${k.fromSeq})`).join(', ')}`,
      );
    if (r.head)
      lines.push(
        `    contains and extends the kept head (checkpoint ${r.head.checkpointSeq}, tail ${r.head.tailSeq})`,
      );
  } else {
    lines.push(`FAILED  ${path}`);
    if (r.firstBad)
      lines.push(
        `    first bad entry: seq ${r.firstBad.seq} (line ${r.firstBad.line}): ${r.firstBad.reason}`,
      );
    lines.push(`    entries before it verified: ${Math.max(0, (r.firstBad?.seq ?? 1) - 1)}`);
  }
  for (const n of r.notes) lines.push(`    note: ${n}`);
  process.stdout.write(`${lines.join('\n')}\n`);
}

function printBundleReport(path: string, r: BundleReport): void {
  const lines = r.ok
    ? [
        `OK  bundle ${path}: incident ${r.incidentId}, ${r.entries} entries in ${r.runs} runs, proven into ${r.checkpoints} signed checkpoints`,
        `    keys: ${r.keys.map((k) => k.fingerprint).join(', ')}`,
      ]
    : [
        `FAILED  bundle ${path}${r.incidentId ? ` (incident ${r.incidentId})` : ''}`,
        ...r.problems.slice(0, 20).map((p) => `    ${p.seq ? `seq ${p.seq}: ` : ''}${p.reason}`),
      ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

function headCmd(): number {
  const log = openLog('reader');
  try {
    const cp = log.lastCheckpoint();
    if (!cp) throw new UsageError('the audit log has no signed checkpoint yet (vigil audit seal makes one)');
    const s = log.status();
    const head: AuditHead = {
      format: HEAD_FORMAT,
      takenAt: new Date().toISOString(),
      checkpoint: cp,
      tail: { seq: s.lastSeq, hash: s.lastHash },
    };
    printJson(head);
    return 0;
  } finally {
    log.close();
  }
}

function exportCmd(opts: AuditOptions): number {
  if (!opts.arg || !opts.out) throw new UsageError('vigil audit export <incident> --out <file>');
  const log = openLog('reader');
  try {
    const b = exportBundle(log, opts.arg);
    writeFileSync(opts.out, `${JSON.stringify(b, null, 2)}\n`);
    if (opts.json)
      printJson({ path: resolve(opts.out), incidentId: b.incidentId, entries: b.entries.length });
    else
      process.stdout.write(
        `${resolve(opts.out)}: ${b.entries.length} entries of ${b.incidentId} with inclusion proofs into ${b.checkpoints.length} signed checkpoints (${BUNDLE_FORMAT})\n` +
          `check it anywhere with: vigil audit verify ${opts.out} --trust <fingerprint>\n`,
      );
    return 0;
  } finally {
    log.close();
  }
}

interface RunView {
  runId: string;
  execution?: string;
  startTime?: string;
  closeTime?: string;
  sealed: boolean;
  entries: number[];
  history?: { seq: number; events: number; bytes: number; sha256: string };
  decisions: (DecisionRecord & { seq: number })[];
  result?: Partial<IncidentStatus> & { evidenceIds?: string[] };
}

function runsOf(entries: AuditEntry[], sealedUpTo: number): RunView[] {
  const runs = new Map<string, RunView>();
  for (const e of entries) {
    const runId = jsonText(e.payload.runId);
    const r = runs.get(runId) ?? { runId, sealed: true, entries: [], decisions: [] };
    runs.set(runId, r);
    r.entries.push(e.seq);
    r.sealed &&= e.seq <= sealedUpTo;
    const p = e.payload;
    if (e.kind === 'history')
      r.history = {
        seq: e.seq,
        events: Number(p.events),
        bytes: Number(p.bytes),
        sha256: jsonText(p.sha256),
      };
    if (e.kind === 'decision') r.decisions.push({ ...(p.record as unknown as DecisionRecord), seq: e.seq });
    if (e.kind === 'incident.closed') {
      r.execution = jsonText(p.execution);
      r.startTime = jsonText(p.startTime);
      r.closeTime = jsonText(p.closeTime);
      if (p.result) r.result = p.result as unknown as RunView['result'];
    }
  }
  return [...runs.values()];
}

function showCmd(opts: AuditOptions): number {
  const log = openLog('reader');
  try {
    if (!opts.arg) {
      const list = log.incidents();
      if (opts.json) return (printJson(list), 0);
      process.stdout.write(
        list.length
          ? `${list.map((i) => `${i.incidentId}  ${i.entries} entries  ${i.first} .. ${i.last}`).join('\n')}\n`
          : '(no incidents in the audit log)\n',
      );
      return 0;
    }
    const entries = log.entriesOf(opts.arg);
    if (!entries.length) throw new UsageError(`the audit log has no entries for ${opts.arg}`);
    const sealedUpTo = log.status().lastCheckpointSeq;
    const runs = runsOf(entries, sealedUpTo);
    if (opts.json) return (printJson({ incidentId: opts.arg, log: log.path, runs }), 0);
    const out: string[] = [`Incident ${opts.arg}: ${runs.length} run(s) in the audit log ${log.path}`];
    for (const r of runs) {
      const res = r.result ?? {};
      out.push(
        '',
        `Run ${r.runId}  ${r.execution ?? '?'}  ${r.startTime ?? '?'} -> ${r.closeTime ?? '?'}  ${r.sealed ? 'sealed' : 'NOT SEALED YET'} (entries ${r.entries.join(', ')})`,
        `  Host ${res.host ?? '-'}   Rule ${res.rule ?? '-'}   Severity ${res.severity ?? '-'}   Playbook ${res.playbook ? `${res.playbook.name}@${res.playbook.version}` : '-'}${res.shadow ? '  (SHADOW MODE)' : ''}`,
        `  Build ${describeBuild(res.build)}`,
        `  Verdict ${res.verdict ?? '-'} (risk ${res.riskScore ?? '-'})   Outcome ${res.outcome ?? '-'}`,
      );
      if (r.history)
        out.push(
          `  History: ${r.history.events} events, ${r.history.bytes} bytes JSON, sha256 ${r.history.sha256} (entry ${r.history.seq})`,
        );
      out.push('  Decisions (who, what, why):');
      for (const d of r.decisions) {
        out.push(
          `    ${d.at}  ${d.by}@${d.version} (${d.kind}): ${d.verdict}, risk ${d.riskScore}${d.playbook ? `  by ${d.playbook.name}@${d.playbook.version}${d.playbook.build ? ` build ${d.playbook.build}` : ''}` : ''}${d.shadow ? ' SHADOW' : ''}  [entry ${d.seq}]`,
        );
        for (const why of d.reasons) out.push(`        because ${why}`);
        for (const a of d.actions) out.push(`        ${a.disposition.padEnd(9)} ${a.action}: ${a.why}`);
      }
      out.push('  Actions:');
      for (const a of res.actions ?? [])
        out.push(
          `    ${a.at}  ${a.action}: ${a.status}${a.error ? ` (${a.error})` : ''}${a.idempotencyKey ? `  [${a.idempotencyKey}]` : ''}`,
        );
      out.push('  Timeline:');
      for (const t of res.timeline ?? []) out.push(`    ${t.at}  ${t.kind.padEnd(8)} ${t.summary}`);
    }
    process.stdout.write(`${out.join('\n')}\n`);
    return 0;
  } finally {
    log.close();
  }
}
