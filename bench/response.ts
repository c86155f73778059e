/**
 * The benchmark's response scenarios (issues #6 part 4 and #4 part 5), run by bench/run.ts on its stack:
 *
 *   5. detection to containment on the automated path, Vigil against bare, interleaved pairs:
 *      ours = a signed event for a real harmless process (`sleep`) to the real intake -> incident ->
 *      playbook (enrich, rules, email, Cedar policy, responder lookup, automation slot) -> the real
 *      endpoint agent (its own process) SIGSTOPs it; latency = the agent's ResponseResult.at minus the time
 *      the POST was sent (cross-checked by watching /proc/<pid>/stat for state T).
 *      bare = client.workflow.start of bench/bare-workflow.ts `bareContain`: the same enrichment and Cedar
 *      decision as local activities, then one activity on a per-host task queue (bench/bare-agent.ts, its
 *      own process) that SIGSTOPs the pid; `bareContainMinimal` (that activity alone) is printed beside it.
 *                                                  goal p50 <= 1.3x, p99 <= 1.5x, p99 < 500 ms absolute
 *   6. the endpoint agent's own footprint, idle: VmRSS and utime+stime from /proc.  goal < 120 MB, < 1% core
 *      (and, for the record, a second agent with the optional edge model: capture and the local pre-filter)
 *   7. one policy decision (the Cedar engine, in process), p99.                                 goal < 1 ms
 *   8. Slack: a correctly signed Approve click to the real Bolt receiver (intake/slack.ts, in the intake
 *      process) with the Web API faked (test/fakes/slack.ts): acknowledgement p99 (goal < 100 ms) and
 *      click to workflow resumed (the Update's completion event in history) p99        (goal < 250 ms)
 *   9. scenario 5 again with N incidents parked on approvals: ours p99 loaded / ours p99 idle. goal <= 1.2x
 *
 * These run on their own task queue with their own playbook worker and intake (the `vigil up` environment
 * plus Slack, a raised automation budget and long approval timers), so the earlier phases are untouched.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { tsToMs } from '@temporalio/common/lib/time.js';
import { PolicyEngine } from '../activities/policy/engine.js';
import { statusQuery, type IncidentStatus } from '../src/contracts/incident.js';
import { OperatorStore } from '../intake/operators.js';
import { distEntry, repoRoot } from '../src/paths.js';
import { startFakeSlack, type FakeMessage, type FakeSlack } from '../test/fakes/slack.js';
import { clickPayload, formBody, sign } from '../test/helpers/slack.js';
import { detectionEvent, falcoAlertFor } from './events.js';
import { IntakeClient } from './http.js';
import { clockTicks } from './proc.js';
import { freePort } from '../cli/stack/temporal.js';
import { NAMESPACE, type Extra, type Stack } from './stack.js';
import { percentile, pool, round, sleep } from './stats.js';

const PATH = '/v1/events/falco';
const BARE_CONTAIN = 'bareContain';
const BARE_CONTAIN_MINIMAL = 'bareContainMinimal';
const TEAM = 'T0VIGILBENCH';
const APP = 'A0VIGILBENCH';
const CHANNEL = 'C0BENCHSOC';
const GROUP = 'S0BENCHAPPR';
const LEAD = 'U0BENCHLEAD';
const SIGNING_SECRET = randomBytes(16).toString('hex');
const WAITING = `('awaiting-approval', 'needs-human')`;

export interface ResponseSettings {
  pairs: number;
  /**
   * Triples run first and discarded. The response side's worker, intake and agent start just before
   * scenario 5, and its samples kept falling for the first ~15 triples (Vigil's side runs more code for
   * V8 to compile and optimize than the bare one: 81-91 ms falling to ~60 ms in one run, bare 52-57 to ~42);
   * a playbook worker in production has long been warm.
   */
  warmupPairs: number;
  agentIdleSeconds: number;
  parked: number;
  slackClicks: number;
  slackWarmup: number;
  policyDecisions: number;
}

