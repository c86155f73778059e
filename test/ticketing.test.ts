/**
 * Ticketing on real Temporal, with the ticketing worker as a separate process (dist/workers/ticketing-worker):
 * - the worker is killed with SIGKILL after the ticketing server created the ticket but before the activity
 *   could report it; a new worker finishes the workflow, and there is still exactly one ticket;
 * - the ticketing server is unreachable, then answers 503, then is back: the activity retries and finishes.
 * Against the real Redmine when installed (else the local Jira), through a small HTTP proxy that lets the
 * test cut the line at exact moments.
 */
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { Client } from '@temporalio/client';
import { bundleWorkflowCode, NativeConnection, Worker } from '@temporalio/worker';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { incidentMarker } from '../activities/ticketing/client.js';
import { startJiraFake, type JiraFake } from './fakes/ticketing/jira.js';
import { redmineAvailability, startRedmine, type RedmineServer } from './helpers/redmine.js';
import { startWorker, temporalAddress, testClient, uniqueQueue, workerEnv } from './helpers/temporal.js';
import { startTestSmtp } from './helpers/smtp.js';
import { spawnEntry } from './helpers/process.js';
import { normalized } from './helpers/events.js';
import { temporalStarter } from '../intake/incidents.js';
import type { IncidentStatus } from '../src/contracts/incident.js';
import { inject } from 'vitest';

const available = redmineAvailability();
let client: Client;
let closeClient: () => Promise<void>;
let redmine: RedmineServer | undefined;
let jira: JiraFake | undefined;
let bundle: string;
const children: ChildProcess[] = [];

/** A reverse proxy in front of the ticketing server; `mode` decides what happens to each request. */
interface Proxy {
  port: number;
  mode: 'up' | '503';
  seen: string[];
  /** Called once the upstream answered a request, before the answer is passed on; may swallow it. */
  onAnswer?: (method: string, path: string) => 'pass' | 'drop';
  down(): Promise<void>;
  up(): Promise<void>;
  close(): Promise<void>;
}
async function startProxy(target: string): Promise<Proxy> {
  const t = new URL(target);
  let server: Server;
  const p: Proxy = {
    port: 0,
    mode: 'up',
    seen: [],
    down: () => new Promise((r) => (server.closeAllConnections(), server.close(() => r()))),
    up: () => listen(p.port),
    close: () => (server.listening ? p.down() : Promise.resolve()),
  };
  const make = () =>
    createServer((req, res) => {
      p.seen.push(`${req.method} ${req.url} ${p.mode}`);
      if (p.mode === '503') {
        res.writeHead(503, { 'Content-Type': 'text/plain' }).end('Service Unavailable');
        return;
      }
      const up = request(
        { host: t.hostname, port: t.port, method: req.method, path: req.url, headers: req.headers },
        (ur) => {
          const chunks: Buffer[] = [];
          ur.on('data', (c: Buffer) => chunks.push(c));
          ur.on('end', () => {
            if (p.onAnswer?.(req.method ?? '', req.url ?? '') === 'drop') return void res.socket?.destroy();
            res.writeHead(ur.statusCode ?? 502, ur.headers).end(Buffer.concat(chunks));
          });
        },
      );
      up.on('error', () => res.writeHead(502).end());
      req.pipe(up);
    });
  const listen = (port: number) =>
    new Promise<void>((r) => {
      server = make();
      server.listen(port, '127.0.0.1', () => {
        p.port = (server.address() as AddressInfo).port;
        r();
      });
    });
  await listen(0);
  return p;
}

beforeAll(async () => {
  ({ client, close: closeClient } = await testClient());
  if (available.run) redmine = await startRedmine();
  else jira = await startJiraFake();
  bundle = (
    await bundleWorkflowCode({
      workflowsPath: fileURLToPath(new URL('./workflows/ticketing-flow.ts', import.meta.url)),
      logger: { trace() {}, debug() {}, info() {}, warn() {}, error() {}, log() {} },
    })
  ).code;
}, 180_000);
afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await redmine?.stop();
  await jira?.close();
  await closeClient();
});

