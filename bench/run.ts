/**
 * `npm run bench [-- --quick] [-- --json <path>] [-- --keep]`: Vigil against a bare Temporal baseline, in
 * one run on one Temporal dev server started here (fresh temp SQLite file, WAL pragmas, headless).
 *
 *   1. incidents/s: ours = signed HTTP events to the real intake, one correlation key each, until every
 *      incident is handled (its workflow completed, or it waits for a human with no work pending); bare =
 *      client.workflow.start of bench/bare-workflow.ts (the same activities with the same options,
 *      nothing else) on a bare worker process. Rounds interleave bare/ours/bare/ours..., one warm-up
 *      pair is discarded, medians are reported.                                             goal >= 0.8x
 *   2. CPU ms per incident from /proc utime+stime: server + worker + intake vs server + bare worker,
 *      over the same rounds.                                                                goal <= 1.25x
 *   3. (run last) intake acknowledgement latency, client side, open loop on a fixed schedule: at about
 *      half the measured capacity, then at the fixed rate (100/s).                         goal p99 < 20 ms
 *      Beside it, bare Temporal's own start latency at the same half-capacity rate (the bench starts the
 *      bare workflow itself, no intake), for what the server gives on this machine.
 *   5-9. (after the others, on their own task queue, worker, intake, agent: bench/response.ts) detection
 *      to containment against bare Temporal (goal p50 <= 1.3x, p99 <= 1.5x, p99 < 500 ms); the agent's
 *      idle footprint (< 120 MB RSS, < 1% of a core); a policy decision p99 (< 1 ms); Slack click
 *      acknowledgement p99 (< 100 ms) and click to workflow resumed p99 (< 250 ms); containment p99 with
 *      incidents parked on approvals against without (<= 1.2x).
 *   4. the storm: many events over few keys with malformed and badly signed ones, as many in flight as the
 *      intake admits (512; --storm-in-flight),
 *      429/503 retried after Retry-After; exactly one incident per key; its absorb time against the time
 *      to get the same number of unique events answered alone.                             goal <= 1.2x
 *  10. (first, before the stack starts, with scenario 7's policy decisions: bench/scoring.ts) the scoring
 *      model in process: one inference p99 (< 0.2 ms), batched inference rows/s on one thread
 *      (>= 100,000), TreeSHAP per row, and the scoring activity's CPU per event against an incident's CPU
 *      from scenario 2 (<= 5%).
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import type { Client } from '@temporalio/client';
import { findTemporalBinary, SQLITE_PRAGMAS } from '../cli/stack/temporal.js';
import { detectionEvent, falcoAlert, malformedAlert } from './events.js';
import { delta, IntakeClient, type Sent } from './http.js';
import { clockTicks, cpuTicksOf, describeMachine, type Machine } from './proc.js';
import { killAllNow, sinkCount, startStack, type Stack } from './stack.js';
import { median, percentile, pool, prng, round, shuffle, sleep } from './stats.js';
import {
  agentIdle,
  agentNow,
  park,
  responseSettings,
  runContainment,
  runPolicy,
  runSlack,
  startResponseSide,
  type AgentFootprint,
  type ContainRun,
  type ResponseSettings,
} from './response.js';
import { runScoring, type ScoringBench, type Spread } from './scoring.js';
import { BARE_RULES } from './bare-request.js';
import { statusQuery } from '../src/contracts/incident.js';

const say = (l: string) => process.stderr.write(`${l}\n`);
const PATH = '/v1/events/falco';
/** The bare baseline's workflow type (bench/bare-workflow.ts; not imported: it is workflow code). */
const BARE_WORKFLOW = 'bareIncident';

interface Options {
  quick: boolean;
  json?: string;
  keep: boolean;
  parked?: number;
  responseOnly: boolean;
  intakeOnly: boolean;
  scoringOnly: boolean;
  cpuProf?: string;
  /** Requests in flight from the storm's sender (its unique-only baseline uses the same). */
  stormInFlight?: number;
}

/** Seconds the agent runs before its idle footprint is measured. */
const AGENT_SETTLE_S = 30;

function parseArgs(argv: string[]): Options {
  const o: Options = {
    quick: false,
    keep: false,
    responseOnly: false,
    intakeOnly: false,
    scoringOnly: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--quick') o.quick = true;
    else if (a === '--keep') o.keep = true;
    else if (a === '--response-only') o.responseOnly = true;
    else if (a === '--intake-only') o.intakeOnly = true;
    else if (a === '--scoring-only') o.scoringOnly = true;
    else if (a === '--cpu-prof') {
      const p = argv[++i];
      if (!p) throw new Error('--cpu-prof needs a directory');
      o.cpuProf = p;
    } else if (a === '--storm-in-flight') {
      const n = Number(argv[++i]);
      if (!Number.isInteger(n) || n < 1 || n > 4096)
        throw new Error('--storm-in-flight needs a whole number, 1-4096');
      o.stormInFlight = n;
    } else if (a === '--parked') {
      const n = Number(argv[++i]);
      if (!Number.isInteger(n) || n < 0) throw new Error('--parked needs a whole number');
      o.parked = n;
    } else if (a === '--json') {
      const p = argv[++i];
      if (!p) throw new Error('--json needs a path');
      o.json = p;
    } else if (a === '--help' || a === '-h') {
      process.stdout.write(
        'usage: npm run bench [-- --quick] [-- --json <path>] [-- --keep]\n' +
          '  --quick        fewer rounds, a shorter latency run, a 2,000-event storm, 300 parked (~6 minutes)\n' +
          '  --json <path>  also write every result (per round, per phase) as JSON\n' +
          '  --keep         keep the temp directory (SQLite files, logs) even on success\n' +
          '  --parked <n>   incidents parked on approvals in scenario 9 (default 10,000; --quick 300)\n' +
          '  --response-only  only scenarios 5-9 (containment, agent, policy, Slack, parked approvals)\n' +
          '  --intake-only  only scenarios 1-4 (incidents/s, CPU per incident, ack latency, storm)\n' +
          "  --storm-in-flight <n>  requests the storm sender keeps in flight (default 512, the intake's admission limit)\n" +
          '  --scoring-only  only scenario 10 (the scoring model in process; no Temporal)\n' +
          '  --cpu-prof <dir>  run every Node process of the stack under node --cpu-prof (<dir>/intake, worker, bare-worker, response-worker, agent, ...)\n',
      );
      process.exit(0);
    } else throw new Error(`unknown argument ${a} (try --help)`);
  }
  return o;
}

/**
 * The storm is "sent as fast as the intake takes them" (#3): the sender keeps as many requests in flight as
 * the intake admits (VIGIL_MAX_INFLIGHT, 512 by default; past it the intake answers 429 and the sender
 * waits for Retry-After). `--storm-in-flight 32` gives the closed-loop sender of the earlier runs.
 */
const STORM_IN_FLIGHT = 512;

function settings(quick: boolean) {
  return quick
    ? {
        mode: 'quick',
        perRound: 50,
        // Rounds vary by +-20% on a shared machine: five pairs for a median that moves less than that.
        pairs: 5,
        warmupPairs: 1,
        concurrency: 32,
        settleMs: 500,
        idleMs: 2000,
        roundTimeoutMs: 45_000,
        drainTimeoutMs: 60_000,
        burstTimeoutMs: 120_000,
        latency: { rate: 100, seconds: 6, dupEvery: 10, minSamplesAtHalf: 200 },
        storm: {
          events: 2000,
          keys: 200,
          malformedPct: 5,
          badSignaturePct: 1,
          window: 8,
          inFlight: STORM_IN_FLIGHT,
        },
      }
    : {
        mode: 'full',
        perRound: 80,
        pairs: 7,
        warmupPairs: 1,
        concurrency: 32,
        settleMs: 1000,
        idleMs: 3000,
        roundTimeoutMs: 90_000,
        drainTimeoutMs: 120_000,
        burstTimeoutMs: 300_000,
        latency: { rate: 100, seconds: 15, dupEvery: 10, minSamplesAtHalf: 500 },
        storm: {
          events: 10_000,
          keys: 1000,
          malformedPct: 5,
          badSignaturePct: 1,
          window: 8,
          inFlight: STORM_IN_FLIGHT,
        },
      };
}
type Settings = ReturnType<typeof settings>;

const QUIET_PERIOD = '200ms';
const RATE_LIMIT = 1_000_000;
const RATE_BURST = 10_000_000;

// ---------------------------------------------------------------------------------------------------
// Visibility helpers (every wait bounded)

const q = (s: string) => `'${s.replace(/'/g, "\\'")}'`;

/** Incident stages that wait for a person (VigilStatus); the automated part of such an incident is done. */
const WAITING_FOR_HUMAN = ['awaiting-approval', 'needs-human'];
const waiting = WAITING_FOR_HUMAN.map(q).join(', ');
/** Handled: the workflow completed, or it waits for a human (it cannot finish by itself). */
const handledQuery = (queue: string) =>
  `TaskQueue = ${q(queue)} AND (ExecutionStatus = 'Completed' OR (ExecutionStatus = 'Running' AND VigilStatus IN (${waiting})))`;