export function responseSettings(quick: boolean, parked?: number): ResponseSettings {
  const s = quick
    ? {
        pairs: 20,
        warmupPairs: 10,
        agentIdleSeconds: 15,
        parked: 300,
        slackClicks: 20,
        slackWarmup: 3,
        policyDecisions: 10_000,
      }
    : {
        pairs: 100,
        warmupPairs: 15,
        agentIdleSeconds: 30,
        parked: 10_000,
        slackClicks: 60,
        slackWarmup: 5,
        policyDecisions: 20_000,
      };
  return parked === undefined ? s : { ...s, parked };
}

export interface Percentiles {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export function pct(xs: number[]): Percentiles {
  return {
    n: xs.length,
    p50: round(percentile(xs, 50), 2),
    p90: round(percentile(xs, 90), 2),
    p99: round(percentile(xs, 99), 2),
    max: round(xs.length ? Math.max(...xs) : NaN, 2),
  };
}

// ---------------------------------------------------------------------------------------------------
// /proc helpers

function procState(pid: number): string | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return s.slice(s.lastIndexOf(')') + 2).split(' ')[0];
  } catch {
    return undefined;
  }
}

/** Resolve with Date.now() when /proc shows `pid` stopped (1 ms polling), or undefined after `timeoutMs`. */
async function watchStopped(pid: number, timeoutMs: number): Promise<number | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (procState(pid) === 'T') return Date.now();
    if (Date.now() > deadline) return undefined;
    await sleep(1);
  }
}