function ticketingEnv(proxyPort: number, queue: string): Record<string, string> {
  const url = `http://127.0.0.1:${proxyPort}`;
  const common = {
    TEMPORAL_ADDRESS: temporalAddress(),
    TEMPORAL_NAMESPACE: inject('temporalNamespace'),
    VIGIL_TICKETING_TASK_QUEUE: queue,
    VIGIL_TICKETING_ALLOW_HTTP: 'true',
    VIGIL_OUTBOUND_ALLOW: '127.0.0.1/32',
    VIGIL_TICKETING_TIMEOUT: '5s',
  };
  if (redmine)
    return {
      ...common,
      VIGIL_TICKETING: 'redmine',
      REDMINE_URL: url,
      REDMINE_API_KEY: redmine.apiKey,
      REDMINE_PROJECT: redmine.project,
    };
  return {
    ...common,
    VIGIL_TICKETING: 'jira',
    JIRA_URL: url,
    JIRA_EMAIL: jira!.email,
    JIRA_API_TOKEN: jira!.token,
    JIRA_PROJECT: jira!.project,
  };
}
const target = () => redmine?.url ?? jira!.url;
const createPath = () => (redmine ? /^\/issues\.json$/ : /^\/rest\/api\/3\/issue$/);

/** Tickets carrying the incident's marker, with their status and notes, read from the server itself. */
async function ticketsOf(incidentId: string): Promise<{ status: string; notes: string[] }[]> {
  const marker = incidentMarker(incidentId);
  if (jira)
    return jira
      .tickets()
      .filter((t) => (t.closing.labels as string[]).includes(marker))
      .map((t) => ({ status: t.status, notes: t.notes }));
  const h = { 'X-Redmine-API-Key': redmine!.apiKey };
  const list = (await (
    await fetch(`${redmine!.url}/issues.json?status_id=*&limit=100&sort=id`, { headers: h })
  ).json()) as { issues: { id: number; subject: string }[] };
  const mine = list.issues.filter((i) => i.subject.includes(`[${marker}]`));
  return Promise.all(
    mine.map(async (i) => {
      const { issue } = (await (
        await fetch(`${redmine!.url}/issues/${i.id}.json?include=journals`, { headers: h })
      ).json()) as {
        issue: { status: { name: string }; journals: { notes: string }[] };
      };
      return { status: issue.status.name, notes: issue.journals.map((j) => j.notes).filter(Boolean) };
    }),
  );
}
const closedStatus = () => (redmine ? 'Closed' : 'Done');

const spawnTicketingWorker = (env: Record<string, string>) =>
  spawnEntry('workers/ticketing-worker', env, children);

/** The workflow side runs in this process; the activities only in the child ticketing worker. */
async function runFlow(incidentId: string, ticketingQueue: string) {
  const queue = uniqueQueue('ticket-flow');
  const connection = await NativeConnection.connect({ address: temporalAddress() });
  const worker = await Worker.create({
    connection,
    namespace: inject('temporalNamespace'),
    taskQueue: queue,
    workflowBundle: { code: bundle },
  });
  const running = worker.run();
  const handle = await client.workflow.start('ticketingFlow', {
    taskQueue: queue,
    workflowId: `ticket-${incidentId}`,
    args: [{ incidentId, ticketingQueue }],
    workflowExecutionTimeout: '120s',
  });
  return {
    handle,
    async stop() {
      worker.shutdown();
      await running;
      await connection.close();
    },
  };
}

it('keeps exactly one ticket when the ticketing worker is killed during createTicket', async () => {
  const proxy = await startProxy(target());
  const ticketingQueue = uniqueQueue('ticketing');
  const env = ticketingEnv(proxy.port, ticketingQueue);
  const first = await spawnTicketingWorker(env);
  let killed = false;
  proxy.onAnswer = (method, path) => {
    if (!killed && method === 'POST' && createPath().test(path.split('?')[0] ?? '')) {
      killed = true;
      first.kill('SIGKILL'); // the server made the ticket; the activity never hears of it
      return 'drop';
    }
    return 'pass';
  };
  const incidentId = `inc-crash-${randomUUID().slice(0, 8)}`;
  const flow = await runFlow(incidentId, ticketingQueue);
  try {
    for (let i = 0; i < 200 && !killed; i++) await new Promise((r) => setTimeout(r, 100));
    expect(killed).toBe(true);
    if (first.exitCode === null && first.signalCode === null) await new Promise((r) => first.once('exit', r));
    expect(await ticketsOf(incidentId)).toHaveLength(1); // made before the crash

    await spawnTicketingWorker(env);
    const r = (await flow.handle.result()) as { created: boolean };
    expect(r.created).toBe(false); // the retry found the ticket the killed attempt made
    const tickets = await ticketsOf(incidentId);
    expect(tickets).toHaveLength(1);
    expect(tickets[0]?.status).toBe(closedStatus());
    expect(tickets[0]?.notes).toHaveLength(3);
    expect(
      proxy.seen.filter(
        (s) => s.startsWith('POST') && createPath().test(s.split(' ')[1]?.split('?')[0] ?? ''),
      ),
    ).toHaveLength(1);
  } finally {
    await flow.stop();
    await proxy.close();
  }
});

