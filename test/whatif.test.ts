/**
 * What-if on the run's real Temporal server: incidents recorded by a real playbook worker (one with a real
 * endpoint agent that suspends the process and an approved isolation, one that stays "suspicious") are run
 * again against the current playbooks (no difference) and against a playbooks directory whose malicious
 * threshold is lowered (the expected difference, with the steps the old run never reached marked unknown).
 * No side effect runs again: the victim process is resumed before the what-if and must stay running.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Client } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { IncidentStatus } from '../src/contracts/incident.js';
import { distEntry, repoRoot } from '../src/paths.js';
import { temporalStarter } from '../intake/incidents.js';
import { PolicyEngine } from '../activities/policy/engine.js';
import { createPolicyActivities } from '../activities/policy/index.js';
import { writeSigningKey } from '../activities/audit/keys.js';
import { createAuditExporter } from '../workers/audit-exporter.js';
import { bundleFor, diffRuns, readRecording, runWhatIf, type Recording } from '../cli/whatif/engine.js';
import { agentEnv, procState, startTestAgent, until } from './helpers/agent.js';
import { decide, waitForApproval } from './helpers/approvals.js';
import { normalized, reverseShell } from './helpers/events.js';
import { startTestSmtp, type TestSmtp } from './helpers/smtp.js';
import { startWorker, testClient, uniqueQueue, workerEnv } from './helpers/temporal.js';

const exec = promisify(execFile);
let client: Client;
let closeClient: () => Promise<void>;
let native: NativeConnection;
let smtp: TestSmtp;
const children: ChildProcess[] = [];
const dirs: string[] = [];
const queue = uniqueQueue('whatif-rec');
const policy = createPolicyActivities(PolicyEngine.load(join(repoRoot(), 'policies')));

beforeAll(async () => {
  ({ client, close: closeClient } = await testClient());
  native = await NativeConnection.connect({ address: inject('temporalAddress') });
  smtp = await startTestSmtp();
});
afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  await native.close();
  await smtp.close();
  await closeClient();
});

/** The current suspicious-process playbook with its malicious threshold lowered to 50, as a playbooks dir. */
function lowerThresholdPlaybooks(): string {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-whatif-pb-'));
  dirs.push(dir);
  const src = readFileSync(join(repoRoot(), 'playbooks', 'suspicious-process.ts'), 'utf8');
  const from = 'await assess(ctx, { responders });';
  expect(src).toContain(from);
  writeFileSync(
    join(dir, 'suspicious-process.ts'),
    src.replace(
      from,
      'await assess({ ...ctx, settings: { ...ctx.settings, maliciousThreshold: 50 } }, { responders });',
    ),
  );
  return dir;
}

const recorded = new Map<string, { id: string; recording: Recording; old: IncidentStatus }>();

async function record(name: string, id: string) {
  const h = client.workflow.getHandle(id);
  const old = (await h.result()) as IncidentStatus;
  recorded.set(name, { id, recording: await readRecording(await h.fetchHistory()), old });
}

const whatIf = async (name: string, bundleCode: string) => {
  const r = recorded.get(name);
  if (!r) throw new Error(`nothing recorded as ${name}`);
  const run = await runWhatIf({
    connection: native,
    client,
    recording: r.recording,
    bundleCode,
    live: { decideActions: (i: never) => policy.decideActions(i) },
  });
  return { run, diff: diffRuns(r.old, run), old: r.old };
};