/** VmRSS and VmHWM (kB) and utime+stime (ticks) of one process. */
function footprint(pid: number): { rssKb: number; hwmKb: number; ticks: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s*(\\d+)\\s*kB`, 'm').exec(status)?.[1] ?? NaN);
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { rssKb: kb('VmRSS'), hwmKb: kb('VmHWM'), ticks: Number(f[11]) + Number(f[12]) };
}

// ---------------------------------------------------------------------------------------------------
// The response side: its own playbook worker, intake (with Slack), endpoint agent, bare agent, fake Slack

export interface ResponseSide {
  queue: string;
  host: string;
  bareAgentQueue: string;
  intake: IntakeClient;
  slackUrl: string;
  slack: FakeSlack;
  pids: { worker: number; intake: number; agent: number; bareAgent: number };
  /** The playbook worker (its pid changes if it is restarted). */
  worker: Extra;
  /**
   * A second agent with the optional edge model (capture and the local pre-filter), on a host of its own:
   * idle beside the first for scenario 6, then stopped.
   */
  agentWithModel: Extra;
  victims: Set<ChildProcess>;
  stop(): Promise<void>;
}

export async function startResponseSide(stack: Stack, say: (l: string) => void): Promise<ResponseSide> {
  const tag = randomBytes(3).toString('hex');
  const queue = `vigil-bench-resp-${tag}`;
  const host = `bench-agent-${tag}`;
  const bareAgentQueue = `bench-bare-agent-${host}`;
  const slack = await startFakeSlack({
    teamId: TEAM,
    channels: [CHANNEL],
    users: [{ id: LEAD }],
    groups: { [GROUP]: [LEAD] },
  });
  const extras: Extra[] = [];
  const victims = new Set<ChildProcess>();
  const stop = async () => {
    for (const v of victims) v.kill('SIGKILL');
    for (const e of extras.reverse()) await e.stop().catch(() => undefined);
    await slack.close().catch(() => undefined);
  };
  try {
    say(
      'bench: starting the response side (playbook worker + intake with Slack, endpoint agent, bare agent)...',
    );
    const longTimers = {
      // Parked incidents stay parked during the run (the defaults remind after 10 minutes).
      VIGIL_APPROVAL_REMIND_AFTER: '2h',
      VIGIL_APPROVAL_ESCALATE_AFTER: '3h',
      VIGIL_APPROVAL_DEADLINE: '4h',
    };
    const slackApi = {
      SLACK_BOT_TOKEN: slack.token,
      VIGIL_SLACK_API_URL: slack.apiUrl,
      SLACK_APPROVER_GROUPS: GROUP,
    };
    // The default budget (20 automatic actions per hour) would turn the later samples into approvals.
    const budget = { VIGIL_AUTOMATION_BUDGET: '100000' };
    const worker = await stack.spawn(
      'response-worker',
      distEntry('workers/playbook-worker'),
      {
        ...stack.workerEnv(queue, await freePort()),
        ...slackApi,
        ...budget,
        ...longTimers,
        SLACK_CHANNEL: CHANNEL,
      },
      /polling/,
      // Restarted if it dies, as `vigil up` and compose do; scenario 9 reports the restarts.
      { restart: true },
    );
    extras.push(worker);
    const port = await freePort();
    const slackPort = await freePort();
    const dataDir = mkdtempSync(join(stack.dir, 'response-intake-'));
    const intake = await stack.spawn(
      'response-intake',
      distEntry('workers/intake'),
      {
        ...stack.intakeEnv(queue, port, dataDir),
        ...slackApi,
        ...budget,
        SLACK_SIGNING_SECRET: SIGNING_SECRET,
        SLACK_TEAM_ID: TEAM,
        SLACK_APP_ID: APP,
        VIGIL_SLACK_HOST: '127.0.0.1',
        VIGIL_SLACK_PORT: String(slackPort),
      },
      `http://127.0.0.1:${port}/readyz`,
    );
    extras.push(intake);
    // The approver: a Vigil operator (lead) linked to the Slack user, as `vigil operators add` does.
    const operators = new OperatorStore(join(dataDir, 'intake.db'));
    operators.add('bench-lead', 'lead', LEAD);
    operators.close();
    const temporal = {
      ...process.env,
      TEMPORAL_ADDRESS: stack.address,
      TEMPORAL_NAMESPACE: NAMESPACE,
    };
    const agent = await stack.spawn(
      'agent',
      distEntry('workers/agent'),
      {
        ...temporal,
        VIGIL_TASK_QUEUE: queue,
        VIGIL_AGENT_HOST: host,
        VIGIL_AGENT_STATE_DIR: mkdtempSync(join(stack.dir, 'agent-state-')),
        VIGIL_AGENT_ALLOWED_ROOTS: stack.dir,
      },
      /polling/,
    );
    extras.push(agent);
    const agentWithModel = await stack.spawn(
      'agent-model',
      distEntry('workers/agent'),
      {
        ...temporal,
        VIGIL_TASK_QUEUE: queue,
        VIGIL_AGENT_HOST: `${host}-edge`,
        VIGIL_AGENT_STATE_DIR: mkdtempSync(join(stack.dir, 'agent-model-state-')),
        VIGIL_AGENT_ALLOWED_ROOTS: stack.dir,
        VIGIL_AGENT_CAPTURE: 'true',
        VIGIL_AGENT_MODEL_DIR: join(repoRoot(), 'models', 'syscall-anomaly'),
        VIGIL_MODEL_KEYS_DIR: join(repoRoot(), 'models', 'keys'),
      },
      /polling/,
    );
    extras.push(agentWithModel);
    const bareAgent = await stack.spawn(
      'bare-agent',
      distEntry('bench/bare-agent'),
      { ...temporal, BENCH_BARE_AGENT_QUEUE: bareAgentQueue },
      /polling/,
    );
    extras.push(bareAgent);
    return {
      queue,
      host,
      bareAgentQueue,
      intake: new IntakeClient(port, stack.intakeKey, 64),
      slackUrl: `http://127.0.0.1:${slackPort}/slack/events`,
      slack,
      pids: { worker: worker.pid, intake: intake.pid, agent: agent.pid, bareAgent: bareAgent.pid },
      worker,
      agentWithModel,
      victims,
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}

function victim(side: ResponseSide): ChildProcess & { pid: number } {
  const c = spawn('sleep', ['600'], { stdio: 'ignore' });
  if (!c.pid) throw new Error('could not start a victim process');
  side.victims.add(c);
  c.once('exit', () => side.victims.delete(c));
  return c as ChildProcess & { pid: number };
}

// ---------------------------------------------------------------------------------------------------
// Waiting for incidents (every wait bounded)

const incidentsOn = (queue: string) => `TaskQueue = '${queue}' AND WorkflowType = 'incident'`;