/** Still being worked on by the machine. */
const busyQuery = (queue: string) =>
  `TaskQueue = ${q(queue)} AND ExecutionStatus = 'Running' AND VigilStatus NOT IN (${waiting})`;
const waitingQuery = (queue: string) =>
  `TaskQueue = ${q(queue)} AND ExecutionStatus = 'Running' AND VigilStatus IN (${waiting})`;

/**
 * Visibility marks an incident waiting for a human as soon as its status is upserted, which can be before
 * the activities of that stage (the approval request mail) finished. Describe each still-running
 * incident until it has no pending activity or workflow task, so its work is not counted in the next
 * measurement. Ids are the incident ids the intake answered with; bounded by `timeoutMs`.
 */
async function settle(client: Client, ids: Iterable<string>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  let pending = [...new Set(ids)];
  while (pending.length) {
    const still: string[] = [];
    await pool(pending, 8, async (id) => {
      const d = await client.workflow.getHandle(id).describe();
      if (d.status.name !== 'RUNNING') return;
      const status = String(d.searchAttributes.VigilStatus?.[0] ?? '');
      const busy =
        !WAITING_FOR_HUMAN.includes(status) ||
        (d.raw.pendingActivities?.length ?? 0) > 0 ||
        !!d.raw.pendingWorkflowTask;
      if (busy) still.push(id);
    });
    pending = still;
    if (!pending.length) return true;
    if (Date.now() > deadline) return false;
    await sleep(100);
  }
  return true;
}

/** Why workflows did not finish: a few open ones with their VigilStatus. */
async function describeOpen(client: Client, queue: string): Promise<string> {
  const out: string[] = [];
  for await (const wf of client.workflow.list({
    query: `TaskQueue = ${q(queue)} AND ExecutionStatus = 'Running'`,
    pageSize: 5,
  })) {
    out.push(`${wf.workflowId} (VigilStatus ${JSON.stringify(wf.searchAttributes.VigilStatus ?? null)})`);
    if (out.length >= 3) break;
  }
  return out.join(', ') || 'none open';
}

async function countWf(client: Client, query: string): Promise<number> {
  return (await client.workflow.count(query)).count;
}

/** Poll (100 ms) until `count(query) >= target`; the count and whether it got there. */
async function waitCount(client: Client, query: string, target: number, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  let n = 0;
  for (;;) {
    n = await countWf(client, query);
    if (n >= target) return { n, ok: true };
    if (Date.now() > deadline) return { n, ok: false };
    await sleep(100);
  }
}

/** Poll (250 ms) until no workflow matches `query`. */
async function waitNone(client: Client, query: string, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const n = await countWf(client, query);
    if (n === 0) return { n, ok: true };
    if (Date.now() > deadline) return { n, ok: false };
    await sleep(250);
  }
}

/** The latest close time (ms) of the workflows on `queue` closed since `sinceMs` (at most `limit` read). */
async function lastClose(
  client: Client,
  queue: string,
  sinceMs: number,
  limit: number,
): Promise<number | undefined> {
  let max: number | undefined;
  let n = 0;
  const query = `TaskQueue = ${q(queue)} AND CloseTime >= ${q(new Date(sinceMs).toISOString())}`;
  for await (const wf of client.workflow.list({ query, pageSize: 500 })) {
    const t = wf.closeTime?.getTime();
    if (t !== undefined && (max === undefined || t > max)) max = t;
    if (++n >= limit) break;
  }
  return max;
}

// ---------------------------------------------------------------------------------------------------
// Phase 1+2: interleaved rounds

interface Round {
  side: 'bare' | 'ours';
  round: number;
  warmup: boolean;
  incidents: number;
  submitMs: number;
  /** First submission to the last workflow's close time (Temporal's clock; same machine). */
  wallMs: number;
  incidentsPerSecond: number;
  cpuMs: Record<string, number>;
  cpuMsTotal: number;
  cpuMsPerIncident: number;
  mails: number;
  /** Handled by waiting for a human rather than completing (ours only). */
  waitingForHuman: number;
  refused: number;
  completed: boolean;
  /** One workflow of the round, for the history comparison. */
  sampleId: string;
}

async function runRound(
  stack: Stack,
  intake: IntakeClient,
  s: Settings,
  side: 'bare' | 'ours',
  r: number,
  warmup: boolean,
): Promise<Round> {
  const n = s.perRound;
  const queue = side === 'ours' ? stack.queues.ours : stack.queues.bare;
  const roots =
    side === 'ours'
      ? { server: stack.pids.server, worker: stack.pids.worker, intake: stack.pids.intake }
      : { server: stack.pids.server, bareWorker: stack.pids.bareWorker };
  // Everything the driver needs is prepared before the clock starts.
  const bodies = Array.from({ length: n }, (_, i) => falcoAlert(`r${r}-${side}-${i}`));
  const events = side === 'bare' ? bodies.map(detectionEvent) : [];
  const doneQuery = handledQuery(queue);
  const doneBefore = await countWf(stack.client, doneQuery);
  const waitingBefore = side === 'ours' ? await countWf(stack.client, waitingQuery(queue)) : 0;
  const mailsBefore = await sinkCount(stack);
  await sleep(s.settleMs);

  const cpu0 = cpuTicksOf(roots);
  const t0 = Date.now();
  const p0 = performance.now();
  let refused = 0;
  let sampleId = `bare-r${r}-0`;
  let incidentIds: string[] = [];
  if (side === 'bare') {
    await pool(events, s.concurrency, (ev, i) =>
      stack.client.workflow.start(BARE_WORKFLOW, {
        taskQueue: queue,
        workflowId: `bare-r${r}-${i}`,
        args: [ev],
      }),
    );
  } else {
    const sent = await pool(bodies, s.concurrency, (b) => intake.send(PATH, b));
    refused = sent.filter((x) => x.status !== 202).length;
    incidentIds = sent.flatMap((x) => (typeof x.body.incidentId === 'string' ? [x.body.incidentId] : []));
    if (incidentIds[0]) sampleId = incidentIds[0];
  }
  const submitMs = performance.now() - p0;
  let wait = await waitCount(stack.client, doneQuery, doneBefore + n - refused, s.roundTimeoutMs);
  const waitingForHuman =
    side === 'ours' ? (await countWf(stack.client, waitingQuery(queue))) - waitingBefore : 0;
  if (wait.ok && waitingForHuman > 0)
    wait = { ...wait, ok: await settle(stack.client, incidentIds, s.roundTimeoutMs) };
  const detectedAt = Date.now();
  const cpu1 = cpuTicksOf(roots);
  // The last close time recorded by Temporal is exact; incidents waiting for a human have none, so then
  // the time the polls saw the last one settle is used.
  const closedAt = waitingForHuman ? undefined : await lastClose(stack.client, queue, t0, n + 50);
  const wallMs = Math.max(1, Math.min(detectedAt, closedAt ?? detectedAt) - t0);
  const tick = 1000 / clockTicks();
  const cpuMs: Record<string, number> = {};
  for (const k of Object.keys(cpu1)) cpuMs[k] = ((cpu1[k] ?? 0) - (cpu0[k] ?? 0)) * tick;
  const cpuMsTotal = Object.values(cpuMs).reduce((a, b) => a + b, 0);
  const mails = (await sinkCount(stack)) - mailsBefore;
  return {
    side,
    round: r,
    warmup,
    incidents: n,
    submitMs: round(submitMs),
    wallMs,
    incidentsPerSecond: round((n / wallMs) * 1000, 2),
    cpuMs,
    cpuMsTotal,
    cpuMsPerIncident: round(cpuMsTotal / n, 2),
    mails,
    waitingForHuman,
    refused,
    completed: wait.ok,
    sampleId,
  };
}

/**
 * The bare baseline writes in the rule set's answer (bench/bare-request.ts); a Vigil incident of the rounds
 * shows what the rule set actually answered. When they differ (the rules, the model or the fixture changed),
 * the two sides no longer ask Cedar the same thing, and the comparison stops here.
 */
async function checkBareAsksAsVigil(client: Client, incidentId: string | undefined): Promise<void> {
  if (!incidentId) throw new Error('bench: no Vigil incident to check the bare baseline against');
  const st = await client.workflow.getHandle(incidentId).query(statusQuery);
  const asked = st.decisions.find((d) => d.kind === 'policy')?.inputs as
    { riskScore?: number; verdict?: string; proposed?: string[] } | undefined;
  const same =
    asked?.riskScore === BARE_RULES.riskScore &&
    asked.verdict === BARE_RULES.verdict &&
    JSON.stringify(asked.proposed) === JSON.stringify(BARE_RULES.proposed);
  if (!same)
    throw new Error(
      `bench: the bare baseline asks Cedar ${JSON.stringify(BARE_RULES)}, Vigil's incident ${incidentId} asked ${JSON.stringify(asked ?? null)}: update bench/bare-request.ts`,
    );
}