describe('vigil whatif', () => {
  let pid = 0;

  it('records two incidents with a real worker and agent', async () => {
    const worker = await startWorker(workerEnv(smtp.port, queue, { VIGIL_QUIET_PERIOD: '1s' }));
    const host = `whatif-${randomUUID().slice(0, 8)}`;
    const agent = await startTestAgent(agentEnv(host, queue));
    const c = spawn('sleep', ['600'], { stdio: 'ignore' });
    children.push(c);
    pid = c.pid ?? 0;
    try {
      const start = temporalStarter(client.connection, client.options.namespace, queue, 5000);
      const shell = reverseShell(host, (d) => {
        d.output_fields['proc.pid'] = pid;
        d.output_fields['proc.exepath'] = readlinkSync(`/proc/${pid}/exe`);
      });
      await start.start(shell.incidentId, shell.correlationKey, shell.event);
      await decide(client, await waitForApproval(client, shell.incidentId), { id: 'lead-1', role: 'lead' });
      await record('contained', shell.incidentId);
      const odd = normalized('generic', {
        time: '2026-11-26T09:00:00Z',
        host: `whatif-${randomUUID().slice(0, 8)}`,
        rule: 'Odd shell',
        severity: 'high',
        process: { pid: 4242, name: 'bash', commandLine: 'bash -c id' },
      });
      await start.start(odd.incidentId, odd.correlationKey, odd.event);
      await record('suspicious', odd.incidentId);
    } finally {
      await agent.stop();
      await worker.stop();
    }
    const contained = recorded.get('contained')?.old;
    expect(contained?.actions.find((a) => a.action === 'suspend-process')?.status).toBe('executed');
    expect(contained?.actions.find((a) => a.action === 'isolate-host')?.detail?.approvalId).toBeDefined();
    expect(recorded.get('suspicious')?.old).toMatchObject({ verdict: 'suspicious', riskScore: 50 });
    // Resume the victim: a what-if that executed anything again would stop it.
    process.kill(pid, 'SIGCONT');
    await until('the victim to run', () => procState(pid) !== 'T');
  });

  it('shows no difference against the current playbooks, and executes nothing again', async () => {
    for (const name of ['contained', 'suspicious']) {
      const { diff, run, old } = await whatIf(name, inject('workflowBundle'));
      expect(diff).toEqual([]);
      expect(run.unknown).toEqual([]);
      expect(run.status.actions.map((a) => [a.action, a.status])).toEqual(
        old.actions.map((a) => [a.action, a.status]),
      );
    }
    expect(procState(pid)).not.toBe('T');
  });

  it('shows the expected difference against playbooks with a lower malicious threshold', async () => {
    const bundle = await bundleFor({ dir: lowerThresholdPlaybooks() });
    // Already malicious: the same decisions.
    expect((await whatIf('contained', bundle.code)).diff).toEqual([]);
    const { diff, run } = await whatIf('suspicious', bundle.code);
    const text = diff.map((d) => d.text).join('\n');
    expect(diff.find((d) => d.what === 'verdict')).toMatchObject({
      old: expect.stringMatching(/^suspicious/),
      now: expect.stringMatching(/^malicious/),
    });
    expect(diff.find((d) => d.what === 'proposal' && d.action === 'suspend-process')).toMatchObject({
      old: 'not proposed',
      now: 'recommend',
    });
    // The policy was asked something new: recomputed (read-only), not taken from the record.
    expect(run.recomputed.length).toBe(1);
    expect(diff.find((d) => d.what === 'policy' && d.action === 'suspend-process')?.old).toBe('not asked');
    // The step the old run never reached is explicitly unknown, and located.
    const step = diff.find((d) => d.what === 'action' && d.action === 'suspend-process');
    expect(step?.step).toBeGreaterThan(1);
    expect(step?.old).toBe('not proposed');
    expect(step?.now).toMatch(/unknown/);
    expect(text).toMatch(/step \d+: .*suspend-process on host whatif-\w+, pid 4242 -> .*unknown/);
  });

  it(
    'vigil whatif reads the incident from the audit log and prints the diff',
    { timeout: 180_000 },
    async () => {
      const home = mkdtempSync(join(tmpdir(), 'vigil-whatif-home-'));
      const keyDir = mkdtempSync(join(tmpdir(), 'vigil-whatif-key-'));
      dirs.push(home, keyDir);
      const signer = writeSigningKey(join(keyDir, 'k.pem'));
      const logPath = join(home, 'audit', 'audit.log');
      const exporter = createAuditExporter({
        client,
        logPath,
        signer,
        trustedFingerprints: [signer.fingerprint],
        checkpointEvery: 100,
        checkpointIntervalMs: 0,
        pollIntervalMs: 200,
        visibilityLagMs: 60_000,
        filter: `TaskQueue = '${queue}'`,
        log: () => undefined,
      });
      const id = recorded.get('suspicious')?.id ?? '';
      try {
        await until('the incident in the audit log', async () => {
          await exporter.runOnce();
          return exporter.log.entriesOf(id).length > 0 || undefined;
        });
      } finally {
        exporter.close();
      }
      const env = { ...process.env, VIGIL_AUDIT_LOG: logPath, VIGIL_HOME: home };
      const same = await exec(process.execPath, [distEntry('cli/vigil'), 'whatif', id], {
        env,
        timeout: 120_000,
      });
      expect(same.stdout).toContain('no difference');
      expect(same.stdout).toContain('audit log');
      const { stdout } = await exec(
        process.execPath,
        [distEntry('cli/vigil'), 'whatif', id, '--playbooks', lowerThresholdPlaybooks(), '--json'],
        { env, timeout: 120_000 },
      );
      const r = JSON.parse(stdout) as {
        diff: { what: string; action?: string; now: string }[];
        unknown: unknown[];
      };
      expect(r.diff.find((d) => d.what === 'verdict')?.now).toMatch(/^malicious/);
      expect(r.diff.find((d) => d.what === 'action' && d.action === 'suspend-process')?.now).toMatch(
        /unknown/,
      );
    },
  );
});