/** Until the incident has no pending activity or workflow task and waits for a person (or closed). */
async function settleOne(client: Client, id: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const d = await client.workflow.getHandle(id).describe();
    if (d.status.name !== 'RUNNING') return true;
    const status = String(d.searchAttributes.VigilStatus?.[0] ?? '');
    const busy =
      !['awaiting-approval', 'needs-human'].includes(status) ||
      (d.raw.pendingActivities?.length ?? 0) > 0 ||
      !!d.raw.pendingWorkflowTask;
    if (!busy) return true;
    if (Date.now() > deadline) return false;
    await sleep(50);
  }
}

async function actionResult(client: Client, id: string, action: string, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const st: IncidentStatus | undefined = await client.workflow
      .getHandle(id)
      .query(statusQuery)
      .catch(() => undefined);
    const a = st?.actions.find((x) => x.action === action);
    if (a) return a;
    if (Date.now() > deadline) return undefined;
    await sleep(50);
  }
}

// ---------------------------------------------------------------------------------------------------
// 5 + 9: detection to containment

/** ours = Vigil; bare = the same activities on bare Temporal; minimal = the one containment activity alone. */
export type ContainSide = 'bare' | 'ours' | 'minimal';

export interface ContainSample {
  side: ContainSide;
  pair: number;
  warmup: boolean;
  ok: boolean;
  /** Send (POST / workflow start) to the effect, by the executor's own clock (ResponseResult.at / bare's). */
  ms?: number;
  /** Send to the moment this process saw state T in /proc (1 ms polling). */
  procMs?: number;
  ackMs?: number;
  error?: string;
  id?: string;
  /** Date.now() when the POST / start was sent. */
  sentAt?: number;
}

async function oursSample(stack: Stack, side: ResponseSide, pair: number, warmup: boolean, tag: string) {
  const v = victim(side);
  const exe = readlinkSync(`/proc/${v.pid}/exe`);
  const body = falcoAlertFor(side.host, {
    rule: `Run shell untrusted (bench ${tag}-${pair})`,
    pid: v.pid,
    exepath: exe,
  });
  const out: ContainSample = { side: 'ours', pair, warmup, ok: false };
  try {
    const t0 = Date.now();
    out.sentAt = t0;
    const watch = watchStopped(v.pid, 15_000);
    const sent = await side.intake.send(PATH, body);
    out.ackMs = Date.now() - t0;
    const id = typeof sent.body.incidentId === 'string' ? sent.body.incidentId : undefined;
    if (sent.status !== 202 || !id) {
      out.error = `intake answered ${sent.status}`;
      return out;
    }
    out.id = id;
    const seen = await watch;
    if (seen !== undefined) out.procMs = seen - t0;
    const a = await actionResult(stack.client, id, 'suspend-process', 15_000);
    const result = (a?.detail as { result?: { at?: string; status?: string } } | undefined)?.result;
    if (a?.status === 'executed' && result?.status === 'applied' && result.at && seen !== undefined) {
      out.ms = Date.parse(result.at) - t0;
      out.ok = true;
    } else
      out.error = `suspend-process ${a?.status ?? 'not recorded'}${a?.error ? `: ${a.error}` : ''}; /proc ${procState(v.pid)}`;
    // Its remaining work (the hold workflow, the approval request for isolate-host) is not the next sample's.
    await settleOne(stack.client, id, 20_000);
    return out;
  } finally {
    v.kill('SIGKILL');
  }
}

