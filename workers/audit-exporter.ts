/**
 * Process: the audit exporter (ARCHITECTURE decision 5). Follows closed incident runs in Temporal
 * (visibility: WorkflowType = 'incident' AND ExecutionStatus != 'Running', by CloseTime, from a durable
 * cursor in the audit index) and appends for each run, once: its full history (historyToJSON, gzip, base64,
 * with the sha256 of the JSON), one `decision` entry per decision record, and an `incident.closed` entry
 * with the rest of the result (actions, timeline, outcome). Seals the log with signed checkpoints every
 * VIGIL_AUDIT_CHECKPOINT_EVERY entries or VIGIL_AUDIT_CHECKPOINT_INTERVAL. It is the log's only writer
 * besides `vigil audit seal|rotate-key`, and the only process that holds the signing key.
 */
import { gzipSync } from 'node:zlib';
import { Client, Connection } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import { INCIDENT_WORKFLOW, type IncidentStatus } from '../src/contracts/incident.js';
import { CONTAINMENT_WORKFLOW } from '../src/contracts/containment.js';
import type { ContainmentState } from '../src/contracts/response.js';
import { ConfigError } from '../src/errors.js';
import { sha256Hex } from '../activities/audit/canonical.js';
import { loadAuditConfig } from '../activities/audit/config.js';
import { codecFromEnv, dataConverterFor } from '../src/codec/config.js';
import type { AuditEntry } from '../activities/audit/entry.js';
import { KeyFileError, loadSigningKey, type Signer } from '../activities/audit/keys.js';
import { AuditLog, type NewRecord } from '../activities/audit/log.js';
import { createAuditMetrics, serveAuditMetrics, type AuditMetrics } from '../activities/audit/metrics.js';
import { isEntryPoint, runMain, untilSignal } from './lib/main.js';

export const CURSOR = 'temporal.closeTime';

export interface AuditExporterOptions {
  client: Client;
  logPath: string;
  indexPath?: string;
  signer: Signer;
  trustedFingerprints: readonly string[];
  checkpointEvery: number;
  checkpointIntervalMs: number;
  pollIntervalMs: number;
  /** How far behind the cursor each poll looks again (visibility is eventually consistent). */
  visibilityLagMs: number;
  /** An extra visibility clause ANDed to the query (tests: one task queue). */
  filter?: string;
  /** Fault injection for tests: runs after entries are on disk, before the index records them. */
  onAppended?: (entries: AuditEntry[]) => void;
  log?: (line: string) => void;
  /** The exporter's own metrics (appended, signed, lag, errors). */
  metrics?: AuditMetrics;
}

export interface RunOnceResult {
  exported: number;
  skipped: number;
  entries: number;
  sealed: boolean;
}

export interface AuditExporter {
  runOnce(): Promise<RunOnceResult>;
  /** Poll until `signal` aborts; errors are logged and retried at the next poll. */
  run(signal: AbortSignal): Promise<void>;
  close(): void;
  readonly log: AuditLog;
}

interface ClosedRun {
  workflowId: string;
  runId: string;
  status: string;
  startTime: string;
  closeTime: string;
  historyLength: number;
  /** `incident`, or `containment` (the hold that undid an action: filed under its incident). */
  type: string;
}

/** A containment hold shown like an incident run: its apply and undo as actions, its history as timeline. */
function holdAsStatus(h: ContainmentState): Partial<IncidentStatus> {
  return {
    incidentId: h.incidentId,
    host: h.host,
    rule: `containment: ${h.action}`,
    outcome: `${h.action} ${h.status}${h.error ? ` (undo failed: ${h.error})` : ''}`,
    actions: [
      {
        at: h.appliedAt,
        action: h.action,
        status: 'executed',
        detail: { result: h.result, params: h.params },
      },
      ...(h.undo
        ? [
            {
              at: h.undo.at,
              action: `undo ${h.action}`,
              status: 'executed' as const,
              detail: { result: h.undo },
            },
          ]
        : []),
    ],
    timeline: h.history.map((e) => ({ at: e.at, kind: 'action' as const, summary: `${e.by}: ${e.what}` })),
    decisions: [],
  };
}

const closedKey = (r: { workflowId: string; runId: string }) => `incident.closed:${r.workflowId}:${r.runId}`;

