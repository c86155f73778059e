/**
 * The audit exporter against the run's real Temporal server with a real playbook worker: closed incident
 * runs land in the log exactly once with their history and decision records, across restarts and a crash
 * between the append and the index/cursor update; the log verifies; the `vigil audit` commands work on it.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import type { Client } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IncidentStatus } from '../src/contracts/incident.js';
import { repoRoot } from '../src/paths.js';
import { temporalStarter } from '../intake/incidents.js';
import { sha256Hex } from '../activities/audit/canonical.js';
import type { AuditEntry } from '../activities/audit/entry.js';
import { writeSigningKey, type Signer } from '../activities/audit/keys.js';
import { AuditLog } from '../activities/audit/log.js';
import { verifyLog } from '../activities/audit/verify.js';
import { createAuditExporter, type AuditExporterOptions } from '../workers/audit-exporter.js';
import { normalized } from './helpers/events.js';
import { startTestSmtp, type TestSmtp } from './helpers/smtp.js';
import { startWorker, testClient, uniqueQueue, workerEnv } from './helpers/temporal.js';

const exec = promisify(execFile);
let client: Client;
let closeClient: () => Promise<void>;
let smtp: TestSmtp;
let worker: { stop: () => Promise<void> };
let dir: string;
let keyDir: string;
let signer: Signer;
let keyFile: string;
const queue = uniqueQueue('audit');

beforeAll(async () => {
  ({ client, close: closeClient } = await testClient());
  smtp = await startTestSmtp();
  worker = await startWorker(workerEnv(smtp.port, queue, { VIGIL_QUIET_PERIOD: '1s' }));
  dir = mkdtempSync(join(tmpdir(), 'vigil-audit-home-'));
  keyDir = mkdtempSync(join(tmpdir(), 'vigil-audit-key-')); // the key lives apart from the log
  keyFile = join(keyDir, 'signing.pem');
  signer = writeSigningKey(keyFile);
});
afterAll(async () => {
  await worker.stop();
  await smtp.close();
  await closeClient();
  rmSync(dir, { recursive: true, force: true });
  rmSync(keyDir, { recursive: true, force: true });
});

const logPath = () => join(dir, 'audit', 'audit.log');
const host = () => `audit-${Math.random().toString(36).slice(2, 10)}`;

function exporter(extra: Partial<AuditExporterOptions> = {}) {
  return createAuditExporter({
    client,
    logPath: logPath(),
    signer,
    trustedFingerprints: [signer.fingerprint],
    checkpointEvery: 4,
    checkpointIntervalMs: 0,
    pollIntervalMs: 200,
    visibilityLagMs: 60_000,
    filter: `TaskQueue = '${queue}'`,
    log: (l) => (process.env.AUDIT_TEST_DEBUG ? process.stderr.write(`exporter: ${l}\n`) : undefined),
    ...extra,
  });
}

/**
 * A process detection the suspicious-process playbook decides on by itself (no containment to approve,
 * so the incident closes after the quiet period); `severity` high is mailed, medium is not.
 */
const oddShell = (h: string, severity: 'medium' | 'high', time = '2026-11-26T09:00:00Z') =>
  normalized('generic', {
    time,
    host: h,
    rule: 'Odd shell',
    severity,
    process: { name: 'bash', commandLine: 'bash -c id', ancestors: [{ name: 'sshd' }] },
  });

async function incident(
  ev: ReturnType<typeof normalized>,
): Promise<{ id: string; runId: string; result: IncidentStatus }> {
  const start = temporalStarter(client.connection, client.options.namespace, queue, 5000);
  const { runId } = await start.start(ev.incidentId, ev.correlationKey, ev.event);
  const result = (await client.workflow.getHandle(ev.incidentId, runId).result()) as IncidentStatus;
  return { id: ev.incidentId, runId, result };
}