async function bareSample(
  stack: Stack,
  side: ResponseSide,
  pair: number,
  warmup: boolean,
  tag: string,
  kind: 'bare' | 'minimal',
) {
  const v = victim(side);
  // The same event Vigil's side sends, as the intake would make it (the bare workflow enriches and decides it).
  const event = detectionEvent(
    falcoAlertFor(side.host, {
      rule: `Run shell untrusted (bench ${tag}-${pair})`,
      pid: v.pid,
      exepath: readlinkSync(`/proc/${v.pid}/exe`),
    }),
  );
  const out: ContainSample = { side: kind, pair, warmup, ok: false };
  try {
    const t0 = Date.now();
    const watch = watchStopped(v.pid, 15_000);
    const h = await stack.client.workflow.start(kind === 'bare' ? BARE_CONTAIN : BARE_CONTAIN_MINIMAL, {
      taskQueue: stack.queues.bare,
      workflowId: `${kind}-contain-${tag}-${pair}`,
      args: kind === 'bare' ? [side.bareAgentQueue, event] : [side.bareAgentQueue, v.pid],
    });
    out.ackMs = Date.now() - t0;
    out.id = h.workflowId;
    const [at, seen] = await Promise.all([
      h
        .result()
        .then(String)
        .catch((e: unknown) => new Error((e as Error).message)),
      watch,
    ]);
    if (seen !== undefined) out.procMs = seen - t0;
    if (typeof at === 'string' && seen !== undefined) {
      out.ms = Date.parse(at) - t0;
      out.ok = true;
    } else out.error = at instanceof Error ? at.message : `/proc ${procState(v.pid)}`;
    return out;
  } finally {
    v.kill('SIGKILL');
  }
}

export interface ContainRun {
  label: string;
  samples: ContainSample[];
  bare: Percentiles;
  ours: Percentiles;
  /** The earlier baseline (one activity, no lookups), for reference; the ratios are against `bare`. */
  minimal: Percentiles;
  bareProc: Percentiles;
  oursProc: Percentiles;
  failed: number;
  ratioP50: number;
  ratioP99: number;
  /** Where the time of one Vigil sample (the median one) went, from its history (ms after the POST). */
  timeline?: { sample: number; steps: string[] };
}

/** The incident's history as "what +start..end ms" steps (activities, timers, child workflows). */
async function timeline(client: Client, id: string, t0: number): Promise<string[]> {
  const h = await client.workflow.getHandle(id).fetchHistory();
  const at = (e: { eventTime?: unknown }) => (e.eventTime ? tsToMs(e.eventTime) - t0 : NaN);
  const names = new Map<string, { name: string; from: number }>();
  const steps: string[] = [];
  let taskStarted = NaN;
  for (const e of h.events ?? []) {
    const eid = String(e.eventId);
    if (e.workflowExecutionStartedEventAttributes) steps.push(`incident started +${at(e)}`);
    const sch = e.activityTaskScheduledEventAttributes;
    if (sch) names.set(eid, { name: sch.activityType?.name ?? '?', from: at(e) });
    const done = e.activityTaskCompletedEventAttributes ?? e.activityTaskFailedEventAttributes;
    if (done) {
      const s = names.get(String(done.scheduledEventId));
      if (s) steps.push(`${s.name} +${s.from}..${at(e)}`);
    }
    if (e.workflowTaskStartedEventAttributes) {
      if (Number.isNaN(taskStarted)) steps.push(`first workflow task started +${at(e)}`);
      taskStarted = at(e);
    }
    const marker = e.markerRecordedEventAttributes;
    if (marker?.markerName === 'core_local_activity') {
      const data = marker.details?.data?.payloads?.[0];
      const meta = data
        ? defaultPayloadConverter.fromPayload<{
            activity_type?: string;
            complete_time?: { seconds?: number | string; nanos?: number };
          }>(data)
        : {};
      // Core records the workflow time the local activity was scheduled at plus its run time (the marker
      // itself lands when the workflow task completes): its run time, against the task's start.
      const ran = meta.complete_time
        ? Number(meta.complete_time.seconds ?? 0) * 1000 +
          (meta.complete_time.nanos ?? 0) / 1e6 -
          t0 -
          taskStarted
        : NaN;
      steps.push(`${meta.activity_type ?? 'local activity'} (local, ran ${Math.round(ran)} ms) ..+${at(e)}`);
    }
    if (e.startChildWorkflowExecutionInitiatedEventAttributes)
      steps.push(
        `start ${e.startChildWorkflowExecutionInitiatedEventAttributes.workflowType?.name ?? 'child'} +${at(e)}`,
      );
    if (e.workflowExecutionUpdateAcceptedEventAttributes) steps.push(`update accepted +${at(e)}`);
    if (steps.length > 30) break;
  }
  return steps;
}