export function createAuditExporter(opts: AuditExporterOptions): AuditExporter {
  const say = opts.log ?? ((l: string) => process.stderr.write(`audit-exporter: ${l}\n`));
  const log = AuditLog.open({
    logPath: opts.logPath,
    ...(opts.indexPath ? { indexPath: opts.indexPath } : {}),
    signer: opts.signer,
    checkpointEvery: opts.checkpointEvery,
    ...(opts.onAppended ? { onAppended: opts.onAppended } : {}),
  });
  const status = log.status();
  if (status.warning) say(status.warning);
  const fp = opts.signer.fingerprint;
  const problem = status.activeKey
    ? status.activeKey.fingerprint !== fp
      ? `the log's active signing key is ${status.activeKey.fingerprint}, this key is ${fp} (after a rotation, use the new key)`
      : undefined
    : !opts.trustedFingerprints.includes(fp)
      ? `the key's fingerprint ${fp} is not in VIGIL_AUDIT_TRUSTED_KEYS: nobody could verify what it signs`
      : undefined;
  if (problem) {
    log.close();
    throw new ConfigError(
      [{ key: 'VIGIL_AUDIT_SIGNING_KEY', message: problem }],
      'audit exporter configuration',
    );
  }
  const { client } = opts;

  async function listClosed(): Promise<ClosedRun[]> {
    const clauses = [
      `WorkflowType IN ('${INCIDENT_WORKFLOW}', '${CONTAINMENT_WORKFLOW}')`,
      `ExecutionStatus != 'Running'`,
    ];
    const cursor = log.cursor(CURSOR);
    if (cursor)
      clauses.push(`CloseTime >= '${new Date(Date.parse(cursor) - opts.visibilityLagMs).toISOString()}'`);
    if (opts.filter) clauses.push(`(${opts.filter})`);
    const out: ClosedRun[] = [];
    for await (const wf of client.workflow.list({ query: clauses.join(' AND ') })) {
      if (!wf.closeTime) continue;
      out.push({
        workflowId: wf.workflowId,
        runId: wf.runId,
        status: wf.status.name,
        startTime: wf.startTime.toISOString(),
        closeTime: wf.closeTime.toISOString(),
        historyLength: wf.historyLength,
        type: wf.type,
      });
    }
    return out.sort(
      (a, b) =>
        a.closeTime.localeCompare(b.closeTime) ||
        a.workflowId.localeCompare(b.workflowId) ||
        a.runId.localeCompare(b.runId),
    );
  }

  async function records(run: ClosedRun): Promise<NewRecord[]> {
    const handle = client.workflow.getHandle(run.workflowId, run.runId, { followRuns: false });
    // A containment hold is filed under its incident: who extended or released it, and the verified undo.
    const hold =
      run.type === CONTAINMENT_WORKFLOW && run.status === 'COMPLETED'
        ? ((await handle.result()) as ContainmentState)
        : undefined;
    const incidentId =
      run.type === CONTAINMENT_WORKFLOW
        ? (hold?.incidentId ??
          run.workflowId.replace(/^containment-/, '').replace(/-[a-z-]+-[0-9a-f]{8}$/, ''))
        : run.workflowId;
    const ids = { workflowId: run.workflowId, runId: run.runId, incidentId };
    const json = historyToJSON(await handle.fetchHistory());
    const events = (JSON.parse(json) as { events?: unknown[] }).events?.length ?? 0;
    const history: NewRecord = {
      kind: 'history',
      payload: {
        ...ids,
        encoding: 'gzip+base64',
        sha256: sha256Hex(json),
        bytes: Buffer.byteLength(json),
        events,
        data: gzipSync(json).toString('base64'),
      },
    };
    // Only a completed run has a result; a continued-as-new run carries its state to the next run.
    const result = hold
      ? holdAsStatus(hold)
      : run.status === 'COMPLETED' && run.type !== CONTAINMENT_WORKFLOW
        ? ((await handle.result()) as IncidentStatus)
        : undefined;
    const decisions: NewRecord[] = (result?.decisions ?? []).map((d, index) => ({
      kind: 'decision',
      payload: { ...ids, index, record: d },
    }));
    const { evidence = [], decisions: _d, ...rest } = result ?? {};
    const closed: NewRecord = {
      kind: 'incident.closed',
      payload: {
        ...ids,
        execution: run.status,
        startTime: run.startTime,
        closeTime: run.closeTime,
        historyLength: run.historyLength,
        decisionCount: decisions.length,
        ...(result ? { result: { ...rest, evidenceIds: evidence.map((e) => e.id) } } : {}),
      },
    };
    // incident.closed last: its presence marks the run as completely exported.
    return [history, ...decisions, closed];
  }

  async function runOnce(): Promise<RunOnceResult> {
    log.refresh();
    const res: RunOnceResult = { exported: 0, skipped: 0, entries: 0, sealed: false };
    const runs = await listClosed();
    let cursor = log.cursor(CURSOR);
    for (const run of runs) {
      if (log.hasRecord(closedKey(run))) res.skipped += 1;
      else {
        const written = log.append(await records(run));
        opts.metrics?.appended(written);
        opts.metrics?.exported(run.closeTime);
        res.entries += written.length;
        res.exported += 1;
      }
      if (!cursor || run.closeTime > cursor) {
        cursor = run.closeTime;
        log.setCursor(CURSOR, cursor);
      }
    }
    const cp = log.sealIfOlderThan(opts.checkpointIntervalMs);
    if (cp) opts.metrics?.appended([cp]);
    res.sealed = cp !== undefined;
    return res;
  }

  async function run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        const r = await runOnce();
        if (r.exported || r.sealed)
          say(`exported ${r.exported} incident runs (${r.entries} entries)${r.sealed ? ', sealed' : ''}`);
      } catch (e) {
        opts.metrics?.errors.inc();
        say(
          `poll failed (retrying in ${opts.pollIntervalMs} ms): ${e instanceof Error ? e.message : String(e)}`,
        );
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, opts.pollIntervalMs);
        function done() {
          clearTimeout(t);
          signal.removeEventListener('abort', done);
          resolve();
        }
        signal.addEventListener('abort', done, { once: true });
      });
    }
  }

  return { runOnce, run, close: () => log.close(), log };
}