/** Every entry of the log, parsed. */
const entries = () =>
  readFileSync(logPath(), 'utf8')
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l) as AuditEntry);
const ofRun = (runId: string) => entries().filter((e) => e.payload.runId === runId);

/** Poll the exporter until `runIds` are all in the log (visibility trails the close by a moment). */
async function exportUntil(x: ReturnType<typeof exporter>, runIds: string[]): Promise<void> {
  for (let i = 0; i < 100; i++) {
    await x.runOnce();
    if (runIds.every((r) => ofRun(r).some((e) => e.kind === 'incident.closed'))) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`runs ${runIds.join(', ')} were not exported`);
}

function expectExportedOnce(run: { id: string; runId: string; result: IncidentStatus }) {
  const es = ofRun(run.runId);
  const history = es.filter((e) => e.kind === 'history');
  const decisions = es.filter((e) => e.kind === 'decision');
  const closed = es.filter((e) => e.kind === 'incident.closed');
  expect(history).toHaveLength(1);
  expect(closed).toHaveLength(1);
  expect(decisions.map((d) => d.payload.record)).toEqual(run.result.decisions);
  const h = history[0]?.payload as { data: string; sha256: string; events: number };
  const json = gunzipSync(Buffer.from(h.data, 'base64'));
  expect(sha256Hex(json)).toBe(h.sha256);
  const events = (JSON.parse(json.toString('utf8')) as { events: { eventType: string }[] }).events;
  expect(events).toHaveLength(h.events);
  expect(events[0]?.eventType).toBe('EVENT_TYPE_WORKFLOW_EXECUTION_STARTED');
  expect(events[events.length - 1]?.eventType).toBe('EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED');
  expect(closed[0]?.payload).toMatchObject({
    incidentId: run.id,
    execution: 'COMPLETED',
    decisionCount: run.result.decisions.length,
    result: { verdict: run.result.verdict, outcome: run.result.outcome, timeline: run.result.timeline },
  });
  // incident.closed comes last: it marks the run as completely exported
  expect(Math.max(...es.map((e) => e.seq))).toBe(closed[0]?.seq);
}