it('retries while the ticketing system is down and finishes once it is back', async () => {
  const proxy = await startProxy(target());
  const ticketingQueue = uniqueQueue('ticketing');
  await spawnTicketingWorker(ticketingEnv(proxy.port, ticketingQueue));
  await proxy.down(); // connection refused
  const incidentId = `inc-down-${randomUUID().slice(0, 8)}`;
  const flow = await runFlow(incidentId, ticketingQueue);
  try {
    await new Promise((r) => setTimeout(r, 3000));
    await proxy.up();
    proxy.mode = '503'; // a front end that answers while the application is still away
    for (let i = 0; i < 100 && proxy.seen.length < 2; i++) await new Promise((r) => setTimeout(r, 100));
    expect(await ticketsOf(incidentId)).toHaveLength(0);
    proxy.mode = 'up';
    const r = (await flow.handle.result()) as { created: boolean };
    expect(r.created).toBe(true);
    expect(proxy.seen.filter((s) => s.endsWith(' 503')).length).toBeGreaterThanOrEqual(2);
    const tickets = await ticketsOf(incidentId);
    expect(tickets).toHaveLength(1);
    expect(tickets[0]?.status).toBe(closedStatus());
    // The activity failed while the server was away, and Temporal retried it.
    const history = await flow.handle.fetchHistory();
    const started = history.events?.filter((e) => e.activityTaskStartedEventAttributes) ?? [];
    expect(started[0]?.activityTaskStartedEventAttributes?.attempt).toBeGreaterThan(2);
  } finally {
    await flow.stop();
    await proxy.close();
  }
});

it('opens one ticket for an incident (through an outage of the ticketing system), notes its evidence, and closes it with the outcome', async () => {
  const smtp = await startTestSmtp();
  const proxy = await startProxy(target());
  const ticketingQueue = uniqueQueue('ticketing');
  const env = ticketingEnv(proxy.port, ticketingQueue);
  await spawnTicketingWorker(env);
  const queue = uniqueQueue('ticket-incident');
  const worker = await startWorker(
    workerEnv(smtp.port, queue, {
      VIGIL_TICKETING: env.VIGIL_TICKETING ?? 'none',
      VIGIL_TICKETING_TASK_QUEUE: ticketingQueue,
    }),
  );
  try {
    const ev = normalized('generic', {
      time: new Date().toISOString(),
      host: `tk-${randomUUID().slice(0, 8)}`,
      rule: 'Credential dumping tool on disk',
      severity: 'critical',
      techniques: ['T1003.001'],
      file: { path: '/tmp/mimikatz.exe' },
    });
    // The ticketing system answers 503 for the first seconds: the playbook retries and finishes.
    proxy.mode = '503';
    setTimeout(() => (proxy.mode = 'up'), 6000);
    await temporalStarter(client.connection, client.options.namespace, queue, 5000).start(
      ev.incidentId,
      ev.correlationKey,
      ev.event,
    );
    const out = (await client.workflow.getHandle(ev.incidentId).result()) as IncidentStatus;
    expect(out.actions.find((a) => a.action === 'open-ticket')).toMatchObject({ status: 'done' });
    expect(out.outcome).toMatch(/ticket \S+ \(delayed \d+ s by the ticketing system\)/);
    expect(out.timeline.some((t) => t.summary === 'ticket closed')).toBe(true);
    const tickets = await ticketsOf(ev.incidentId);
    expect(tickets).toHaveLength(1);
    expect(tickets[0]?.status).toBe(closedStatus());
    expect(tickets[0]?.notes.join('\n')).toMatch(/T1003\.001/);
  } finally {
    await worker.stop();
    await proxy.close();
    await smtp.close();
  }
});
