/**
 * RPA bots end to end on real Temporal: a workflow hands a job to a queue (async activity completion), the
 * reference bot (a child process speaking the intake's bot API) claims it with a lease, heartbeats and
 * completes it. Leases are seconds long here. Covered: completion end to end; a bot killed with SIGKILL
 * while holding the lease (another bot gets the job after the lease runs out; the dead bot's late
 * completion is refused); a malformed result (400 with the zod issues, the job stays held); bots without
 * a valid token or without the queue (401/403); a bot's failure and the deadline as playbook outcomes; an
 * outcome recorded but never delivered (the intake died in between) still reaching the playbook.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadIntakeConfig } from '../intake/config.js';
import { DeadLetterStore } from '../intake/dead-letter.js';
import { temporalStarter } from '../intake/incidents.js';
import { createIntakeMetrics } from '../intake/metrics.js';
import { OsqueryNodeStore } from '../intake/osquery-nodes.js';
import { RpaBotStore } from '../intake/rpa-bots.js';
import { buildIntake } from '../intake/server.js';
import type { RpaJobRequest } from '../playbooks/rpa-job.js';
import type { RpaOutcome } from '../playbooks/lib/rpa.js';
import {
  completeUpdate,
  jobQuery,
  jobsQuery,
  RPA_JOB_WORKFLOW,
  rpaQueueWorkflowId,
  type RpaJobTypeName,
  type RpaJobView,
} from '../src/contracts/rpa-queue.js';
import { distEntry } from '../src/paths.js';
import { startTestSmtp, type TestSmtp } from './helpers/smtp.js';
import { startWorker, testClient, uniqueQueue, workerEnv } from './helpers/temporal.js';

const ADMIN = 'rpa-test-admin';

/** What the bot API answers (the fields these tests read). */
interface ApiAnswer {
  error?: string;
  reason?: string;
  issues?: string[];
  jobId?: string;
  leaseId?: string;
  taskToken?: string;
  delivered?: boolean;
}
/** One JSON line of the reference bot's stdout. */
interface BotEvent {
  event: string;
  at: string;
  jobId?: string;
  leaseId?: string;
  claim?: number;
  delivered?: boolean;
}
let client: Client;
let closeClient: () => Promise<void>;
let smtp: TestSmtp;
let worker: { stop: () => Promise<void> };
let taskQueue: string;
let intake: {
  url: string;
  close: () => Promise<void>;
  metric: (n: string, l: Record<string, string>) => Promise<number>;
};
let dir: string;
const children: ChildProcess[] = [];
const queues: string[] = [];

beforeAll(async () => {
  ({ client, close: closeClient } = await testClient());
  smtp = await startTestSmtp();
  taskQueue = uniqueQueue('rpa');
  worker = await startWorker(workerEnv(smtp.port, taskQueue));
  dir = mkdtempSync(join(tmpdir(), 'vigil-rpa-'));
  const config = loadIntakeConfig({
    VIGIL_INTAKE_KEYS: JSON.stringify([{ id: 'unused', secret: 'u'.repeat(48), hosts: ['*'] }]),
    VIGIL_ADMIN_TOKEN_SHA256: createHash('sha256').update(ADMIN).digest('hex'),
    VIGIL_METRICS_PUBLIC: 'true',
  });
  const db = join(dir, 'intake.db');
  const deadLetters = new DeadLetterStore(db);
  const nodes = new OsqueryNodeStore(db);
  const bots = new RpaBotStore(db);
  const app = buildIntake({
    config,
    deadLetters,
    nodes,
    metrics: createIntakeMetrics(() => 0),
    starter: temporalStarter(client.connection, client.options.namespace, taskQueue, 5000),
    ready: async () => true,
    rpa: { bots, connection: client.connection, namespace: client.options.namespace, timeoutMs: 10_000 },
  });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  intake = {
    url,
    async metric(name, labels) {
      const text = await (await fetch(`${url}/metrics`)).text();
      let total = 0;
      for (const line of text.split('\n'))
        if (
          line.startsWith(`${name}{`) &&
          Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))
        )
          total += Number(line.split(' ').pop());
      return total;
    },
    async close() {
      await app.close();
      bots.close();
      deadLetters.close();
      nodes.close();
    },
  };
});

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const q of queues)
    await client.workflow
      .getHandle(rpaQueueWorkflowId(q))
      .terminate('test over')
      .catch(() => undefined);
  await intake?.close();
  await worker?.stop();
  await smtp?.close();
  await closeClient();
  rmSync(dir, { recursive: true, force: true });
});