/** What one workflow cost Temporal: history events by kind and the payload bytes they carry. */
async function historyShape(client: Client, workflowId: string) {
  const h = await client.workflow.getHandle(workflowId).fetchHistory();
  const kinds: Record<string, number> = {};
  let payloadBytes = 0;
  const walk = (v: unknown, key: string, depth: number) => {
    if (depth > 30 || v === null || typeof v !== 'object') return;
    if (v instanceof Uint8Array) {
      if (key === 'data') payloadBytes += v.byteLength;
      return;
    }
    for (const [k, x] of Object.entries(v)) walk(x, k, depth + 1);
  };
  for (const ev of h.events ?? []) {
    const attr = Object.entries(ev).find(([k, x]) => k.endsWith('EventAttributes') && x);
    const kind = attr ? attr[0].replace(/EventAttributes$/, '') : 'other';
    kinds[kind] = (kinds[kind] ?? 0) + 1;
    walk(ev, '', 0);
  }
  return {
    workflowId,
    events: h.events?.length ?? 0,
    workflowTasks: kinds.workflowTaskCompleted ?? 0,
    payloadBytes,
    kinds,
  };
}
type HistoryShape = Awaited<ReturnType<typeof historyShape>>;

// ---------------------------------------------------------------------------------------------------
// Phase 3: acknowledgement latency, open loop

interface LatencyRun {
  label: string;
  rate: number;
  seconds: number;
  events: number;
  duplicates: number;
  statuses: Record<string, number>;
  retried: number;
  outcomes: Record<string, number>;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
  schedulerLateMaxMs: number;
  /** Incidents still open when the last answer came back. */
  openAtLastAck: number;
  /** Set when the run waited for every incident to close. */
  drainAfterLastAckMs?: number;
  drained?: boolean;
  cpuMs: Record<string, number>;
  side: 'ours' | 'bare';
}

/**
 * Open loop: event i is due at start + i/rate whatever happened to the others; its latency runs from that
 * scheduled time to the final answer (so a stalled intake cannot hide its queue: no coordinated omission).
 * Every `dupEvery`th event repeats the previous event's key (another event of the same incident).
 */
async function runLatency(
  stack: Stack,
  intake: IntakeClient,
  o: {
    label: string;
    rate: number;
    seconds: number;
    dupEvery: number;
    drain: boolean;
    drainTimeoutMs: number;
    /** bare: the bench starts the bare workflow itself (no intake), one per event, on the same schedule. */
    side?: 'ours' | 'bare';
  },
): Promise<LatencyRun> {
  const { rate, seconds, dupEvery } = o;
  const side = o.side ?? 'ours';
  const total = Math.round(rate * seconds);
  const interval = 1000 / rate;
  const tag = randomBytes(2).toString('hex');
  const hosts: string[] = [];
  let duplicates = 0;
  for (let i = 0; i < total; i++) {
    if (i % dupEvery === dupEvery - 1) {
      hosts.push(hosts[i - 1] as string);
      duplicates++;
    } else hosts.push(`lat-${tag}-${i}`);
  }
  const bodies = hosts.map((h) => falcoAlert(h));
  const bareEvents = side === 'bare' ? bodies.map(detectionEvent) : [];
  const queue = side === 'ours' ? stack.queues.ours : stack.queues.bare;
  const runningQuery =
    side === 'ours' ? busyQuery(queue) : `TaskQueue = ${q(queue)} AND ExecutionStatus = 'Running'`;
  const roots =
    side === 'ours'
      ? { server: stack.pids.server, worker: stack.pids.worker, intake: stack.pids.intake }
      : { server: stack.pids.server, bareWorker: stack.pids.bareWorker };
  /** The bare side: what Temporal itself answers a start in, under the same load, from the same client. */
  const startBare = async (i: number, since: number): Promise<Sent> => {
    await stack.client.workflow.start(BARE_WORKFLOW, {
      taskQueue: queue,
      workflowId: `lat-bare-${tag}-${i}`,
      args: [bareEvents[i]],
    });
    return { status: 202, statuses: [202], body: {}, ms: performance.now() - since };
  };
  const before = side === 'ours' ? await intake.outcomes() : {};
  const cpu0 = cpuTicksOf(roots);
  const start = performance.now() + 50;
  const inflight: Promise<Sent>[] = [];
  let lateMax = 0;
  for (let i = 0; i < total;) {
    const now = performance.now();
    while (i < total && start + i * interval <= now) {
      const scheduled = start + i * interval;
      lateMax = Math.max(lateMax, now - scheduled);
      inflight.push(
        side === 'ours'
          ? intake.send(PATH, bodies[i] as string, { since: scheduled })
          : startBare(i, scheduled),
      );
      i++;
    }
    const next = start + i * interval - performance.now();
    if (next > 0) await sleep(Math.max(1, Math.floor(next)));
    if (performance.now() - start > seconds * 1000 + 60_000) throw new Error('latency phase overran');
  }
  const sent = await Promise.all(inflight);
  const sendEnd = performance.now();
  const openAtLastAck = await countWf(stack.client, runningQuery);
  const after = side === 'ours' ? await intake.outcomes() : {};
  let drain: { ok: boolean } | undefined;
  if (o.drain) drain = await waitNone(stack.client, runningQuery, o.drainTimeoutMs);
  const drainMs = performance.now() - sendEnd;
  const cpu1 = cpuTicksOf(roots);
  const ms = sent.map((x) => x.ms);
  const statuses: Record<string, number> = {};
  for (const x of sent) statuses[x.status] = (statuses[x.status] ?? 0) + 1;
  return {
    label: o.label,
    rate,
    seconds,
    events: total,
    duplicates,
    statuses,
    retried: sent.filter((x) => x.statuses.length > 1).length,
    outcomes: delta(after, before),
    p50: round(percentile(ms, 50), 2),
    p90: round(percentile(ms, 90), 2),
    p99: round(percentile(ms, 99), 2),
    p999: round(percentile(ms, 99.9), 2),
    max: round(Math.max(...ms), 2),
    mean: round(ms.reduce((a, b) => a + b, 0) / ms.length, 2),
    schedulerLateMaxMs: round(lateMax, 2),
    openAtLastAck,
    ...(drain ? { drainAfterLastAckMs: round(drainMs), drained: drain.ok } : {}),
    cpuMs: Object.fromEntries(
      Object.keys(cpu1).map((k) => [k, ((cpu1[k] ?? 0) - (cpu0[k] ?? 0)) * (1000 / clockTicks())]),
    ),
    side,
  };
}

// ---------------------------------------------------------------------------------------------------
// Phase 4: unique events alone, then the storm

interface Item {
  key: number;
  kind: 'valid' | 'malformed' | 'bad-signature';
  body: string;
}

function stormItems(s: Settings, tag: string): Item[] {
  const { events, keys, malformedPct, badSignaturePct, window } = s.storm;
  const malformed = Math.round((events * malformedPct) / 100);
  const badSig = Math.round((events * badSignaturePct) / 100);
  const valid = events - malformed - badSig;
  const rand = prng(42);
  const host = (k: number) => `storm-${tag}-${k}`;
  const perKey: Item[][] = Array.from({ length: keys }, () => []);
  for (let j = 0; j < valid; j++)
    perKey[j % keys]?.push({ key: j % keys, kind: 'valid', body: falcoAlert(host(j % keys)) });
  for (let j = 0; j < malformed; j++) {
    const k = Math.floor(rand() * keys);
    perKey[k]?.push({ key: k, kind: 'malformed', body: malformedAlert(host(k), j) });
  }
  for (let j = 0; j < badSig; j++) {
    const k = Math.floor(rand() * keys);
    perKey[k]?.push({ key: k, kind: 'bad-signature', body: falcoAlert(host(k)) });
  }
  // A storm: keys fire in bursts; the events of `window` neighbouring keys are shuffled together.
  const out: Item[] = [];
  for (let k = 0; k < keys; k += window) out.push(...shuffle(perKey.slice(k, k + window).flat(), rand));
  return out;
}

interface Burst {
  events: number;
  ackMs: number;
  eventsPerSecond: number;
  statuses: Record<string, number>;
  retries: Record<string, number>;
  otherFiveXX: number;
  incidentIds: number;
  outcomes: Record<string, number>;
  completionMs: number;
  completed: boolean;
  /** CPU ms per process (and the sender, this process) from the first send to the last answer. */
  ackCpuMs: Record<string, number>;
}