export async function runContainment(
  stack: Stack,
  side: ResponseSide,
  o: { label: string; pairs: number; warmupPairs: number },
  say: (l: string) => void,
): Promise<ContainRun> {
  const tag = randomBytes(2).toString('hex');
  const samples: ContainSample[] = [];
  const total = o.warmupPairs + o.pairs;
  for (let p = 0; p < total; p++) {
    const warmup = p < o.warmupPairs;
    // Rotate which side goes first, so none always follows another's tail.
    const sides: ContainSide[] = ['bare', 'ours', 'minimal'];
    const order = [...sides.slice(p % 3), ...sides.slice(0, p % 3)];
    for (const s of order) {
      samples.push(
        s === 'ours'
          ? await oursSample(stack, side, p, warmup, tag)
          : await bareSample(stack, side, p, warmup, tag, s),
      );
      await sleep(100);
    }
    if (warmup && samples.slice(-3).some((x) => !x.ok))
      throw new Error(
        `containment warm-up failed: ${JSON.stringify(samples.slice(-3).filter((x) => !x.ok))}`,
      );
    if ((p + 1) % 10 === 0) say(`bench: ${o.label}: ${p + 1}/${total} triples`);
  }
  const measured = (s: ContainSide) => samples.filter((x) => x.side === s && !x.warmup && x.ok);
  const bare = pct(measured('bare').map((x) => x.ms as number));
  const ours = pct(measured('ours').map((x) => x.ms as number));
  const sorted = [...measured('ours')].sort((a, b) => (a.ms as number) - (b.ms as number));
  const mid = sorted[Math.floor(sorted.length / 2)];
  const tl =
    mid?.id && mid.sentAt !== undefined
      ? await timeline(stack.client, mid.id, mid.sentAt)
          .then((steps) => ({ sample: mid.ms as number, steps }))
          .catch(() => undefined)
      : undefined;
  return {
    label: o.label,
    samples,
    bare,
    ours,
    minimal: pct(measured('minimal').map((x) => x.ms as number)),
    bareProc: pct(measured('bare').map((x) => x.procMs as number)),
    oursProc: pct(measured('ours').map((x) => x.procMs as number)),
    failed: samples.filter((x) => !x.warmup && !x.ok).length,
    ratioP50: round(ours.p50 / bare.p50, 2),
    ratioP99: round(ours.p99 / bare.p99, 2),
    ...(tl ? { timeline: tl } : {}),
  };
}

// ---------------------------------------------------------------------------------------------------
// 6: the agent's footprint

export interface AgentFootprint {
  seconds: number;
  rssMb: number;
  hwmMb: number;
  cpuPercentOfCore: number;
  afterWork?: { rssMb: number; hwmMb: number };
}

export async function agentIdle(pid: number, seconds: number): Promise<AgentFootprint> {
  const a = footprint(pid);
  const t0 = performance.now();
  await sleep(seconds * 1000);
  const b = footprint(pid);
  const wall = (performance.now() - t0) / 1000;
  return {
    seconds: round(wall, 1),
    rssMb: round(b.rssKb / 1024, 1),
    hwmMb: round(b.hwmKb / 1024, 1),
    cpuPercentOfCore: round(((b.ticks - a.ticks) / clockTicks() / wall) * 100, 2),
  };
}

export function agentNow(pid: number): { rssMb: number; hwmMb: number } {
  const f = footprint(pid);
  return { rssMb: round(f.rssKb / 1024, 1), hwmMb: round(f.hwmKb / 1024, 1) };
}

// ---------------------------------------------------------------------------------------------------
// 7: policy decisions, in process