describe('audit exporter', () => {
  const runs: { id: string; runId: string; result: IncidentStatus }[] = [];

  it('exports each closed incident run once, with its history and decisions, across restarts and a crash', async () => {
    runs.push(
      ...(await Promise.all([
        incident(oddShell(host(), 'high')),
        incident(oddShell(host(), 'medium')),
        incident(
          normalized('generic', {
            time: '2026-11-26T09:00:00Z',
            host: host(),
            rule: 'Package installed',
            severity: 'info',
          }),
        ),
      ])),
    );
    const first = exporter();
    await exportUntil(
      first,
      runs.map((r) => r.runId),
    );
    first.close();
    for (const r of runs) expectExportedOnce(r);
    const count = entries().length;

    // A restart: a new exporter on the same files exports nothing again.
    const second = exporter();
    const again = await second.runOnce();
    expect(again).toMatchObject({ exported: 0, skipped: 3 });
    second.close();
    expect(entries()).toHaveLength(count);

    // A crash after the entries reached the log, before the index and the cursor knew: no duplicate.
    const fourth = await incident(oddShell(runs[0]?.result.host ?? '', 'high', '2026-11-26T10:00:00Z')); // a new run of the first incident
    expect(fourth.id).toBe(runs[0]?.id);
    let crashed = 0;
    const crashing = exporter({
      onAppended: () => {
        if (!crashed++) throw new Error('simulated crash after append');
      },
    });
    for (let i = 0; i < 60 && !crashed; i++) {
      await crashing.runOnce().catch(() => undefined);
      if (!crashed) await new Promise((r) => setTimeout(r, 250));
    }
    crashing.close();
    expect(crashed).toBe(1);
    expect(ofRun(fourth.runId).filter((e) => e.kind === 'incident.closed')).toHaveLength(1); // on disk
    const recovered = exporter();
    expect(await recovered.runOnce()).toMatchObject({ exported: 0, skipped: 4 });
    recovered.close();
    runs.push(fourth);
    for (const r of runs) expectExportedOnce(r);
  });

  it('follows Temporal while running: a run that closes is in the log within seconds, and the log verifies', async () => {
    const x = exporter();
    const ac = new AbortController();
    const running = x.run(ac.signal);
    const fifth = await incident(oddShell(host(), 'medium'));
    const closedAt = Date.now();
    let found: AuditEntry | undefined;
    for (let i = 0; i < 120 && !found; i++) {
      found = ofRun(fifth.runId).find((e) => e.kind === 'incident.closed');
      if (!found) await new Promise((r) => setTimeout(r, 250));
    }
    ac.abort();
    await running;
    expect(found).toBeDefined();
    expect(Date.parse(found?.time ?? '') - closedAt).toBeLessThan(60_000);
    x.log.checkpoint();
    x.close();
    runs.push(fifth);
    for (const r of runs) expectExportedOnce(r);
    const report = await verifyLog(logPath(), { trustedFingerprints: [signer.fingerprint] });
    expect(report.firstBad).toBeUndefined();
    expect(report).toMatchObject({ ok: true, unsealedTail: 0, kinds: { 'incident.closed': 5, history: 5 } });
  });

  it('vigil audit verify | show | head | export work offline on the exported log', async () => {
    const vigil = (...args: string[]) =>
      exec(process.execPath, [join(repoRoot(), 'bin', 'vigil.js'), 'audit', ...args], {
        env: {
          ...process.env,
          VIGIL_HOME: dir,
          VIGIL_AUDIT_TRUSTED_KEYS: signer.fingerprint,
          VIGIL_AUDIT_SIGNING_KEY: keyFile,
        },
      }).then(
        (r) => ({ code: 0, out: r.stdout, err: r.stderr }),
        (e: { code: number; stdout: string; stderr: string }) => ({
          code: e.code,
          out: e.stdout,
          err: e.stderr,
        }),
      );
    const first = runs[0];
    if (!first) throw new Error('no runs');
    const bundle = join(dir, 'bundle.json');
    // Independent commands run side by side (each is a fresh node process).
    const [ok, shown, head, exported] = await Promise.all([
      vigil('verify'),
      vigil('show', first.id),
      vigil('head'),
      vigil('export', first.id, '--out', bundle),
    ]);
    expect(ok.out).toMatch(/^OK /);
    expect(ok.code).toBe(0);
    expect(shown.code).toBe(0);
    expect(shown.out).toMatch(/2 run\(s\)/);
    expect(shown.out).toMatch(/because/);
    expect(shown.out).toMatch(/notify-email: (done|skipped)/);
    expect(shown.out).toMatch(/Timeline:\n.*event /);
    const headFile = join(dir, 'head.json');
    writeFileSync(headFile, head.out);
    expect(exported.code).toBe(0);
    const tampered = join(dir, 'tampered.json');
    writeFileSync(tampered, readFileSync(bundle, 'utf8').replace('"COMPLETED"', '"TERMINATED"'));
    const [vb, vt] = await Promise.all([vigil('verify', bundle, '--json'), vigil('verify', tampered)]);
    expect(JSON.parse(vb.out)).toMatchObject({ ok: true, type: 'bundle', runs: 2 });
    expect(vt.code).toBe(1);

    // Cut the log back by one entry: only the kept head can tell, and it names the missing entry.
    const log = readFileSync(logPath(), 'utf8');
    const cut = log.slice(0, log.trimEnd().lastIndexOf('\n') + 1);
    writeFileSync(logPath(), cut);
    const bad = await vigil('verify', '--head', headFile);
    expect(bad.code).toBe(1);
    expect(bad.out).toMatch(/first bad entry: seq \d+ .*truncated/);
    // ... and a writer refuses to continue it.
    expect(() => AuditLog.open({ logPath: logPath(), signer })).toThrow(/cut back/);
  });
});