async function sendBurst(
  stack: Stack,
  intake: IntakeClient,
  s: Settings,
  items: Item[],
): Promise<{ burst: Burst; sent: Sent[] }> {
  const wrong = randomBytes(24).toString('hex');
  const queue = stack.queues.ours;
  const before = await intake.outcomes();
  const doneQuery = handledQuery(queue);
  await waitNone(stack.client, busyQuery(queue), s.drainTimeoutMs);
  const doneBefore = await countWf(stack.client, doneQuery);
  const roots = { server: stack.pids.server, worker: stack.pids.worker, intake: stack.pids.intake };
  const cpu0 = cpuTicksOf(roots);
  const self0 = process.cpuUsage();
  const p0 = performance.now();
  const sent = await pool(items, s.storm.inFlight, (it) =>
    intake.send(PATH, it.body, it.kind === 'bad-signature' ? { secret: wrong } : {}),
  );
  const ackMs = performance.now() - p0;
  const cpu1 = cpuTicksOf(roots);
  const self1 = process.cpuUsage(self0);
  const tick = 1000 / clockTicks();
  const ackCpuMs: Record<string, number> = {};
  for (const k of Object.keys(cpu1)) ackCpuMs[k] = round(((cpu1[k] ?? 0) - (cpu0[k] ?? 0)) * tick);
  ackCpuMs.sender = round((self1.user + self1.system) / 1000);
  const after = await intake.outcomes();
  const outcomes = delta(after, before);
  const statuses: Record<string, number> = {};
  const retries: Record<string, number> = {};
  let otherFiveXX = 0;
  const ids = new Set<string>();
  for (const x of sent) {
    statuses[x.status] = (statuses[x.status] ?? 0) + 1;
    for (const st of x.statuses.slice(0, -1)) retries[st] = (retries[st] ?? 0) + 1;
    otherFiveXX += x.statuses.filter((st) => st >= 500 && st !== 503).length + (x.status === 503 ? 1 : 0);
    if (x.status === 202 && typeof x.body.incidentId === 'string') ids.add(x.body.incidentId);
  }
  const started = outcomes.started ?? 0;
  // Every incident handled (completed, or waiting for a human with no work pending).
  let wait = await waitCount(stack.client, doneQuery, doneBefore + started, s.burstTimeoutMs);
  if (wait.ok && (await countWf(stack.client, waitingQuery(queue))) > 0)
    wait = { ...wait, ok: await settle(stack.client, ids, s.burstTimeoutMs) };
  const completionMs = performance.now() - p0;
  const completed = wait.ok;
  return {
    sent,
    burst: {
      events: items.length,
      ackMs: round(ackMs),
      eventsPerSecond: round((items.length / ackMs) * 1000),
      statuses,
      retries,
      otherFiveXX,
      incidentIds: ids.size,
      outcomes,
      completionMs: round(completionMs),
      completed,
      ackCpuMs,
    },
  };
}

async function dlqPending(stack: Stack, intake: IntakeClient): Promise<number> {
  const r = await intake.get('/v1/admin/dlq?limit=1', stack.adminToken);
  if (r.status !== 200) throw new Error(`GET /v1/admin/dlq answered ${r.status}`);
  return (JSON.parse(r.text) as { counts: { pending: number } }).counts.pending;
}

async function runStorm(stack: Stack, intake: IntakeClient, s: Settings) {
  const tag = randomBytes(2).toString('hex');
  const { keys } = s.storm;
  say(`bench: storm baseline: ${keys} unique events alone...`);
  const uniqueItems: Item[] = Array.from({ length: keys }, (_, k) => ({
    key: k,
    kind: 'valid',
    body: falcoAlert(`uniq-${tag}-${k}`),
  }));
  // Waited for until every incident is handled too, so the time to handle the storm has a comparison.
  const unique = (await sendBurst(stack, intake, s, uniqueItems)).burst;

  const items = stormItems(s, tag);
  const expected = {
    accepted: items.filter((i) => i.kind === 'valid').length,
    malformed: items.filter((i) => i.kind === 'malformed').length,
    badSignature: items.filter((i) => i.kind === 'bad-signature').length,
  };
  say(`bench: the storm: ${items.length} events over ${keys} keys...`);
  const dlq0 = await dlqPending(stack, intake);
  const mails0 = await sinkCount(stack);
  const stormStart = Date.now();
  const { burst: storm, sent } = await sendBurst(stack, intake, s, items);
  const dlq1 = await dlqPending(stack, intake);
  const mails = (await sinkCount(stack)) - mails0;
  const runsStarted = await countWf(
    stack.client,
    `TaskQueue = ${q(stack.queues.ours)} AND StartTime >= ${q(new Date(stormStart - 1000).toISOString())}`,
  );
  const byKind = (kind: Item['kind']) => sent.filter((_, i) => items[i]?.kind === kind);
  const malformedWithDlq = byKind('malformed').filter(
    (x) => x.status === 400 && typeof x.body.deadLetterId === 'number',
  ).length;
  const checks = {
    [`${expected.accepted} valid events answered 202`]:
      byKind('valid').filter((x) => x.status === 202).length === expected.accepted,
    [`${expected.malformed} malformed answered 400 with a dead-letter id`]:
      malformedWithDlq === expected.malformed,
    [`${expected.badSignature} badly signed answered 401`]:
      byKind('bad-signature').filter((x) => x.status === 401).length === expected.badSignature,
    [`dead-letter store grew by ${expected.malformed}`]: dlq1 - dlq0 === expected.malformed,
    [`intake counted ${keys} started, ${expected.accepted - keys} joined`]:
      storm.outcomes.started === keys && storm.outcomes.joined === expected.accepted - keys,
    [`intake counted ${expected.malformed} dead-lettered, ${expected.badSignature} unauthenticated`]:
      storm.outcomes.dead_lettered === expected.malformed &&
      storm.outcomes.unauthenticated === expected.badSignature,
    [`${keys} distinct incident ids in the answers`]: storm.incidentIds === keys,
    [`Temporal visibility: ${keys} incident runs started`]: runsStarted === keys,
    [`at least ${keys} notification emails (one per incident; got ${mails})`]: mails >= keys,
    'no 5xx other than retried 503': storm.otherFiveXX === 0,
    'every incident handled (completed, or waiting for a human)': storm.completed,
  };
  return {
    unique,
    storm,
    expected,
    deadLettersAdded: dlq1 - dlq0,
    runsStarted,
    mails,
    checks,
    ackRatio: round(storm.ackMs / unique.ackMs, 2),
    handledRatio: round(storm.completionMs / unique.completionMs, 2),
  };
}

// ---------------------------------------------------------------------------------------------------
// Report

function table(rows: string[][]): string {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows
    .map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  '))
    .join('\n');
}

