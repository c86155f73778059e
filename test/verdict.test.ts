/**
 * Analyst verdicts end to end: real incidents scored by the real playbook worker (with a shadow model) on
 * the run's Temporal server, closed; then `vigil verdict` (the built CLI, as authenticated operators)
 * against the real intake: verdicts on closed incidents, rates per model and rule, the labelled export
 * read back by `vigil model eval`, and the verdict gauges on the intake's /metrics.
 */
import { execFile } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Client } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IncidentStatus } from '../src/contracts/incident.js';
import { repoRoot } from '../src/paths.js';
import { loadIntakeConfig } from '../intake/config.js';
import { DeadLetterStore } from '../intake/dead-letter.js';
import { temporalStarter } from '../intake/incidents.js';
import { createIntakeMetrics } from '../intake/metrics.js';
import { OperatorStore } from '../intake/operators.js';
import { OsqueryNodeStore } from '../intake/osquery-nodes.js';
import { buildIntake } from '../intake/server.js';
import { incidentStatusVia, registerVerdictMetrics, VerdictStore } from '../intake/verdicts.js';
import { readLabelledTraces } from '../activities/scoring/evaluate.js';
import { normalized } from './helpers/events.js';
import { forestVariant, newSigner, SHIPPED_MODEL, signedModelDir } from './helpers/model-variant.js';
import { startTestSmtp, type TestSmtp } from './helpers/smtp.js';
import { startWorker, testClient, uniqueQueue, workerEnv } from './helpers/temporal.js';

const run = promisify(execFile);
const cli = join(repoRoot(), 'bin', 'vigil.js');

let client: Client;
let closeClient: () => Promise<void>;
let smtp: TestSmtp;
let tmp: string;
let home: string;
let stopWorker: () => Promise<void>;
let intakeUrl: string;
let closeIntake: () => Promise<void>;
let queue: string;

const syscalls = Array.from(
  { length: 60 },
  (_, i) =>
    ['execve', 'brk', 'mmap', 'openat', 'read', 'close', 'socket', 'connect', 'dup2', 'write'][i % 10]!,
);
const windowed = (rule: string) =>
  normalized('generic', {
    time: '2026-11-26T09:00:00Z',
    host: `h-${randomUUID().slice(0, 8)}`,
    rule,
    severity: 'medium',
    process: { pid: 7, name: 'bash', ancestors: [{ name: 'bash' }] },
    syscalls,
  });

