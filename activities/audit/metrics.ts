/**
 * The audit exporter's own metrics (Prometheus): what it appended, what it signed, how far behind the
 * incidents it is, and what failed. Served by the exporter on VIGIL_AUDIT_METRICS (`host:port`, /metrics).
 */
import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { AuditEntry } from './entry.js';

export function createAuditMetrics(status: () => { lastSeq: number; unsealed: number }) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'vigil_audit_' });
  const entries = new Counter({
    name: 'vigil_audit_entries_appended_total',
    help: 'Entries appended to the audit log, by kind (history, decision, incident.closed, checkpoint, ...)',
    labelNames: ['kind'] as const,
    registers: [registry],
  });
  const checkpoints = new Counter({
    name: 'vigil_audit_checkpoints_signed_total',
    help: 'Checkpoints signed (a Merkle root over the entries since the previous one)',
    registers: [registry],
  });
  const runs = new Counter({
    name: 'vigil_audit_runs_exported_total',
    help: 'Closed incident runs exported (each exactly once)',
    registers: [registry],
  });
  const lag = new Histogram({
    name: 'vigil_audit_export_lag_seconds',
    help: 'From an incident run closing in Temporal to its records being appended',
    buckets: [0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 900, 3600],
    registers: [registry],
  });
  const errors = new Counter({
    name: 'vigil_audit_errors_total',
    help: 'Polls that failed (Temporal unreachable, log refused, ...); retried at the next poll',
    registers: [registry],
  });
  new Gauge({
    name: 'vigil_audit_last_seq',
    help: 'Seq of the last entry in the log',
    registers: [registry],
    collect() {
      this.set(status().lastSeq);
    },
  });
  new Gauge({
    name: 'vigil_audit_unsealed_entries',
    help: 'Entries after the last signed checkpoint',
    registers: [registry],
    collect() {
      this.set(status().unsealed);
    },
  });
  return {
    registry,
    errors,
    /** Count what one append wrote (records and any checkpoint it triggered). */
    appended(written: readonly AuditEntry[]): void {
      for (const e of written) {
        entries.inc({ kind: e.kind });
        if (e.kind === 'checkpoint') checkpoints.inc();
      }
    },
    exported(closeTime: string, now = Date.now()): void {
      runs.inc();
      lag.observe(Math.max(0, (now - Date.parse(closeTime)) / 1000));
    },
  };
}
export type AuditMetrics = ReturnType<typeof createAuditMetrics>;

/** Serve `GET /metrics` on host:port; resolves once listening. */
export async function serveAuditMetrics(m: AuditMetrics, hostPort: string): Promise<Server> {
  const i = hostPort.lastIndexOf(':');
  const host = hostPort.slice(0, i).replace(/^\[|\]$/g, '');
  const port = Number(hostPort.slice(i + 1));
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || req.url !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    m.registry.metrics().then(
      (body) => res.writeHead(200, { 'content-type': m.registry.contentType }).end(body),
      () => res.writeHead(500).end(),
    );
  });
  server.requestTimeout = 10_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return server;
}