const fmt = (x: number, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');
const verdict = (ok: boolean) => (ok ? 'met' : 'MISSED');

function report(o: {
  s: Settings;
  machine: Machine;
  stack: Stack;
  startedAt: string;
  rounds: Round[];
  idle: Record<string, number>;
  latency: LatencyRun[];
  histories: { bare?: HistoryShape; ours?: HistoryShape };
  storm: Awaited<ReturnType<typeof runStorm>>;
  totalS: number;
}) {
  const { s, machine: m, rounds, storm } = o;
  const measured = (side: Round['side']) => rounds.filter((r) => r.side === side && !r.warmup);
  const bare = measured('bare');
  const ours = measured('ours');
  const rateBare = median(bare.map((r) => r.incidentsPerSecond));
  const rateOurs = median(ours.map((r) => r.incidentsPerSecond));
  const cpuBare = median(bare.map((r) => r.cpuMsPerIncident));
  const cpuOurs = median(ours.map((r) => r.cpuMsPerIncident));
  const perProc = (rs: Round[], k: string) => median(rs.map((r) => (r.cpuMs[k] ?? 0) / r.incidents));
  const rateRatio = rateOurs / rateBare;
  const cpuRatio = cpuOurs / cpuBare;
  const lines: string[] = [];
  lines.push(`Vigil bench (${s.mode}) ${o.startedAt}, ${round(o.totalS)} s`);
  lines.push(
    `machine: ${m.cores} cores, ${m.cpuModel}, ${m.memoryGiB} GiB, node ${m.node}, Linux ${m.kernel}, load avg at start ${m.loadAvgAtStart.join(' ')}`,
  );
  lines.push(
    `temporal: ${m.temporal}; one dev server, headless, fresh SQLite file, pragmas ${SQLITE_PRAGMAS.join(', ')}`,
  );
  lines.push(
    `set-up: VIGIL_QUIET_PERIOD=${QUIET_PERIOD} (default 15m: an incident closes ${QUIET_PERIOD} after its playbook), ` +
      `VIGIL_RATE_LIMIT=${RATE_LIMIT}/s VIGIL_RATE_BURST=${RATE_BURST} (the per-sender limit is raised so it does not shape the numbers), ` +
      `${s.concurrency} requests/starts in flight, CPU from /proc utime+stime (CLK_TCK ${m.clockTicks})`,
  );
  lines.push(
    `idle CPU before the rounds (ms per s): ${Object.entries(o.idle)
      .map(([k, v]) => `${k} ${fmt(v)}`)
      .join(', ')}`,
  );
  lines.push('');
  lines.push(
    `1-2. ${s.pairs} interleaved pairs of rounds (bare, ours, ...; ${s.warmupPairs} warm-up pair discarded), ${s.perRound} incidents per round, medians:`,
  );
  lines.push(
    table([
      ['', 'bare', 'ours', 'ours/bare', 'goal', ''],
      [
        'incidents per second',
        fmt(rateBare),
        fmt(rateOurs),
        `${fmt(rateRatio, 2)}x`,
        '>= 0.8x',
        verdict(rateRatio >= 0.8),
      ],
      [
        'CPU ms per incident',
        fmt(cpuBare),
        fmt(cpuOurs),
        `${fmt(cpuRatio, 2)}x`,
        '<= 1.25x',
        verdict(cpuRatio <= 1.25),
      ],
      ['  of which Temporal server', fmt(perProc(bare, 'server')), fmt(perProc(ours, 'server')), '', '', ''],
      ['  of which worker', fmt(perProc(bare, 'bareWorker')), fmt(perProc(ours, 'worker')), '', '', ''],
      ['  of which intake', '-', fmt(perProc(ours, 'intake')), '', '', ''],
      [
        'emails per incident',
        fmt(median(bare.map((r) => r.mails / r.incidents)), 2),
        fmt(median(ours.map((r) => r.mails / r.incidents)), 2),
        '',
        '',
        '',
      ],
    ]),
  );
  const waitingRounds = ours.filter((r) => r.waitingForHuman > 0);
  if (waitingRounds.length)
    lines.push(
      `   note: ${median(ours.map((r) => r.waitingForHuman))} of ${s.perRound} incidents per round (median) ended waiting for a human (VigilStatus ${WAITING_FOR_HUMAN.join('/')}) instead of closing; they count as handled when they reach that stage`,
    );
  lines.push(
    `   per round (incidents/s, CPU ms/incident): ${rounds
      .map((r) => `${r.side}${r.warmup ? '(w)' : ''} ${fmt(r.incidentsPerSecond)}/${fmt(r.cpuMsPerIncident)}`)
      .join(', ')}`,
  );
  const incomplete = rounds.filter((r) => !r.completed || r.refused || r.mails < r.incidents);
  if (incomplete.length)
    lines.push(
      `   WARNING: ${incomplete.length} round(s) incomplete (not all incidents handled in time, refused events, or fewer mails than incidents)`,
    );
  const { bare: hb, ours: ho } = o.histories;
  if (hb && ho) {
    const shape = (h: HistoryShape) =>
      `${h.events} history events, ${h.workflowTasks} workflow tasks, ${h.payloadBytes} payload bytes (${Object.entries(
        h.kinds,
      )
        .filter(([k]) => !/^workflowTask|^activityTask(Started|Completed)/.test(k))
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')})`;
    lines.push(`   one bare workflow: ${shape(hb)}`);
    lines.push(`   one incident:      ${shape(ho)}`);
  }
  lines.push('');
  lines.push(
    `3. intake acknowledgement latency, client side, open loop (fixed schedule; latency from the scheduled send time to the answer), every ${s.latency.dupEvery}th event another event of the previous event's key:`,
  );
  lines.push(
    table([
      ['ms', 'events', 'p50', 'p90', 'p99', 'p99.9', 'max', 'goal', ''],
      ...o.latency.map((l) => [
        `${l.label}: ${l.rate}/s for ${l.seconds} s`,
        String(l.events),
        fmt(l.p50, 2),
        fmt(l.p90, 2),
        fmt(l.p99, 2),
        fmt(l.p999, 2),
        fmt(l.max, 2),
        l.side === 'ours' ? 'p99 < 20 ms' : '(reference)',
        l.side === 'ours' ? verdict(l.p99 < 20) : '',
      ]),
    ]),
  );
  const half = o.latency.find((l) => l.side === 'ours');
  const bareHalf = o.latency.find((l) => l.side === 'bare');
  if (half && bareHalf)
    lines.push(
      `   at the same rate, ours/bare: p50 ${fmt(half.p50 / bareHalf.p50, 2)}x, p99 ${fmt(half.p99 / bareHalf.p99, 2)}x (bare: the bench calls client.workflow.start for the bare workflow itself, one per event, no intake; it does the same activities)`,
    );
  for (const l of o.latency.filter((x) => x.side === 'ours'))
    lines.push(
      `   ${l.label}: answers ${JSON.stringify(l.statuses)}, retried ${l.retried}, intake counted ${JSON.stringify(l.outcomes)}; ` +
        `${l.openAtLastAck} incidents still being worked on at the last answer` +
        (l.drained === undefined
          ? ' (not waited for: last phase)'
          : `, ${l.drained ? 'all handled' : 'NOT all handled'} ${fmt((l.drainAfterLastAckMs ?? NaN) / 1000)} s after it`),
    );
  lines.push('');
  const st = storm.storm;
  const un = storm.unique;
  lines.push(
    `4. storm: ${st.events} events over ${s.storm.keys} keys (${s.storm.malformedPct}% malformed, ${s.storm.badSignaturePct}% badly signed; events of ${s.storm.window} neighbouring keys shuffled together), ${s.storm.inFlight} in flight, 429/503 retried after Retry-After${s.mode === 'quick' ? ' [--quick: scaled down from 10,000 / 1,000]' : ''}:`,
  );
  lines.push(
    table([
      ['', `${s.storm.keys} unique alone`, 'storm', 'storm/unique', 'goal', ''],
      [
        'absorbed (all answered), s',
        fmt(un.ackMs / 1000, 2),
        fmt(st.ackMs / 1000, 2),
        `${fmt(storm.ackRatio, 2)}x`,
        '<= 1.2x',
        verdict(storm.ackRatio <= 1.2),
      ],
      ['events per second', fmt(un.eventsPerSecond), fmt(st.eventsPerSecond), '', '', ''],
      ...['server', 'worker', 'intake', 'sender'].map((k) => [
        `  CPU s while answering: ${k}`,
        fmt((un.ackCpuMs[k] ?? 0) / 1000, 2),
        fmt((st.ackCpuMs[k] ?? 0) / 1000, 2),
        '',
        '',
        '',
      ]),
      [
        'all incidents handled, s',
        fmt(un.completionMs / 1000, 2),
        fmt(st.completionMs / 1000, 2),
        `${fmt(storm.handledRatio, 2)}x`,
        '',
        '',
      ],
    ]),
  );
  lines.push(
    `   answers ${JSON.stringify(st.statuses)}, retried ${JSON.stringify(st.retries)}, intake counted ${JSON.stringify(st.outcomes)}`,
  );
  lines.push(
    `   the goal compares acknowledgements (absorbed = every event answered, so durably in Temporal); handled = from the first send until every incident completed or waits for a human with no work pending (the unique run's incidents wait parked during the storm, at no cost)`,
  );
  for (const [what, ok] of Object.entries(storm.checks)) lines.push(`   [${ok ? 'ok' : 'FAIL'}] ${what}`);
  return {
    text: lines.join('\n'),
    summary: {
      incidentsPerSecond: {
        bare: rateBare,
        ours: rateOurs,
        ratio: round(rateRatio, 3),
        goal: '>= 0.8',
        met: rateRatio >= 0.8,
      },
      cpuMsPerIncident: {
        bare: cpuBare,
        ours: cpuOurs,
        ratio: round(cpuRatio, 3),
        goal: '<= 1.25',
        met: cpuRatio <= 1.25,
        bareByProcess: { server: perProc(bare, 'server'), worker: perProc(bare, 'bareWorker') },
        oursByProcess: {
          server: perProc(ours, 'server'),
          worker: perProc(ours, 'worker'),
          intake: perProc(ours, 'intake'),
        },
      },
      ackLatencyMs: o.latency.map((l) => ({
        label: l.label,
        side: l.side,
        rate: l.rate,
        p50: l.p50,
        p99: l.p99,
        p999: l.p999,
        max: l.max,
        ...(l.side === 'ours' ? { goal: 'p99 < 20', met: l.p99 < 20 } : {}),
      })),
      storm: {
        ratio: storm.ackRatio,
        handledRatio: storm.handledRatio,
        goal: '<= 1.2',
        met: storm.ackRatio <= 1.2,
        checksPassed: Object.values(storm.checks).every(Boolean),
      },
    },
  };
}

// ---------------------------------------------------------------------------------------------------
// Phases 5-9: response (bench/response.ts)

interface ResponseResults {
  settings: ResponseSettings;
  /** Incidents of the fixed-rate latency run still being worked on, terminated before these phases. */
  backlogTerminated: number;
  policy: ReturnType<typeof runPolicy>;
  policyWhen: string;
  agentIdle: AgentFootprint;
  /** A second agent with the optional edge model (capture + local pre-filter), idle in the same window. */
  agentIdleWithModel: AgentFootprint;
  containment: ContainRun;
  slack: Awaited<ReturnType<typeof runSlack>>;
  parked: Awaited<ReturnType<typeof park>>;
  containmentParked: ContainRun;
  agentAfter: { rssMb: number; hwmMb: number };
  workerRestarts: string[];
}

async function runResponse(
  stack: Stack,
  r: ResponseSettings,
  s: Settings,
  measuredPolicy?: ReturnType<typeof runPolicy>,
): Promise<ResponseResults> {
  // The fixed-rate latency run leaves a backlog nobody waits for: end it, so these phases start idle.
  const ids: string[] = [];
  for await (const wf of stack.client.workflow.list({ query: busyQuery(stack.queues.ours), pageSize: 500 }))
    ids.push(wf.workflowId);
  say(`bench: terminating the ${ids.length} incidents left over from the fixed-rate latency run...`);
  await pool(ids, 16, (id) =>
    stack.client.workflow
      .getHandle(id)
      .terminate('bench: only the acknowledgements of the fixed-rate run are measured')
      .catch(() => undefined),
  );
  await waitNone(stack.client, busyQuery(stack.queues.ours), s.drainTimeoutMs);

  // Measured before the stack started in a whole run (in-process; the server and the worker still settle the
  // terminations above here, on the same two cores).
  if (!measuredPolicy) say(`bench: ${r.policyDecisions} policy decisions in process...`);
  const policy = measuredPolicy ?? runPolicy(r.policyDecisions);

  const side = await startResponseSide(stack, say);
  try {
    // Idle means steady state: start-up work (JIT, the SDK's pollers starting, V8's memory reducer a few
    // seconds in) is over before the window opens.
    await sleep(AGENT_SETTLE_S * 1000);
    say(
      `bench: the endpoint agent idle for ${r.agentIdleSeconds} s (and one with the edge model beside it)...`,
    );
    const [idle, idleWithModel] = await Promise.all([
      agentIdle(side.pids.agent, r.agentIdleSeconds),
      agentIdle(side.agentWithModel.pid, r.agentIdleSeconds),
    ]);
    // Measured; it takes no part in what follows.
    await side.agentWithModel.stop();
    say(
      `bench: agent idle: ${fmt(idle.rssMb)} MB RSS, ${fmt(idle.cpuPercentOfCore, 2)}% of a core; with the model ${fmt(idleWithModel.rssMb)} MB, ${fmt(idleWithModel.cpuPercentOfCore, 2)}%`,
    );

    const containment = await runContainment(
      stack,
      side,
      { label: 'containment', pairs: r.pairs, warmupPairs: r.warmupPairs },
      say,
    );
    say(
      `bench: detection to containment p50/p99: bare ${fmt(containment.bare.p50)}/${fmt(containment.bare.p99)} ms, ours ${fmt(containment.ours.p50)}/${fmt(containment.ours.p99)} ms`,
    );

    const slack = await runSlack(stack, side, { clicks: r.slackClicks, warmup: r.slackWarmup }, say);
    say(
      `bench: Slack ack p99 ${fmt(slack.ack.p99, 2)} ms, click to resumed p99 ${fmt(slack.resumed.p99)} ms`,
    );

    const parked = await park(stack, side, r.parked, say);
    say(`bench: ${parked.parked} incidents parked in ${fmt(parked.seconds)} s`);
    const containmentParked = await runContainment(
      stack,
      side,
      { label: `containment with ${parked.totalWaiting} parked`, pairs: r.pairs, warmupPairs: r.warmupPairs },
      say,
    );
    say(
      `bench: with ${parked.totalWaiting} parked, p50/p99: bare ${fmt(containmentParked.bare.p50)}/${fmt(containmentParked.bare.p99)} ms, ours ${fmt(containmentParked.ours.p50)}/${fmt(containmentParked.ours.p99)} ms`,
    );
    return {
      settings: r,
      backlogTerminated: ids.length,
      policy,
      policyWhen: measuredPolicy
        ? 'before the stack started'
        : 'with the stack up, before the response side started',
      agentIdle: idle,
      agentIdleWithModel: idleWithModel,
      containment,
      slack,
      parked,
      containmentParked,
      agentAfter: agentNow(side.pids.agent),
      /** Restarts of the response side's playbook worker over the whole response run. */
      workerRestarts: side.worker.restarts(),
    };
  } finally {
    side.intake.close();
    await side.stop();
  }
}

function responseReport(o: ResponseResults) {
  const { containment: c, containmentParked: cp, slack, policy, agentIdle: idle, parked } = o;
  const lines: string[] = [];
  lines.push(
    `5. detection to containment (ours: signed POST to the intake -> the agent's ResponseResult.at for suspend-process of a real \`sleep\`; bare: workflow start -> the same enrichment and Cedar decision as local activities -> SIGSTOP by one activity on the host's task queue; minimal, for reference: that one activity alone), ${o.settings.pairs} interleaved triples (${o.settings.warmupPairs} warm-up discarded), ms:`,
  );
  const row = (label: string, b: number, u: number, goal: string, ok: boolean) => [
    label,
    fmt(b),
    fmt(u),
    `${fmt(u / b, 2)}x`,
    goal,
    verdict(ok),
  ];
  lines.push(
    table([
      ['', 'bare', 'ours', 'ours/bare', 'goal', ''],
      row('p50', c.bare.p50, c.ours.p50, '<= 1.3x', c.ratioP50 <= 1.3),
      row('p99', c.bare.p99, c.ours.p99, '<= 1.5x', c.ratioP99 <= 1.5),
      ['p99 absolute', '', fmt(c.ours.p99), '', '< 500 ms', verdict(c.ours.p99 < 500)],
      ['p90', fmt(c.bare.p90), fmt(c.ours.p90), '', '', ''],
      ['max', fmt(c.bare.max), fmt(c.ours.max), '', '', ''],
      ['seen stopped in /proc, p50', fmt(c.bareProc.p50), fmt(c.oursProc.p50), '', '', ''],
      ['seen stopped in /proc, p99', fmt(c.bareProc.p99), fmt(c.oursProc.p99), '', '', ''],
      [
        'minimal bare p50 / p99',
        `${fmt(c.minimal.p50)} / ${fmt(c.minimal.p99)}`,
        '',
        `${fmt(c.ours.p50 / c.minimal.p50, 2)}x / ${fmt(c.ours.p99 / c.minimal.p99, 2)}x`,
        '(reference)',
        '',
      ],
    ]),
  );
  if (c.timeline)
    lines.push(
      `   where the median sample's ${fmt(c.timeline.sample, 0)} ms went (its history, ms after the POST): ${c.timeline.steps.join(', ')}`,
    );
  lines.push(
    `   ${c.failed} failed samples; each sample its own victim process and correlation key (same host, rule name varied); p99 of ${c.ours.n} samples is their ${c.ours.n < 100 ? 'maximum' : '99th percentile'}`,
  );
  lines.push('');
  lines.push(
    `6. the endpoint agent (its own process), idle for ${fmt(idle.seconds)} s from ${AGENT_SETTLE_S} s after it reported ready: ${fmt(idle.rssMb)} MB RSS (goal < 120 MB: ${verdict(idle.rssMb < 120)}), ` +
      `${fmt(idle.cpuPercentOfCore, 2)}% of a core (goal < 1%: ${verdict(idle.cpuPercentOfCore < 1)}); ` +
      `after all the containment samples ${fmt(o.agentAfter.rssMb)} MB RSS (peak ${fmt(o.agentAfter.hwmMb)} MB). ` +
      `With the edge model (a second agent with VIGIL_AGENT_CAPTURE and VIGIL_AGENT_MODEL_DIR, idle in the same window, then stopped): ${fmt(o.agentIdleWithModel.rssMb)} MB RSS, ${fmt(o.agentIdleWithModel.cpuPercentOfCore, 2)}% of a core.`,
  );
  lines.push('');
  lines.push(
    `7. policy decisions (Cedar, in process, ${policy.n} each, measured ${o.policyWhen}; the reference request: ${policy.decisions.join(', ')}), ms:`,
  );
  lines.push(
    table([
      ['', 'p50', 'p99', 'max', 'goal', ''],
      ...(
        [
          ['decide, 2 proposed actions', policy.decideTwoActions],
          ['decide, 1 proposed action', policy.decideOneAction],
          ['mayApprove', policy.mayApprove],
        ] as const
      ).map(([l, t]) => [l, fmt(t.p50, 3), fmt(t.p99, 3), fmt(t.max, 3), 'p99 < 1 ms', verdict(t.p99 < 1)]),
    ]),
  );
  lines.push('');
  lines.push(
    `8. Slack: a signed Approve click to Bolt's HTTP receiver in the intake (Web API faked by test/fakes/slack.ts), ${slack.ack.n} clicks (${o.settings.slackWarmup} warm-up discarded), one at a time, ms:`,
  );
  lines.push(
    table([
      ['', 'p50', 'p90', 'p99', 'max', 'goal', ''],
      [
        'acknowledgement (HTTP answer)',
        fmt(slack.ack.p50, 2),
        fmt(slack.ack.p90, 2),
        fmt(slack.ack.p99, 2),
        fmt(slack.ack.max, 2),
        '< 100 ms',
        verdict(slack.ack.p99 < 100),
      ],
      [
        'click to workflow resumed',
        fmt(slack.resumed.p50),
        fmt(slack.resumed.p90),
        fmt(slack.resumed.p99),
        fmt(slack.resumed.max),
        '< 250 ms',
        verdict(slack.resumed.p99 < 250),
      ],
      [
        'click to message updated',
        fmt(slack.messageUpdated.p50),
        fmt(slack.messageUpdated.p90),
        fmt(slack.messageUpdated.p99),
        fmt(slack.messageUpdated.max),
        '',
        '',
      ],
    ]),
  );
  lines.push(
    `   resumed = the time of the Update's completion event in the incident's history; ${slack.failed} failed clicks`,
  );
  lines.push('');
  const loadRatio = cp.ours.p99 / c.ours.p99;
  lines.push(
    `9. ${parked.parked} incidents parked on approvals (${parked.requested} requested${o.settings.parked < 10_000 ? ', scaled down from 10,000' : ''}; ${parked.totalWaiting} waiting in all, parked in ${fmt(parked.seconds)} s${parked.complete ? '' : ', NOT all parked in time'}; playbook worker RSS ${fmt(parked.workerRssMb)} MB, peak ${fmt(parked.workerPeakRssMb)} MB; worker restarts in the response run: ${o.workerRestarts.length ? o.workerRestarts.join(', ') : 'none'}), then scenario 5 again, ms:`,
  );
  lines.push(
    table([
      ['', 'none parked', 'parked', 'parked/none', 'goal', ''],
      [
        'ours p99',
        fmt(c.ours.p99),
        fmt(cp.ours.p99),
        `${fmt(loadRatio, 2)}x`,
        '<= 1.2x',
        verdict(loadRatio <= 1.2),
      ],
      ['ours p50', fmt(c.ours.p50), fmt(cp.ours.p50), `${fmt(cp.ours.p50 / c.ours.p50, 2)}x`, '', ''],
      [
        'bare p99 (machine noise)',
        fmt(c.bare.p99),
        fmt(cp.bare.p99),
        `${fmt(cp.bare.p99 / c.bare.p99, 2)}x`,
        '',
        '',
      ],
      ['bare p50', fmt(c.bare.p50), fmt(cp.bare.p50), `${fmt(cp.bare.p50 / c.bare.p50, 2)}x`, '', ''],
    ]),
  );
  lines.push(`   ${cp.failed} failed samples`);
  return {
    text: lines.join('\n'),
    summary: {
      containmentMs: {
        bare: { p50: c.bare.p50, p99: c.bare.p99 },
        ours: { p50: c.ours.p50, p99: c.ours.p99 },
        minimalBare: { p50: c.minimal.p50, p99: c.minimal.p99 },
        ratioP50: c.ratioP50,
        ratioP99: c.ratioP99,
        goal: 'p50 <= 1.3x, p99 <= 1.5x, p99 < 500 ms',
        met: c.ratioP50 <= 1.3 && c.ratioP99 <= 1.5 && c.ours.p99 < 500,
        failed: c.failed,
      },
      agentIdle: {
        rssMb: idle.rssMb,
        cpuPercentOfCore: idle.cpuPercentOfCore,
        withModel: {
          rssMb: o.agentIdleWithModel.rssMb,
          cpuPercentOfCore: o.agentIdleWithModel.cpuPercentOfCore,
        },
        goal: '< 120 MB RSS, < 1% of a core',
        met: idle.rssMb < 120 && idle.cpuPercentOfCore < 1,
      },
      policyDecisionMs: {
        p50: policy.decideTwoActions.p50,
        p99: policy.decideTwoActions.p99,
        goal: 'p99 < 1',
        met: policy.decideTwoActions.p99 < 1,
      },
      slackAckMs: { p50: slack.ack.p50, p99: slack.ack.p99, goal: 'p99 < 100', met: slack.ack.p99 < 100 },
      slackClickToResumedMs: {
        p50: slack.resumed.p50,
        p99: slack.resumed.p99,
        goal: 'p99 < 250',
        met: slack.resumed.p99 < 250,
      },
      parkedApprovals: {
        parked: parked.parked,
        p99None: c.ours.p99,
        p99Parked: cp.ours.p99,
        ratio: round(loadRatio, 3),
        goal: '<= 1.2',
        met: loadRatio <= 1.2,
        workerRssMb: parked.workerRssMb,
        workerRestarts: o.workerRestarts,
      },
    },
  };
}

/** A table row of n, p50, p99 and max, with a p99 goal in ms when there is one. */
function spreadRow(label: string, x: Spread, digits: number, p99GoalMs?: number): string[] {
  return [
    label,
    String(x.n),
    fmt(x.p50, digits),
    fmt(x.p99, digits),
    fmt(x.max, 3),
    p99GoalMs === undefined ? '' : `p99 < ${p99GoalMs} ms`,
    p99GoalMs === undefined ? '' : verdict(x.p99 < p99GoalMs),
  ];
}

/** Scenario 10's text and summary; `incidentCpuMs` is ours from scenario 2 when it ran in this run. */
function scoringReport(sc: ScoringBench, incidentCpuMs?: number) {
  const best = Math.max(...sc.batches.map((b) => b.rowsPerSecond));
  const lines: string[] = [];
  const m = sc.model;
  lines.push(
    `10. scoring, in process before the stack started (model ${m.id} ${m.version}, ${m.algorithm}: ${m.trees} trees, ${m.nodes} nodes, depth up to ${m.maxDepth}; sha256 ${m.sha256.slice(0, 12)}; inputs: ${sc.inputs}), ms unless stated:`,
  );
  lines.push(
    table([
      ['', 'n', 'p50', 'p99', 'max', 'goal', ''],
      spreadRow('one inference (onnxruntime, 1 row)', sc.inference, 4, 0.2),
      spreadRow('one score (features + inference)', sc.featuresAndInference, 4),
      spreadRow('TreeSHAP attributions, one row', sc.attributionsMs, 2),
    ]),
  );
  lines.push(
    table([
      ['batched inference, 1 thread', 'rows/s', 'rows per CPU-s', 'goal', ''],
      ...sc.batches.map((b) => [
        `${b.size} rows a batch`,
        String(b.rowsPerSecond),
        String(b.rowsPerCpuSecond),
        '>= 100,000 rows/s',
        verdict(b.rowsPerSecond >= 100_000),
      ]),
      [
        `traces to scores (features too; ${sc.traces.callsPerTrace} calls a trace, ${sc.traces.size} a batch)`,
        String(sc.traces.rowsPerSecond),
        String(sc.traces.rowsPerCpuSecond),
        '',
        '',
      ],
    ]),
  );
  const share = (ms: number) => (incidentCpuMs ? ms / incidentCpuMs : NaN);
  const e = sc.scoreEventCpuMs;
  lines.push(
    `   the scoring activity's CPU per event: ${fmt(e.withoutAttributions, 3)} ms without attributions` +
      (incidentCpuMs
        ? ` = ${fmt(100 * share(e.withoutAttributions), 2)}% of an incident's ${fmt(incidentCpuMs)} CPU ms (scenario 2; goal <= 5%: ${verdict(share(e.withoutAttributions) <= 0.05)})`
        : ' (run the whole bench to compare it with an incident)') +
      `; ${fmt(e.withAttributions, 1)} ms with top-5 attributions` +
      (incidentCpuMs ? ` = ${fmt(100 * share(e.withAttributions), 1)}%` : '') +
      ` (by default only flagged events get them: VIGIL_MODEL_ATTRIBUTIONS=flagged). Medians of ${sc.rounds} rounds for rates.`,
  );
  return {
    text: lines.join('\n'),
    summary: {
      scoring: {
        model: m,
        inferenceMs: {
          p50: sc.inference.p50,
          p99: sc.inference.p99,
          goal: 'p99 < 0.2',
          met: sc.inference.p99 < 0.2,
        },
        batchRowsPerSecond: { best, goal: '>= 100000', met: best >= 100_000 },
        attributionsMs: { p50: sc.attributionsMs.p50, p99: sc.attributionsMs.p99 },
        scoreEventCpuMs: e,
        ...(incidentCpuMs
          ? {
              shareOfIncidentCpu: {
                withoutAttributions: round(share(e.withoutAttributions), 5),
                withAttributions: round(share(e.withAttributions), 4),
                goal: '<= 0.05 (without attributions; flagged events add the attributions)',
                met: share(e.withoutAttributions) <= 0.05,
              },
            }
          : {}),
      },
    },
  };
}

// ---------------------------------------------------------------------------------------------------

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const base = settings(opts.quick);
  const s = { ...base, storm: { ...base.storm, inFlight: opts.stormInFlight ?? base.storm.inFlight } };
  const t0 = performance.now();
  const startedAt = new Date().toISOString();
  const ctx: { stack?: Stack } = {};
  let stopping = false;
  const onSignal = (sig: NodeJS.Signals) => {
    if (stopping) {
      killAllNow();
      process.exit(130);
    }
    stopping = true;
    say(`\nbench: ${sig}: stopping every child process...`);
    const st = ctx.stack;
    void (st ? st.stop(true) : Promise.resolve(killAllNow()))
      .catch(() => killAllNow())
      .finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('exit', () => killAllNow());

  // Scenario 10 first: in process, no Temporal, while the machine is still quiet.
  let scoring: ScoringBench | undefined;
  let policyEarly: ReturnType<typeof runPolicy> | undefined;
  if (opts.scoringOnly || (!opts.intakeOnly && !opts.responseOnly)) {
    scoring = await runScoring({ quick: opts.quick, say });
    if (!opts.scoringOnly) {
      const n = responseSettings(opts.quick, opts.parked).policyDecisions;
      say(`bench: ${n} policy decisions in process (scenario 7, before the stack starts)...`);
      policyEarly = runPolicy(n);
    } else {
      const sr = scoringReport(scoring);
      process.stdout.write(
        `\nVigil bench (${s.mode}, scenario 10 only) ${startedAt}, ${round((performance.now() - t0) / 1000)} s\n` +
          `machine: ${cpus().length} cores, ${cpus()[0]?.model ?? '?'}, load avg at end ${loadavg()
            .map((x) => round(x, 2))
            .join(' ')}\n\n${sr.text}\n`,
      );
      if (opts.json)
        writeFileSync(
          opts.json,
          `${JSON.stringify({ startedAt, mode: s.mode, summary: sr.summary, scoring }, null, 2)}\n`,
        );
      return;
    }
  }

  say('bench: finding the Temporal CLI...');
  const bin = await findTemporalBinary((l) => say(l));
  const machine = describeMachine(bin);
  const stack = await startStack({
    bin,
    quietPeriod: QUIET_PERIOD,
    rateLimit: RATE_LIMIT,
    rateBurst: RATE_BURST,
    say,
    ...(opts.cpuProf ? { cpuProfDir: opts.cpuProf } : {}),
  });
  ctx.stack = stack;
  let ok = false;
  try {
    if (opts.responseOnly) {
      const response = await runResponse(stack, responseSettings(opts.quick, opts.parked), s);
      const resp = responseReport(response);
      process.stdout.write(
        `\nVigil bench (${s.mode}, scenarios 5-9 only) ${startedAt}, ${round((performance.now() - t0) / 1000)} s\n` +
          `machine: ${machine.cores} cores, ${machine.cpuModel}, load avg at start ${machine.loadAvgAtStart.join(' ')}, at end ${loadavg()
            .map((x) => round(x, 2))
            .join(' ')}\n\n${resp.text}\n`,
      );
      if (opts.json)
        writeFileSync(
          opts.json,
          `${JSON.stringify({ startedAt, mode: s.mode, machine, summary: resp.summary, response }, null, 2)}\n`,
        );
      ok = true;
      return;
    }
    const intake = new IntakeClient(stack.intakePort, stack.intakeKey, Math.max(128, s.storm.inFlight));
    // Idle CPU (pollers, timers) so the per-round numbers can be read against it.
    const roots = {
      server: stack.pids.server,
      worker: stack.pids.worker,
      bareWorker: stack.pids.bareWorker,
      intake: stack.pids.intake,
    };
    await sleep(1000);
    const i0 = cpuTicksOf(roots);
    await sleep(s.idleMs);
    const i1 = cpuTicksOf(roots);
    const idle = Object.fromEntries(
      Object.keys(i1).map((k) => [
        k,
        round((((i1[k] ?? 0) - (i0[k] ?? 0)) * (1000 / clockTicks())) / (s.idleMs / 1000), 1),
      ]),
    );

    const rounds: Round[] = [];
    const totalPairs = s.warmupPairs + s.pairs;
    for (let p = 0; p < totalPairs; p++) {
      const warmup = p < s.warmupPairs;
      for (const side of ['bare', 'ours'] as const) {
        const r = await runRound(stack, intake, s, side, p, warmup);
        rounds.push(r);
        say(
          `bench: round ${p + 1}/${totalPairs}${warmup ? ' (warm-up)' : ''} ${side}: ${fmt(r.incidentsPerSecond)} incidents/s, ${fmt(r.cpuMsPerIncident)} CPU ms/incident${r.completed ? '' : ' (INCOMPLETE)'}`,
        );
        // A stack whose workflows do not finish gives no numbers worth waiting for: stop early.
        if (warmup && !r.completed) {
          const queue = side === 'ours' ? stack.queues.ours : stack.queues.bare;
          throw new Error(
            `the ${side} workflows did not finish within ${s.roundTimeoutMs / 1000} s in the warm-up round ` +
              `(open: ${await describeOpen(stack.client, queue)}); logs in ${stack.dir}`,
          );
        }
      }
    }

    const last = (side: Round['side']) => rounds.filter((r) => r.side === side).at(-1);
    const histories: { bare?: HistoryShape; ours?: HistoryShape } = {};
    for (const side of ['bare', 'ours'] as const) {
      const id = last(side)?.sampleId;
      if (id) histories[side] = await historyShape(stack.client, id).catch(() => undefined);
    }
    await checkBareAsksAsVigil(stack.client, last('ours')?.sampleId);

    // The storm (and its unique-only baseline) before the latency runs: the last phase can leave a
    // backlog behind that nobody waits for.
    const storm = await runStorm(stack, intake, s);

    // Latency at about half the capacity the rounds measured (the stack is not saturated), then at the
    // fixed rate asked for (which may be above capacity on a small machine: incidents queue in Temporal).
    const oursRate = median(
      rounds.filter((r) => r.side === 'ours' && !r.warmup).map((r) => r.incidentsPerSecond),
    );
    const halfRate = Math.max(1, Math.floor(oursRate / 2));
    const latency: LatencyRun[] = [];
    // At half capacity the run lasts long enough for its p99 to be a percentile, not the maximum of a few
    // dozen samples (at most two minutes).
    const halfSeconds = Math.max(
      s.latency.seconds,
      Math.min(120, Math.ceil(s.latency.minSamplesAtHalf / halfRate)),
    );
    // The bare line: Temporal's own start latency at the same rate and schedule, with the bare workflows
    // doing the same activities, so the absolute goal can be read against what the server gives here.
    for (const [label, rate, seconds, drain, side] of [
      ['~50% of capacity', halfRate, halfSeconds, true, 'ours'],
      ['bare Temporal start, same rate', halfRate, halfSeconds, true, 'bare'],
      ['fixed rate', s.latency.rate, s.latency.seconds, false, 'ours'],
    ] as const) {
      say(
        `bench: ${side === 'ours' ? 'intake' : 'bare start'} latency at ${rate} events/s for ${fmt(seconds, 0)} s (${label})...`,
      );
      const l = await runLatency(stack, intake, {
        label,
        rate,
        seconds,
        dupEvery: s.latency.dupEvery,
        drain,
        drainTimeoutMs: s.drainTimeoutMs,
        side,
      });
      latency.push(l);
      say(`bench: p50 ${fmt(l.p50, 2)} ms, p99 ${fmt(l.p99, 2)} ms, max ${fmt(l.max, 2)} ms`);
    }
    intake.close();

    const response = opts.intakeOnly
      ? undefined
      : await runResponse(stack, responseSettings(opts.quick, opts.parked), s, policyEarly);

    const totalS = (performance.now() - t0) / 1000;
    const rep = report({ s, machine, stack, startedAt, rounds, idle, latency, histories, storm, totalS });
    if (response) {
      const resp = responseReport(response);
      rep.text += `\n\n${resp.text}`;
      Object.assign(rep.summary, resp.summary);
    }
    if (scoring) {
      const sr = scoringReport(scoring, rep.summary.cpuMsPerIncident.ours);
      rep.text += `\n\n${sr.text}`;
      Object.assign(rep.summary, sr.summary);
    }
    process.stdout.write(`\n${rep.text}\n`);
    if (opts.json) {
      writeFileSync(
        opts.json,
        `${JSON.stringify(
          {
            startedAt,
            totalSeconds: round(totalS),
            mode: s.mode,
            settings: s,
            machine: { ...machine, loadAvgAtEnd: loadavg().map((x) => round(x, 2)) },
            sqlitePragmas: SQLITE_PRAGMAS,
            environment: stack.env,
            summary: rep.summary,
            idleCpuMsPerSecond: idle,
            rounds,
            histories,
            latency,
            storm,
            response,
            scoring,
          },
          null,
          2,
        )}\n`,
      );
      say(`bench: results written to ${opts.json}`);
    }
    ok = true;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    say(`bench: stopping the stack${ok && !opts.keep ? '' : ` (files kept in ${stack.dir})`}...`);
    await stack.stop(!ok || opts.keep);
  }
}

main().catch((e: unknown) => {
  say(`bench: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  killAllNow();
  process.exit(1);
});