const newQueue = () => {
  const q = `ev-${randomUUID().slice(0, 8)}`;
  queues.push(q);
  return q;
};

async function addBot(name: string, botQueues: string[]): Promise<string> {
  const res = await fetch(`${intake.url}/v1/admin/rpa/bots`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name, queues: botQueues }),
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { token: string }).token;
}

async function call(token: string | undefined, method: 'GET' | 'POST', path: string, body?: unknown) {
  const res = await fetch(`${intake.url}${path}`, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  return { status: res.status, json: (text ? JSON.parse(text) : {}) as ApiAnswer };
}

function handJob(queue: string, input: unknown, extra: Partial<RpaJobRequest> = {}) {
  const req: RpaJobRequest = {
    queue,
    jobType: 'collect-evidence',
    input,
    deadline: '60s',
    silence: '4s',
    ...extra,
  };
  return client.workflow.start(RPA_JOB_WORKFLOW, {
    taskQueue,
    workflowId: `rpa-test-${randomUUID()}`,
    args: [req],
  });
}

/** The reference bot as a child process; its JSON-lines events are collected and can be awaited. */
function spawnBot(token: string, queue: string, args: string[] = []) {
  const child = spawn(
    process.execPath,
    [distEntry('examples/rpa-bot/bot'), '--queue', queue, '--lease', '2', '--poll', '200', ...args],
    {
      env: { ...process.env, VIGIL_RPA_URL: intake.url, VIGIL_RPA_TOKEN: token },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  children.push(child);
  const events: BotEvent[] = [];
  const waiters: { pred: (e: BotEvent) => boolean; resolve: (e: BotEvent) => void }[] = [];
  createInterface({ input: child.stdout }).on('line', (line) => {
    const e = JSON.parse(line) as BotEvent;
    events.push(e);
    for (const w of [...waiters])
      if (w.pred(e)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(e);
      }
  });
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  const next = (event: string, timeoutMs = 30_000) =>
    new Promise<BotEvent>((resolve, reject) => {
      const seen = events.find((e) => e.event === event);
      if (seen) return resolve(seen);
      const t = setTimeout(
        () =>
          reject(
            new Error(`bot: no "${event}" in ${timeoutMs} ms; events ${JSON.stringify(events)} ${stderr}`),
          ),
        timeoutMs,
      );
      waiters.push({ pred: (e) => e.event === event, resolve: (e) => (clearTimeout(t), resolve(e)) });
    });
  return { child, events, next };
}

/** A workflow's whole history as text (payloads are plain JSON without a codec). */
async function historyText(workflowId: string): Promise<string> {
  const h = await client.workflow.getHandle(workflowId).fetchHistory();
  return Buffer.from(temporal.api.history.v1.History.encode(h).finish()).toString('utf8');
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
const jobOf = async (queue: string, jobId: string) =>
  (await client.workflow.getHandle(rpaQueueWorkflowId(queue)).query(jobQuery, jobId)) as RpaJobView;
async function waitForJob(queue: string, timeoutMs = 20_000): Promise<RpaJobView> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      const [j] = await client.workflow.getHandle(rpaQueueWorkflowId(queue)).query(jobsQuery);
      if (j) return j;
    } catch {
      /* the queue workflow is not there yet */
    }
    if (Date.now() > until) throw new Error(`no job in ${queue}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function evidenceFile(content: string): string {
  const f = join(dir, `evidence-${randomUUID().slice(0, 8)}.txt`);
  writeFileSync(f, content, { mode: 0o640 });
  return f;
}

const goodResult = (path: string, content: string) => ({
  host: 'test-host',
  path,
  sha256: sha256(content),
  size: content.length,
  mode: '0640',
  uid: 0,
  gid: 0,
  inode: 1,
  mtime: new Date().toISOString(),
  ctime: new Date().toISOString(),
  collectedAt: new Date().toISOString(),
});

describe('RPA jobs', () => {
  it('a bot completes a job a workflow handed to it, end to end', async () => {
    const queue = newQueue();
    const content = `evidence ${randomUUID()}\n`;
    const path = evidenceFile(content);
    const wf = await handJob(queue, { path });
    const token = await addBot('bot-e2e', [queue]);
    const bot = spawnBot(token, queue, ['--once']);
    const done = (await wf.result()) as RpaOutcome<'collect-evidence'>;
    expect(done.status).toBe('completed');
    if (done.status !== 'completed') return;
    expect(done.bot).toBe('bot-e2e');
    expect(done.result).toMatchObject({ path, sha256: sha256(content), size: content.length, mode: '0640' });
    expect(done.claims).toBe(1);
    expect((await bot.next('completed')).delivered).toBe(true);
    // Bot tokens never cross Temporal: neither the requester's nor the queue's history holds the secret.
    const secret = token.split('.')[1] as string;
    for (const id of [wf.workflowId, rpaQueueWorkflowId(queue)]) {
      const history = await historyText(id);
      expect(history).toContain(sha256(content)); // the payloads are readable here...
      expect(history).not.toContain(secret); // ...and the token is not among them
    }
    const job = await jobOf(queue, done.jobId);
    expect(job.state).toBe('completed');
    expect(job.trail.map((t) => t.what).join('\n')).toMatch(/claimed by bot-e2e[\s\S]*completed by bot-e2e/);
    expect(
      await intake.metric('vigil_intake_rpa_requests_total', { op: 'claim', queue, outcome: 'claimed' }),
    ).toBe(1);
    expect(
      await intake.metric('vigil_intake_rpa_requests_total', { op: 'complete', queue, outcome: 'completed' }),
    ).toBe(1);
    expect(
      await intake.metric('vigil_intake_rpa_deliveries_total', { op: 'complete', outcome: 'delivered' }),
    ).toBeGreaterThanOrEqual(1);
  });

  it("hands a job held by a killed bot to another bot after its lease expires and refuses the dead bot's late completion", async () => {
    const queue = newQueue();
    const content = `kill -9 ${randomUUID()}\n`;
    const path = evidenceFile(content);
    const wf = await handJob(queue, { path }, { silence: '3s' });
    const tokenA = await addBot('bot-doomed', [queue]);
    const tokenB = await addBot('bot-heir', [queue]);
    const a = spawnBot(tokenA, queue, ['--hold', '120000']);
    const claimedA = await a.next('claimed');
    a.child.kill('SIGKILL');
    const killedAt = Date.now();
    // While the dead bot's lease still runs, nobody else gets the job.
    expect((await call(tokenB, 'GET', `/v1/rpa/queues/${queue}/jobs/next?lease=2`)).status).toBe(204);
    const b = spawnBot(tokenB, queue, ['--once', '--hold', '1500']);
    const claimedB = await b.next('claimed');
    expect(claimedB.jobId).toBe(claimedA.jobId);
    expect(claimedB.claim).toBe(2);
    expect(Date.parse(claimedB.at)).toBeGreaterThanOrEqual(Date.parse(claimedA.at) + 1500);
    // The dead bot's completion arrives late (its lease is gone, bot-heir holds the job): refused.
    const late = await call(tokenA, 'POST', `/v1/rpa/queues/${queue}/jobs/${claimedA.jobId}/complete`, {
      leaseId: claimedA.leaseId,
      result: goodResult(path, 'forged'),
    });
    expect(late.status).toBe(409);
    expect(late.json.error).toBe('not-lease-holder');
    const done = (await wf.result()) as RpaOutcome<'collect-evidence'>;
    expect(done.status).toBe('completed');
    if (done.status !== 'completed') return;
    expect(done.bot).toBe('bot-heir');
    expect(done.result.sha256).toBe(sha256(content));
    expect(done.claims).toBe(2);
    // After the job finished, the dead bot is still refused.
    const later = await call(tokenA, 'POST', `/v1/rpa/queues/${queue}/jobs/${claimedA.jobId}/complete`, {
      leaseId: claimedA.leaseId,
      result: goodResult(path, 'forged'),
    });
    expect(later.status).toBe(409);
    expect(later.json.error).toBe('job-finished');
    const trail = (await jobOf(queue, done.jobId)).trail.map((t) => t.what).join('\n');
    expect(trail).toMatch(
      /lease of bot-doomed expired[\s\S]*claimed by bot-heir[\s\S]*completed by bot-heir/,
    );
    expect(Date.now() - killedAt).toBeLessThan(30_000);
  });

  it('rejects a malformed result with its reasons and keeps the job held by its bot', async () => {
    const queue = newQueue();
    const content = 'malformed\n';
    const path = evidenceFile(content);
    const wf = await handJob(queue, { path });
    const token = await addBot('bot-sloppy', [queue]);
    await waitForJob(queue);
    const claim = await call(token, 'GET', `/v1/rpa/queues/${queue}/jobs/next?lease=30`);
    expect(claim.status).toBe(200);
    const { jobId, leaseId } = claim.json as { jobId: string; leaseId: string };
    expect(claim.json.taskToken).toBeUndefined();
    const { sha256: _omit, ...noHash } = goodResult(path, content);
    const bad = await call(token, 'POST', `/v1/rpa/queues/${queue}/jobs/${jobId}/complete`, {
      leaseId,
      result: { ...noHash, size: -1, password: 'hunter2' },
    });
    expect(bad.status).toBe(400);
    expect(bad.json.error).toBe('invalid-result');
    const issues = (bad.json.issues as string[]).join('\n');
    expect(issues).toMatch(/result\.sha256/);
    expect(issues).toMatch(/result\.size/);
    expect(issues).toMatch(/password/);
    expect(await intake.metric('vigil_intake_rpa_requests_total', { queue, outcome: 'invalid-result' })).toBe(
      1,
    );
    const held = await jobOf(queue, jobId);
    expect(held.state).toBe('leased');
    expect(held.lease?.bot).toBe('bot-sloppy');
    expect(JSON.stringify(held)).not.toContain('hunter2');
    const ok = await call(token, 'POST', `/v1/rpa/queues/${queue}/jobs/${jobId}/complete`, {
      leaseId,
      result: goodResult(path, content),
    });
    expect(ok.status).toBe(200);
    const done = (await wf.result()) as RpaOutcome<'collect-evidence'>;
    expect(done).toMatchObject({ status: 'completed', bot: 'bot-sloppy' });
    // The history never saw the refused result.
    for (const id of [wf.workflowId, rpaQueueWorkflowId(queue)]) {
      const history = await historyText(id);
      expect(history).toContain(sha256(content));
      expect(history).not.toContain('hunter2');
    }
  });

  it('refuses bots without a valid token or without the queue', async () => {
    const queue = newQueue();
    const other = newQueue();
    const wf = await handJob(queue, { path: evidenceFile('x') });
    const mine = await addBot('bot-owner', [queue]);
    const stranger = await addBot('bot-stranger', [other]);
    await waitForJob(queue);
    const next = `/v1/rpa/queues/${queue}/jobs/next?lease=10`;
    expect((await call(undefined, 'GET', next)).status).toBe(401);
    expect((await call('vbot_bot-owner.' + 'A'.repeat(43), 'GET', next)).status).toBe(401);
    expect((await call(`${mine}x`, 'GET', next)).status).toBe(401);
    const forbidden = await call(stranger, 'GET', next);
    expect(forbidden.status).toBe(403);
    expect(forbidden.json.reason).toContain('bot-stranger');
    const claim = await call(mine, 'GET', next);
    expect(claim.status).toBe(200);
    const jobPath = `/v1/rpa/queues/${queue}/jobs/${claim.json.jobId}`;
    for (const op of ['heartbeat', 'complete', 'fail'])
      expect((await call(stranger, 'POST', `${jobPath}/${op}`, { leaseId: claim.json.leaseId })).status).toBe(
        403,
      );
    // A second bot of the same queue cannot touch a job it does not hold.
    const peer = await addBot('bot-peer', [queue]);
    const notMine = await call(peer, 'POST', `${jobPath}/heartbeat`, { leaseId: claim.json.leaseId });
    expect(notMine.status).toBe(409);
    expect(notMine.json.error).toBe('not-lease-holder');
    // A disabled bot is refused at once (the token cache forgets it).
    expect((await call(mine, 'POST', `${jobPath}/heartbeat`, { leaseId: claim.json.leaseId })).status).toBe(
      200,
    );
    const del = await fetch(`${intake.url}/v1/admin/rpa/bots/bot-owner`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${ADMIN}` },
    });
    expect(del.status).toBe(200);
    expect((await call(mine, 'POST', `${jobPath}/heartbeat`, { leaseId: claim.json.leaseId })).status).toBe(
      401,
    );
    expect((await call(undefined, 'GET', '/v1/admin/rpa/bots')).status).toBe(401);
    expect(
      await intake.metric('vigil_intake_rpa_requests_total', { outcome: 'unauthenticated' }),
    ).toBeGreaterThanOrEqual(4);
    expect(
      await intake.metric('vigil_intake_rpa_requests_total', { bot: 'bot-stranger', outcome: 'forbidden' }),
    ).toBe(4);
    await wf.terminate('test over');
  });

  it("reports a bot's failure and a missed deadline as playbook outcomes", async () => {
    const queue = newQueue();
    const token = await addBot('bot-honest', [queue]);
    const missing = await handJob(queue, { path: join(dir, 'does-not-exist') });
    spawnBot(token, queue, ['--once']);
    expect(await missing.result()).toMatchObject({ status: 'failed', code: 'not-found' });

    const lonely = newQueue();
    const wf = await handJob(lonely, { path: evidenceFile('nobody') }, { deadline: '3s', silence: '2s' });
    const out = (await wf.result()) as RpaOutcome<RpaJobTypeName>;
    expect(out.status).toBe('timed-out');
    expect((await jobOf(lonely, out.jobId)).state).toBe('failed');
    // The queue dropped the job at the same time: no bot can start it later.
    const late = await addBot('bot-late', [lonely]);
    await new Promise((r) => setTimeout(r, 500));
    expect((await call(late, 'GET', `/v1/rpa/queues/${lonely}/jobs/next?lease=5`)).status).toBe(204);
  });

  it('delivers an outcome the queue recorded even when the intake died before handing it to the activity', async () => {
    const queue = newQueue();
    const content = 'recorded but not delivered\n';
    const path = evidenceFile(content);
    const wf = await handJob(queue, { path }, { silence: '2s' });
    const token = await addBot('bot-orphan', [queue]);
    await waitForJob(queue);
    const claim = await call(token, 'GET', `/v1/rpa/queues/${queue}/jobs/next?lease=30`);
    expect(claim.status).toBe(200);
    // What the intake does first, then "crashes" before client.activity.complete.
    await client.workflow.getHandle(rpaQueueWorkflowId(queue)).executeUpdate(completeUpdate, {
      args: [
        {
          jobId: String(claim.json.jobId),
          bot: 'bot-orphan',
          leaseId: String(claim.json.leaseId),
          result: goodResult(path, content),
        },
      ],
    });
    const done = (await wf.result()) as RpaOutcome<'collect-evidence'>;
    expect(done).toMatchObject({ status: 'completed', bot: 'bot-orphan' });
    if (done.status === 'completed') expect(done.result.sha256).toBe(sha256(content));
  });
});
