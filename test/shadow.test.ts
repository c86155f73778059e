/**
 * Playbook build and shadow mode on the run's real Temporal server, with a real playbook worker, a real
 * endpoint agent and a real victim process: every incident records the build that handled it (status,
 * decision records, audit log); a playbook in VIGIL_SHADOW_PLAYBOOKS runs fully but neither suspends the
 * process nor asks anyone to approve the isolation, and records both as would-have-done; `vigil shadow
 * report` compares the shadow run with a live run of the same playbook from the audit log.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Client } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { approvalsQuery } from '../src/contracts/approval.js';
import type { IncidentStatus } from '../src/contracts/incident.js';
import { distEntry, repoRoot } from '../src/paths.js';
import { temporalStarter } from '../intake/incidents.js';
import { resolvePlaybookBuild } from '../activities/settings/build.js';
import type { AddressInfo } from 'node:net';
import { writeSigningKey } from '../activities/audit/keys.js';
import type { AuditLog } from '../activities/audit/log.js';
import { createAuditMetrics, serveAuditMetrics } from '../activities/audit/metrics.js';
import { createAuditExporter } from '../workers/audit-exporter.js';
import { shadowReport, type ShadowReport } from '../cli/commands/shadow.js';
import { agentEnv, procState, startTestAgent, until } from './helpers/agent.js';
import { decide, waitForApproval } from './helpers/approvals.js';
import { reverseShell } from './helpers/events.js';
import { startTestSmtp, type TestSmtp } from './helpers/smtp.js';
import { startWorker, testClient, uniqueQueue, workerEnv } from './helpers/temporal.js';

const exec = promisify(execFile);
let client: Client;
let closeClient: () => Promise<void>;
let smtp: TestSmtp;
const children: ChildProcess[] = [];
const dirs: string[] = [];

beforeAll(async () => {
  ({ client, close: closeClient } = await testClient());
  smtp = await startTestSmtp();
});
afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  await smtp.close();
  await closeClient();
});

function victim(): number {
  const c = spawn('sleep', ['600'], { stdio: 'ignore' });
  children.push(c);
  if (!c.pid) throw new Error('could not start the victim process');
  return c.pid;
}

const eventFor = (host: string, pid: number) =>
  reverseShell(host, (d) => {
    d.output_fields['proc.pid'] = pid;
    d.output_fields['proc.exepath'] = readlinkSync(`/proc/${pid}/exe`);
  });

/** One incident on `host` (with its own agent) through a worker on `queue`; returns its final status. */
async function incidentOn(queue: string, host: string, onApproval?: (incidentId: string) => Promise<void>) {
  const agent = await startTestAgent(agentEnv(host, queue));
  const pid = victim();
  try {
    const ev = eventFor(host, pid);
    await temporalStarter(client.connection, client.options.namespace, queue, 5000).start(
      ev.incidentId,
      ev.correlationKey,
      ev.event,
    );
    if (onApproval) await onApproval(ev.incidentId);
    const status = (await client.workflow.getHandle(ev.incidentId).result()) as IncidentStatus;
    return { status, pid, incidentId: ev.incidentId };
  } finally {
    await agent.stop();
  }
}

const actionsOf = (s: IncidentStatus, action: string) => s.actions.filter((a) => a.action === action);