if (isEntryPoint(import.meta.url)) {
  runMain('audit-exporter', async () => {
    const cfg = loadAuditConfig(process.env);
    let signer: Signer;
    try {
      signer = loadSigningKey(cfg.audit.VIGIL_AUDIT_SIGNING_KEY);
    } catch (e) {
      if (!(e instanceof KeyFileError)) throw e;
      throw new ConfigError(
        [{ key: 'VIGIL_AUDIT_SIGNING_KEY', message: e.message }],
        'audit exporter configuration',
      );
    }
    const connection = await Connection.connect({ address: cfg.temporal.TEMPORAL_ADDRESS });
    // The gauges read the log through the exporter, created just below.
    const holder: { exporter?: AuditExporter } = {};
    const metrics = createAuditMetrics(() => {
      const s = holder.exporter?.log.status();
      return { lastSeq: s?.lastSeq ?? 0, unsealed: s?.unsealed ?? 0 };
    });
    const exporter = createAuditExporter({
      metrics,
      // Histories are exported as stored (payloads encrypted); decision records are read through the codec.
      client: new Client({
        connection,
        namespace: cfg.temporal.TEMPORAL_NAMESPACE,
        dataConverter: dataConverterFor(codecFromEnv(process.env)),
      }),
      logPath: cfg.audit.VIGIL_AUDIT_LOG,
      indexPath: cfg.audit.VIGIL_AUDIT_INDEX,
      signer,
      trustedFingerprints: cfg.audit.VIGIL_AUDIT_TRUSTED_KEYS,
      checkpointEvery: cfg.audit.VIGIL_AUDIT_CHECKPOINT_EVERY,
      checkpointIntervalMs: cfg.audit.VIGIL_AUDIT_CHECKPOINT_INTERVAL,
      pollIntervalMs: cfg.audit.VIGIL_AUDIT_POLL_INTERVAL,
      visibilityLagMs: cfg.audit.VIGIL_AUDIT_VISIBILITY_LAG,
    });
    holder.exporter = exporter;
    const metricsServer = cfg.audit.VIGIL_AUDIT_METRICS
      ? await serveAuditMetrics(metrics, cfg.audit.VIGIL_AUDIT_METRICS)
      : undefined;
    process.stderr.write(
      `audit-exporter: ${cfg.audit.VIGIL_AUDIT_LOG} (key ${signer.fingerprint}) following ${cfg.temporal.TEMPORAL_ADDRESS} namespace ${cfg.temporal.TEMPORAL_NAMESPACE}\n`,
    );
    const ac = new AbortController();
    void untilSignal().then(() => ac.abort());
    await exporter.run(ac.signal);
    // Seal what was exported before stopping, so the tail is signed.
    const cp = exporter.log.checkpoint();
    if (cp) metrics.appended([cp]);
    metricsServer?.close();
    exporter.close();
    await connection.close();
  });
}