beforeAll(async () => {
  ({ client, close: closeClient } = await testClient());
  smtp = await startTestSmtp({ user: 'vigil', password: 'pw' });
  tmp = mkdtempSync(join(tmpdir(), 'vigil-verdict-it-'));
  const signer = newSigner(join(tmp, 'keys'));
  const shadow = signedModelDir(join(tmp, 'shadow'), signer, {
    model: forestVariant(readFileSync(join(SHIPPED_MODEL, 'model.onnx')), 3),
    version: '2.0.0-shadow',
  });
  queue = uniqueQueue('verdict');
  const w = await startWorker(
    workerEnv(smtp.port, queue, {
      SMTP_USER: 'vigil',
      SMTP_PASSWORD: 'pw',
      VIGIL_MODEL_TRUSTED_KEYS: `6f3b4ee0d94213f6,${signer.pubFile}`,
      VIGIL_MODEL_SHADOW_DIR: shadow.dir,
    }),
  );
  stopWorker = w.stop;

  // The intake as workers/intake.ts builds it, with operators and verdicts.
  const db = join(tmp, 'intake.db');
  const adminToken = 'verdict-admin-token';
  const config = loadIntakeConfig({
    VIGIL_INTAKE_KEYS: JSON.stringify([{ id: 'k', secret: 'k'.repeat(48), hosts: ['*'] }]),
    VIGIL_ADMIN_TOKEN_SHA256: createHash('sha256').update(adminToken).digest('hex'),
    VIGIL_METRICS_PUBLIC: 'true',
  });
  const deadLetters = new DeadLetterStore(db);
  const nodes = new OsqueryNodeStore(db);
  const operators = new OperatorStore(db);
  const verdicts = new VerdictStore(db);
  const metrics = createIntakeMetrics(() => 0);
  registerVerdictMetrics(metrics.registry, verdicts);
  const app = buildIntake({
    config,
    deadLetters,
    nodes,
    metrics,
    verdicts: { operators, verdicts, incidentStatus: incidentStatusVia(client) },
    starter: temporalStarter(
      client.connection,
      client.options.namespace,
      queue,
      config.VIGIL_TEMPORAL_TIMEOUT,
    ),
    ready: async () => true,
  });
  intakeUrl = await app.listen({ host: '127.0.0.1', port: 0 });
  closeIntake = async () => {
    await app.close();
    for (const s of [deadLetters, nodes, operators, verdicts]) s.close();
  };

  // A CLI home that points at this intake, with two operators' tokens (as `vigil up` writes it).
  home = join(tmp, 'home');
  mkdirSync(home);
  writeFileSync(
    join(home, 'credentials.json'),
    JSON.stringify({
      intakeKey: { id: 'k', secret: 'k'.repeat(48) },
      adminToken,
      smtp: { user: 'vigil', password: 'pw' },
      operators: {
        'dev-analyst': operators.add('dev-analyst', 'analyst').token,
        'dev-lead': operators.add('dev-lead', 'lead').token,
      },
      payloadKeys: 'dev1:' + Buffer.alloc(32, 1).toString('base64'),
    }),
  );
  writeFileSync(
    join(home, 'state.json'),
    JSON.stringify({
      pid: process.pid,
      startedAt: new Date().toISOString(),
      home,
      temporal: { address: 'unused:1', namespace: client.options.namespace, embedded: false },
      taskQueue: queue,
      intake: { url: intakeUrl, metricsUrl: `${intakeUrl}/metrics` },
      worker: {},
      smtp: { host: '127.0.0.1', port: smtp.port, mailbox: '' },
      deadLetters: db,
    }),
  );
});

afterAll(async () => {
  await closeIntake();
  await stopWorker();
  await smtp.close();
  await closeClient();
  rmSync(tmp, { recursive: true, force: true });
});

const vigil = (...args: string[]) =>
  run('node', [cli, ...args], { env: { ...process.env, VIGIL_HOME: home, VIGIL_OPERATOR_TOKEN: '' } }).then(
    (r) => ({ code: 0, stdout: r.stdout }),
    (e: { code: number; stdout: string }) => ({ code: e.code, stdout: e.stdout }),
  );

interface Score {
  inputs: { score: number; threshold: number; shadow: { score: number; threshold: number } };
}