export function runPolicy(n: number) {
  const engine = PolicyEngine.load(join(repoRoot(), 'policies'));
  // What the suspicious-process playbook asks for the reference event (a reverse shell, malicious).
  const req = {
    playbook: { name: 'suspicious-process', version: '1.0.0' },
    host: 'web-01',
    severity: 'high' as const,
    riskScore: 95,
    verdict: 'malicious' as const,
    techniques: ['T1059.004'],
    hasProcess: true,
    inContainer: false,
    proposed: ['suspend-process' as const, 'isolate-host' as const],
  };
  const single = { ...req, proposed: ['suspend-process' as const] };
  const approve = {
    operator: { id: 'lead-1', role: 'lead' as const },
    action: 'isolate-host' as const,
    severity: 'high' as const,
    host: 'web-01',
    isRequester: false,
  };
  const time = (f: () => unknown) => {
    for (let i = 0; i < Math.min(500, n); i++) f();
    const xs: number[] = [];
    for (let i = 0; i < n; i++) {
      const t = performance.now();
      f();
      xs.push(performance.now() - t);
    }
    return {
      p50: round(percentile(xs, 50), 4),
      p99: round(percentile(xs, 99), 4),
      max: round(Math.max(...xs), 4),
    };
  };
  const decisions = engine.decide(req).map((d) => `${d.action}: ${d.disposition}`);
  return {
    n,
    decisions,
    decideTwoActions: time(() => engine.decide(req)),
    decideOneAction: time(() => engine.decide(single)),
    mayApprove: time(() => engine.mayApprove(approve)),
  };
}

// ---------------------------------------------------------------------------------------------------
// 8: Slack clicks

export interface SlackSample {
  warmup: boolean;
  ok: boolean;
  status?: number;
  ackMs?: number;
  resumedMs?: number;
  messageUpdatedMs?: number;
  error?: string;
}

async function requestMessage(slack: FakeSlack, incidentId: string, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const m = slack.channels
      .get(CHANNEL)
      ?.find(
        (x) =>
          x.metadata?.event_type === 'vigil_approval_request' &&
          x.metadata.event_payload.incident_id === incidentId,
      );
    if (m) return m;
    if (Date.now() > deadline) return undefined;
    await sleep(50);
  }
}

async function updateCompletedAt(client: Client, id: string, timeoutMs: number): Promise<number | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const h = await client.workflow.getHandle(id).fetchHistory();
    const ev = (h.events ?? []).find((e) => e.workflowExecutionUpdateCompletedEventAttributes);
    if (ev?.eventTime) return tsToMs(ev.eventTime);
    if (Date.now() > deadline) return undefined;
    await sleep(100);
  }
}

async function clickOnce(stack: Stack, side: ResponseSide, id: string, msg: FakeMessage, warmup: boolean) {
  const out: SlackSample = { warmup, ok: false };
  const body = formBody(
    clickPayload({ user: LEAD, teamId: TEAM, appId: APP, action: 'vigil_approve', message: msg }),
  );
  const ts = Math.floor(Date.now() / 1000);
  const headers = {
    'content-type': 'application/x-www-form-urlencoded',
    'x-slack-request-timestamp': String(ts),
    'x-slack-signature': sign(SIGNING_SECRET, ts, body),
  };
  const t0 = Date.now();
  const p0 = performance.now();
  const res = await fetch(side.slackUrl, {
    method: 'POST',
    headers,
    body,
    signal: AbortSignal.timeout(10_000),
  });
  await res.text();
  out.ackMs = round(performance.now() - p0, 2);
  out.status = res.status;
  // The outcome shown in the message (chat.update) comes after the Update returned.
  const deadline = Date.now() + 15_000;
  while (!msg.edited && Date.now() < deadline) await sleep(2);
  if (msg.edited) out.messageUpdatedMs = Date.now() - t0;
  const done = await updateCompletedAt(stack.client, id, 15_000);
  if (done !== undefined) out.resumedMs = done - t0;
  out.ok = res.status === 200 && done !== undefined && msg.edited === true;
  if (!out.ok)
    out.error = `status ${res.status}, update ${done === undefined ? 'not completed' : 'completed'}, message ${msg.edited ? 'updated' : 'not updated'}`;
  return out;
}