describe('playbook build and shadow mode', () => {
  const shadowQueue = uniqueQueue('shadow');
  const liveQueue = uniqueQueue('live');
  let shadowRun: Awaited<ReturnType<typeof incidentOn>>;
  let liveRun: Awaited<ReturnType<typeof incidentOn>>;

  it('runs a shadow playbook fully without suspending the process or asking anyone, and records the build', async () => {
    const worker = await startWorker(
      workerEnv(smtp.port, shadowQueue, { VIGIL_SHADOW_PLAYBOOKS: 'suspicious-process' }),
    );
    try {
      const host = `shadow-${randomUUID().slice(0, 8)}`;
      shadowRun = await incidentOn(shadowQueue, host);
      const s = shadowRun.status;
      // Nothing executed: the victim still runs (not stopped), nobody was asked.
      expect(procState(shadowRun.pid)).not.toBe('T');
      expect(await client.workflow.getHandle(shadowRun.incidentId).query(approvalsQuery)).toEqual([]);
      expect(s.shadow).toBe(true);
      expect(actionsOf(s, 'suspend-process')).toMatchObject([
        {
          status: 'shadow',
          detail: {
            disposition: 'automatic',
            wouldHave: 'execute-automatically',
            via: expect.stringMatching(/^agent /),
          },
        },
      ]);
      expect(actionsOf(s, 'isolate-host')).toMatchObject([
        {
          status: 'shadow',
          detail: { disposition: 'approval', wouldHave: 'request-approval', approvals: { needed: 1 } },
        },
      ]);
      expect(s.outcome).toContain('SHADOW: would suspend-process');
      // The rest of the playbook ran: rules, score, policy decisions, the notification.
      expect(s.decisions.map((d) => d.kind)).toEqual(expect.arrayContaining(['rules', 'policy']));
      expect(actionsOf(s, 'notify-email')[0]?.status).toBe('done');
      // The build that handled it: in the status, on every decision, in the timeline.
      const build = resolvePlaybookBuild({}, repoRoot());
      expect(s.build).toEqual(build);
      expect(s.playbook).toEqual({ name: 'suspicious-process', version: '1.0.0', build: build.id });
      for (const d of s.decisions) expect(d).toMatchObject({ playbook: { build: build.id }, shadow: true });
      expect(s.timeline.some((t) => t.summary.includes(`(build ${build.id}) in SHADOW mode`))).toBe(true);
    } finally {
      await worker.stop();
    }
  });

  it('runs the same playbook live when it is not in shadow mode, and records its build id override', async () => {
    const worker = await startWorker(
      workerEnv(smtp.port, liveQueue, { VIGIL_BUILD_ID: 'release-2026.11.1' }),
    );
    try {
      const host = `live-${randomUUID().slice(0, 8)}`;
      liveRun = await incidentOn(liveQueue, host, async (id) => {
        const a = await waitForApproval(client, id);
        expect(a.action).toBe('isolate-host');
        await decide(client, a, { id: 'lead-1', role: 'lead' }, 'deny');
      });
      const s = liveRun.status;
      expect(procState(liveRun.pid)).toBe('T');
      expect(s.shadow).toBeUndefined();
      expect(actionsOf(s, 'suspend-process')[0]?.status).toBe('executed');
      expect(actionsOf(s, 'isolate-host')[0]?.status).toBe('denied');
      expect(s.build?.id).toBe('release-2026.11.1');
      expect(s.decisions.every((d) => d.playbook?.build === 'release-2026.11.1' && !d.shadow)).toBe(true);
    } finally {
      await worker.stop();
    }
  });

  it('exports both runs with their build, counts it in the exporter metrics, and vigil shadow report compares them', async () => {
    expect(shadowRun && liveRun).toBeTruthy();
    const home = mkdtempSync(join(tmpdir(), 'vigil-shadow-home-'));
    const keyDir = mkdtempSync(join(tmpdir(), 'vigil-shadow-key-'));
    dirs.push(home, keyDir);
    const signer = writeSigningKey(join(keyDir, 'k.pem'));
    const logPath = join(home, 'audit', 'audit.log');
    const holder: { log?: AuditLog } = {};
    const metrics = createAuditMetrics(() => ({
      lastSeq: holder.log?.status().lastSeq ?? 0,
      unsealed: holder.log?.status().unsealed ?? 0,
    }));
    const server = await serveAuditMetrics(metrics, '127.0.0.1:0');
    const exporter = createAuditExporter({
      metrics,
      client,
      logPath,
      signer,
      trustedFingerprints: [signer.fingerprint],
      checkpointEvery: 100,
      checkpointIntervalMs: 0,
      pollIntervalMs: 200,
      visibilityLagMs: 60_000,
      filter: `TaskQueue = '${shadowQueue}' OR TaskQueue = '${liveQueue}'`,
      log: () => undefined,
    });
    holder.log = exporter.log;
    try {
      await until('both runs in the audit log', async () => {
        await exporter.runOnce();
        return exporter.log.incidents().length >= 2 || undefined;
      });
      // The exporter's own metrics, scraped over HTTP.
      const port = (server.address() as AddressInfo).port;
      const scrape = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      const value = (line: string) =>
        Number(new RegExp(`^${line.replace(/[{}".]/g, '\\$&')} (\\S+)$`, 'm').exec(scrape)?.[1]);
      expect(value('vigil_audit_runs_exported_total')).toBe(2);
      expect(value('vigil_audit_entries_appended_total{kind="history"}')).toBe(2);
      expect(value('vigil_audit_entries_appended_total{kind="incident.closed"}')).toBe(2);
      const decisionsAppended = value('vigil_audit_entries_appended_total{kind="decision"}');
      expect(decisionsAppended).toBe(shadowRun.status.decisions.length + liveRun.status.decisions.length);
      expect(value('vigil_audit_checkpoints_signed_total')).toBeGreaterThanOrEqual(1);
      expect(value('vigil_audit_export_lag_seconds_count')).toBe(2);
      expect(value('vigil_audit_export_lag_seconds_sum')).toBeGreaterThan(0);
      expect(value('vigil_audit_errors_total')).toBe(0);
      expect(value('vigil_audit_last_seq')).toBe(exporter.log.status().lastSeq);
      // The audit log's records carry the build.
      const closed = exporter.log.entriesOf(shadowRun.incidentId).find((e) => e.kind === 'incident.closed');
      expect(closed?.payload.result).toMatchObject({
        shadow: true,
        build: { id: shadowRun.status.build?.id },
      });
      const decisions = exporter.log.entriesOf(liveRun.incidentId).filter((e) => e.kind === 'decision');
      expect(decisions.length).toBeGreaterThan(0);
      for (const d of decisions)
        expect(d.payload.record).toMatchObject({ playbook: { build: 'release-2026.11.1' } });

      const { stdout } = await exec(
        process.execPath,
        [distEntry('cli/vigil'), 'shadow', 'report', '--since', '1h', '--json'],
        { env: { ...process.env, VIGIL_AUDIT_LOG: logPath } },
      );
      const r = JSON.parse(stdout) as ShadowReport;
      expect(r.runs).toBe(2);
      const pb = r.playbooks['suspicious-process'];
      expect(pb?.live).toMatchObject({
        runs: 1,
        verdicts: { malicious: 1 },
        builds: { 'release-2026.11.1': 1 },
        actions: { 'suspend-process': { executed: 1 }, 'isolate-host': { denied: 1 } },
      });
      expect(pb?.shadow).toMatchObject({
        runs: 1,
        verdicts: { malicious: 1 },
        actions: {
          'suspend-process': { 'would execute-automatically': 1 },
          'isolate-host': { 'would request-approval': 1 },
        },
      });
      // The period is honoured: nothing closed in the hour after now.
      const later = shadowReport(
        exporter.log.entriesOfKind('incident.closed'),
        new Date(Date.now() + 60_000),
        new Date(Date.now() + 3600_000),
      );
      expect(later.runs).toBe(0);
      const text = await exec(process.execPath, [distEntry('cli/vigil'), 'shadow', 'report'], {
        env: { ...process.env, VIGIL_AUDIT_LOG: logPath },
      });
      expect(text.stdout).toMatch(
        /suspend-process\s+executed 1 \(1\.00\/run\)\s+\|\s+would execute automatically 1/,
      );
    } finally {
      server.close();
      exporter.close();
    }
  });
});