describe('vigil verdict', () => {
  it('marks closed incidents, reports rates per model and rule, and exports them as labelled traces', async () => {
    const start = temporalStarter(client.connection, client.options.namespace, queue, 5000);
    const benign = windowed('Backup shell');
    const evil = windowed('Odd shell');
    for (const e of [benign, evil]) await start.start(e.incidentId, e.correlationKey, e.event);
    const done = await Promise.all(
      [benign, evil].map((e) => client.workflow.getHandle(e.incidentId).result() as Promise<IncidentStatus>),
    );
    expect(done.map((d) => d.status)).toEqual(['closed', 'closed']);

    const fp = await vigil(
      'verdict',
      benign.incidentId,
      'fp',
      '--note',
      'the nightly backup',
      '--as',
      'dev-analyst',
    );
    expect(fp.code).toBe(0);
    expect(fp.stdout).toContain(`${benign.incidentId}: false positive by dev-analyst`);
    expect(fp.stdout).toMatch(/model syscall-anomaly@1\.0\.0 scored \d\.\d{3}/);
    expect((await vigil('verdict', evil.incidentId, 'tp', '--as', 'dev-analyst')).code).toBe(0);
    const unknown = await vigil('verdict', 'no-such-incident', 'tp', '--as', 'dev-analyst');
    expect(unknown.code).toBe(1);
    expect(unknown.stdout).toContain('refused (HTTP 404)');
    // A workflow that is not an incident (here: a completed, non-incident run) takes no verdict.
    const other = `not-an-incident-${randomUUID().slice(0, 8)}`;
    await client.workflow.start('automationControl', {
      workflowId: other,
      taskQueue: `${queue}-nobody`,
      args: [],
    });
    const notIncident = await vigil('verdict', other, 'tp', '--as', 'dev-analyst');
    expect(notIncident.stdout).toContain('refused (HTTP 404)');
    await client.workflow.getHandle(other).terminate('test over');

    // Expected outcomes from the scores each incident recorded (active and shadow decide at their thresholds).
    const expectOutcome = (s: { score: number; threshold: number }, verdict: 'tp' | 'fp') =>
      verdict === 'tp' ? (s.score >= s.threshold ? 'tp' : 'fn') : s.score >= s.threshold ? 'fp' : 'tn';
    const rec = (d: IncidentStatus) =>
      (d.decisions.find((x) => x.kind === 'score') as unknown as Score).inputs;
    const want = { active: { tp: 0, fp: 0, tn: 0, fn: 0 }, shadow: { tp: 0, fp: 0, tn: 0, fn: 0 } };
    want.active[expectOutcome(rec(done[0]!), 'fp')]++;
    want.active[expectOutcome(rec(done[1]!), 'tp')]++;
    want.shadow[expectOutcome(rec(done[0]!).shadow, 'fp')]++;
    want.shadow[expectOutcome(rec(done[1]!).shadow, 'tp')]++;

    const stats = JSON.parse((await vigil('verdict', 'stats', '--json', '--as', 'dev-analyst')).stdout) as {
      verdicts: number;
      byModel: { role: string; model: string; tp: number; fp: number; tn: number; fn: number }[];
      byRule: { rule: string; tp: number; fp: number; fpShare: number }[];
    };
    expect(stats.verdicts).toBe(2);
    expect(stats.byModel.find((m) => m.role === 'active')).toMatchObject({
      model: 'syscall-anomaly@1.0.0',
      ...want.active,
    });
    expect(stats.byModel.find((m) => m.role === 'shadow')).toMatchObject({
      model: 'syscall-anomaly@2.0.0-shadow',
      ...want.shadow,
    });
    expect(stats.byRule.find((r) => r.rule === 'Backup shell')).toMatchObject({ fp: 1, tp: 0, fpShare: 1 });
    expect(stats.byRule.find((r) => r.rule === 'Odd shell')).toMatchObject({ fp: 0, tp: 1, fpShare: 0 });
    expect((await vigil('verdict', 'stats', '--as', 'dev-analyst')).stdout).toContain('Per model');

    // Export: analysts may not; a lead writes the labelled file, which the model tools read.
    expect(
      (await vigil('verdict', 'export', '--out', join(tmp, 'x.jsonl'), '--as', 'dev-analyst')).code,
    ).not.toBe(0);
    const out = join(tmp, 'labelled.jsonl');
    const exp = await vigil('verdict', 'export', '--out', out, '--as', 'dev-lead');
    expect(exp.stdout).toContain('wrote 2 labelled traces (1 attack, 1 normal)');
    const lines = [];
    for await (const t of readLabelledTraces(out)) lines.push(t);
    expect(lines).toEqual([
      { id: `vigil/${benign.incidentId}`, label: 'normal', attack_type: null, syscalls },
      { id: `vigil/${evil.incidentId}`, label: 'attack', attack_type: 'Odd shell', syscalls },
    ]);
    const evalOut = JSON.parse((await vigil('model', 'eval', out, '--json')).stdout) as {
      n: number;
      attacks: number;
    };
    expect(evalOut).toMatchObject({ n: 2, attacks: 1 });

    const metrics = await (await fetch(`${intakeUrl}/metrics`)).text();
    expect(metrics).toContain(
      'vigil_verdict_false_positive_rate{scope="rule",name="Backup shell",role=""} 1',
    );
    expect(metrics).toMatch(
      /vigil_verdicts\{scope="model",name="syscall-anomaly@1.0.0",role="active",outcome="(tp|fn)"\} 1/,
    );
  });
});