export async function runSlack(
  stack: Stack,
  side: ResponseSide,
  o: { clicks: number; warmup: number },
  say: (l: string) => void,
) {
  const tag = randomBytes(2).toString('hex');
  const n = o.clicks + o.warmup;
  // Incidents on hosts without an agent: suspend-process is recorded (no responder), isolate-host asks
  // for approval by email and in Slack.
  say(`bench: Slack: ${n} incidents asking for approval...`);
  const sent = await pool(
    Array.from({ length: n }, (_, i) => i),
    4,
    (i) => side.intake.send(PATH, falcoAlertFor(`slk-${tag}-${i}`, {})),
  );
  const ids = sent.map((x) => x.body.incidentId).filter((x): x is string => typeof x === 'string');
  if (ids.length !== n) throw new Error(`Slack: the intake refused ${n - ids.length} events`);
  const msgs: FakeMessage[] = [];
  for (const id of ids) {
    const m = await requestMessage(side.slack, id, 60_000);
    if (!m) throw new Error(`Slack: no approval request was posted for ${id}`);
    msgs.push(m);
  }
  await pool(ids, 4, (id) => settleOne(stack.client, id, 30_000));
  const samples: SlackSample[] = [];
  for (let i = 0; i < n; i++) {
    samples.push(await clickOnce(stack, side, ids[i] as string, msgs[i] as FakeMessage, i < o.warmup));
    await settleOne(stack.client, ids[i] as string, 20_000);
    await sleep(100);
  }
  const m = samples.filter((x) => !x.warmup && x.ok);
  return {
    samples,
    failed: samples.filter((x) => !x.warmup && !x.ok).length,
    ack: pct(m.map((x) => x.ackMs as number)),
    resumed: pct(m.map((x) => x.resumedMs as number)),
    messageUpdated: pct(m.map((x) => x.messageUpdatedMs as number)),
  };
}

// ---------------------------------------------------------------------------------------------------
// 9: park incidents on approvals

export async function park(stack: Stack, side: ResponseSide, n: number, say: (l: string) => void) {
  const tag = randomBytes(2).toString('hex');
  const waitingQ = `${incidentsOn(side.queue)} AND ExecutionStatus = 'Running' AND VigilStatus IN ${WAITING}`;
  const busyQ = `${incidentsOn(side.queue)} AND ExecutionStatus = 'Running' AND VigilStatus NOT IN ${WAITING}`;
  const before = (await stack.client.workflow.count(waitingQ)).count;
  say(`bench: parking ${n} incidents on approvals...`);
  const p0 = performance.now();
  const sent = await pool(
    Array.from({ length: n }, (_, i) => i),
    16,
    (i) => side.intake.send(PATH, falcoAlertFor(`park-${tag}-${i}`, {})),
  );
  const accepted = sent.filter((x) => x.status === 202).length;
  const deadline = Date.now() + 120_000 + n * 500;
  let waiting = before;
  let lastSay = Date.now();
  while (waiting < before + accepted && Date.now() < deadline) {
    await sleep(1000);
    waiting = (await stack.client.workflow.count(waitingQ)).count;
    if (Date.now() - lastSay > 30_000) {
      say(`bench: ${waiting - before}/${accepted} parked...`);
      lastSay = Date.now();
    }
  }
  // Then nothing left in flight (the last approval requests' mails and Slack posts).
  while ((await stack.client.workflow.count(busyQ)).count > 0 && Date.now() < deadline) await sleep(500);
  const ids = sent.map((x) => x.body.incidentId).filter((x): x is string => typeof x === 'string');
  await pool(ids.slice(-50), 4, (id) => settleOne(stack.client, id, 30_000));
  await sleep(2000);
  // The playbook worker's memory with them parked (its workflow cache holds at most
  // VIGIL_WORKER_MAX_CACHED_WORKFLOWS of them; the rest are replayed when they wake).
  const worker = footprint(side.worker.pid);
  return {
    requested: n,
    accepted,
    parked: waiting - before,
    workerRssMb: round(worker.rssKb / 1024, 1),
    workerPeakRssMb: round(worker.hwmKb / 1024, 1),
    workerRestarts: side.worker.restarts(),
    totalWaiting: (await stack.client.workflow.count(waitingQ)).count,
    seconds: round((performance.now() - p0) / 1000, 1),
    complete: waiting >= before + accepted,
  };
}
