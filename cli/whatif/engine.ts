/**
 * What-if: run a recorded incident against another version of the playbooks without re-running any side
 * effect, and diff the decisions.
 *  1. From the recorded history: the workflow input, the detections (signals), every activity's input and
 *     result (keyed by activity type + subject + order), the settings (a local activity marker), the
 *     operators' approval decisions (Updates) and the recorded result.
 *  2. The other version's workflow code runs as a fresh workflow (id `<incident>~whatif-<n>`, so nothing it
 *     starts can collide with the real incident's) on a worker whose activities answer from the record.
 *     A call the old run never made is answered with an explicit `WhatIfUnknown` failure; the policy
 *     decision can instead be recomputed (read-only) when its input changed. Approvals are answered with the
 *     recorded operators' decisions when the same action and parameters were asked; an approval the old
 *     run never asked stays unanswered (unknown) and expires. Timers are shortened (quiet period, approval
 *     ladder); no time-skipping server is needed.
 *  3. The decisions and actions of both runs are compared (`diffRuns`).
 */
import { randomUUID } from 'node:crypto';
import { cpSync, mkdtempSync, rmSync, existsSync, readdirSync, statSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, WorkflowNotFoundError } from '@temporalio/client';
import {
  ApplicationFailure,
  defaultPayloadConverter,
  type Payload,
  type PayloadCodec,
} from '@temporalio/common';
import type { temporal } from '@temporalio/proto';
import { bundleWorkflowCode, NativeConnection, Worker } from '@temporalio/worker';
import { approvalsQuery, decideUpdate } from '../../src/contracts/approval.js';
import {
  detectionSignal,
  statusQuery,
  type ActionRecord,
  type IncidentInput,
  type IncidentStatus,
} from '../../src/contracts/incident.js';
import type { FirstLookups, FirstLookupsRequest, PlaybookSettings } from '../../src/contracts/playbook.js';
import type { DetectionEvent } from '../../src/events/detection-event.js';
import type { ApprovalAttempt } from '../../src/policy/approval.js';
import { repoRoot } from '../../src/paths.js';
import { lookupPart } from '../../activities/lookups/index.js';
import { WORKFLOWS_PATH } from '../../workers/playbook-worker.js';

type History = temporal.api.history.v1.IHistory;
type Payloads = temporal.api.common.v1.IPayloads | null | undefined;

export const UNKNOWN = 'WhatIfUnknown';

export interface RecordedCall {
  type: string;
  subject: string;
  input: unknown;
  result?: unknown;
  failure?: string;
}

export interface Recording {
  workflowId: string;
  input: IncidentInput;
  detections: DetectionEvent[];
  calls: RecordedCall[];
  settings?: PlaybookSettings;
  decisions: ApprovalAttempt[];
  result?: IncidentStatus;
}

async function decode(p: Payloads, codecs: readonly PayloadCodec[]): Promise<unknown[]> {
  let payloads = (p?.payloads ?? []) as Payload[];
  for (const c of [...codecs].reverse()) payloads = await c.decode(payloads);
  return payloads.map((x) => defaultPayloadConverter.fromPayload(x));
}

/** The subject of a call recorded without its input (a local activity's marker). */
const BY_ORDER = '\0by-order';

/** What an activity call is about, so a reordered or changed call is not answered with another's result. */
export function subjectOf(type: string, input: unknown): string {
  const i = (input ?? {}) as Record<string, unknown>;
  switch (type) {
    case 'executeContainment': {
      const r = (i.request ?? {}) as Record<string, unknown>;
      return `${String(r.op)} ${String(r.action)} ${String(r.host)} ${JSON.stringify(r.params ?? {})}`;
    }
    case 'reserveAutomation':
      return `${String(i.action)} ${String(i.host)}`;
    case 'decideActions':
      return JSON.stringify([i.playbook, i.verdict, i.riskScore, i.proposed, i.host]);
    case 'notifyApproval': {
      const r = (i.record ?? {}) as Record<string, unknown>;
      return `${String(i.stage)} ${String(r.action)} ${String(r.paramsHash)}`;
    }
    case 'scoreEvent':
      return JSON.stringify(i.syscalls ?? []);
    default:
      return '';
  }
}

const num = (v: { toString(): string } | null | undefined) => Number(v?.toString() ?? 0);

/** Everything a what-if run needs from one recorded incident run. */
export async function readRecording(
  history: History,
  codecs: readonly PayloadCodec[] = [],
): Promise<Recording> {
  const events = history.events ?? [];
  const scheduled = new Map<number, RecordedCall>();
  const calls: RecordedCall[] = [];
  const rec: Partial<Recording> & {
    detections: DetectionEvent[];
    calls: RecordedCall[];
    decisions: ApprovalAttempt[];
  } = { detections: [], calls, decisions: [] };
  // One decision with its slots (decideAndReserve, or taken ahead in firstLookups): recorded as the two
  // steps it stands for, so a version that asks them apart (or together, see runWhatIf) is answered the same.
  const decided = (result: object) => {
    const { slots, ...decision } = result as { slots?: Record<string, unknown> };
    calls.push({ type: 'decideActions', subject: BY_ORDER, input: undefined, result: decision });
    for (const slot of Object.values(slots ?? {}))
      calls.push({ type: 'reserveAutomation', subject: BY_ORDER, input: undefined, result: slot });
  };
  for (const e of events) {
    const id = num(e.eventId);
    if (e.workflowExecutionStartedEventAttributes) {
      const a = e.workflowExecutionStartedEventAttributes;
      rec.input = (await decode(a.input, codecs))[0] as IncidentInput;
    } else if (e.workflowExecutionSignaledEventAttributes) {
      const a = e.workflowExecutionSignaledEventAttributes;
      if (a.signalName === detectionSignal.name)
        rec.detections.push((await decode(a.input, codecs))[0] as DetectionEvent);
    } else if (e.activityTaskScheduledEventAttributes) {
      const a = e.activityTaskScheduledEventAttributes;
      const type = a.activityType?.name ?? '';
      const input = (await decode(a.input, codecs))[0];
      const call: RecordedCall = { type, subject: subjectOf(type, input), input };
      scheduled.set(id, call);
      calls.push(call);
    } else if (e.activityTaskCompletedEventAttributes) {
      const a = e.activityTaskCompletedEventAttributes;
      const call = scheduled.get(num(a.scheduledEventId));
      if (call) call.result = (await decode(a.result, codecs))[0];
    } else if (e.activityTaskFailedEventAttributes) {
      const a = e.activityTaskFailedEventAttributes;
      const call = scheduled.get(num(a.scheduledEventId));
      if (call) call.failure = a.failure?.message ?? 'failed';
    } else if (e.activityTaskTimedOutEventAttributes) {
      const call = scheduled.get(num(e.activityTaskTimedOutEventAttributes.scheduledEventId));
      if (call) call.failure = 'timed out';
    } else if (e.markerRecordedEventAttributes?.markerName === 'core_local_activity') {
      const d = e.markerRecordedEventAttributes.details ?? {};
      const meta = (await decode(d.data, codecs))[0] as { activity_type?: string } | undefined;
      const [result] = await decode(d.result, codecs);
      const type = meta?.activity_type ?? '';
      if (type === 'playbookSettings') rec.settings = result as PlaybookSettings;
      else if (type === 'firstLookups' && result && typeof result === 'object') {
        // The settings and the lookups asked ahead in one local activity: recorded as the steps it stands
        // for (a failed part was asked again on its own, and that call is recorded after it).
        const r = result as FirstLookups;
        rec.settings = r.settings;
        if (r.enrichment?.ok)
          calls.push({
            type: 'enrichEvent',
            subject: BY_ORDER,
            input: undefined,
            result: r.enrichment.value,
          });
        if (r.route?.ok)
          calls.push({ type: 'findResponder', subject: BY_ORDER, input: undefined, result: r.route.value });
        // The decision taken ahead (runWhatIf never answers one: the other version asks it on its own).
        if (r.decided?.ok && r.decided.value) decided(r.decided.value.answer);
      } else if (type === 'decideAndReserve' && result && typeof result === 'object') decided(result);
      // A local activity's marker keeps its result but not its input: answered by type, in order.
      else calls.push({ type, subject: BY_ORDER, input: undefined, result });
    } else if (e.workflowExecutionUpdateAcceptedEventAttributes) {
      const req = e.workflowExecutionUpdateAcceptedEventAttributes.acceptedRequest?.input;
      if (req?.name === decideUpdate.name)
        rec.decisions.push((await decode(req.args, codecs))[0] as ApprovalAttempt);
    } else if (e.workflowExecutionCompletedEventAttributes) {
      rec.result = (
        await decode(e.workflowExecutionCompletedEventAttributes.result, codecs)
      )[0] as IncidentStatus;
    }
  }
  if (!rec.input) throw new Error('the history has no WorkflowExecutionStarted event');
  return { ...rec, workflowId: rec.input.incidentId, input: rec.input };
}

// --- the other version's code -------------------------------------------------------------------------

export interface PlaybookSource {
  /** A built workflow bundle (tests), or ... */
  bundleCode?: string;
  /** ... a playbooks directory (complete, or only the changed files over the current ones), or ... */
  dir?: string;
  /** ... a git revision of this repository. */
  gitRef?: string;
}

const copyTs = (from: string, to: string) =>
  cpSync(from, to, {
    recursive: true,
    filter: (s) => statSync(s).isDirectory() || (s.endsWith('.ts') && !s.endsWith('.test.ts')),
  });

/** Bundle the workflow code of `source` (default: the current build). */
export async function bundleFor(source: PlaybookSource): Promise<{ code: string; label: string }> {
  if (source.bundleCode) return { code: source.bundleCode, label: 'given bundle' };
  const root = repoRoot();
  const quiet = {
    log: () => undefined,
    trace: () => undefined,
    debug: () => undefined,
    info: () => undefined,
    warn: () => undefined,
    error: (m: string) => process.stderr.write(`workflow bundle: ${m}\n`),
  };
  if (!source.dir && !source.gitRef) {
    const b = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: quiet });
    return { code: b.code, label: 'current build (dist/playbooks)' };
  }
  const tmp = mkdtempSync(join(tmpdir(), 'vigil-whatif-'));
  try {
    let label: string;
    if (source.gitRef) {
      if (!/^[\w./~^@{}-]{1,200}$/.test(source.gitRef))
        throw new Error(`not a git revision: ${source.gitRef}`);
      const tar = execFileSync('git', ['archive', '--format=tar', source.gitRef, 'playbooks', 'src'], {
        cwd: root,
        maxBuffer: 256 << 20,
        timeout: 30_000,
      });
      execFileSync('tar', ['-x', '-C', tmp], { input: tar, timeout: 30_000 });
      label = `git ${source.gitRef} (${execFileSync('git', ['rev-parse', '--short', `${source.gitRef}^{commit}`], { cwd: root, encoding: 'utf8' }).trim()})`;
    } else {
      const dir = source.dir as string;
      if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new Error(`no such directory: ${dir}`);
      copyTs(join(root, 'src'), join(tmp, 'src'));
      copyTs(join(root, 'playbooks'), join(tmp, 'playbooks'));
      copyTs(dir, join(tmp, 'playbooks')); // the given files replace the current ones
      label = `${dir} (over the current playbooks)`;
    }
    if (!existsSync(join(tmp, 'playbooks', 'index.ts')) || !readdirSync(join(tmp, 'src')).length)
      throw new Error('the playbooks have no index.ts');
    const b = await bundleWorkflowCode({
      workflowsPath: join(tmp, 'playbooks', 'index.ts'),
      logger: quiet,
      webpackConfigHook: (c) => ({
        ...c,
        resolve: { ...c.resolve, modules: ['node_modules', join(root, 'node_modules')] },
      }),
    });
    return { code: b.code, label };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

// --- the run ------------------------------------------------------------------------------------------

/** Activity types a playbook may call (the worker must know every name the other version might use). */
const KNOWN_ACTIVITIES = [
  'playbookSettings',
  'firstLookups',
  'enrichEvent',
  'scoreEvent',
  'notifyEmail',
  'notifyApproval',
  'decideActions',
  'decideAndReserve',
  'findResponder',
  'reserveAutomation',
  'executeContainment',
  'createTicket',
  'updateTicket',
];

export interface WhatIfOptions {
  /** A worker connection and a client to the Temporal server the what-if run uses (an ephemeral one). */
  connection: NativeConnection;
  client: Client;
  recording: Recording;
  bundleCode: string;
  /** Read-only activities recomputed when the other version asks something the old run did not. */
  live?: { decideActions?: (input: never) => Promise<unknown> };
  timeoutMs?: number;
}

export interface UnknownStep {
  type: string;
  subject: string;
  why: string;
}

export interface WhatIfRun {
  status: IncidentStatus;
  unknown: UnknownStep[];
  recomputed: string[];
  /** Approvals the other version asked that the old run never asked (no recorded answer). */
  unansweredApprovals: { approvalId: string; action: string; params: Record<string, unknown> }[];
}

export async function runWhatIf(o: WhatIfOptions): Promise<WhatIfRun> {
  const rec = o.recording;
  const queue = `whatif-${randomUUID().slice(0, 8)}`;
  const workflowId = `${rec.input.incidentId}~whatif-${randomUUID().slice(0, 6)}`;
  const pending = new Map<string, RecordedCall[]>();
  for (const c of rec.calls) {
    const k = `${c.type}\0${c.subject}`;
    pending.set(k, [...(pending.get(k) ?? []), c]);
  }
  const unknown: UnknownStep[] = [];
  const recomputed: string[] = [];
  const answer =
    (type: string) =>
    async (input: unknown): Promise<unknown> => {
      if (type === 'playbookSettings') {
        if (!rec.settings)
          throw ApplicationFailure.nonRetryable('what-if: the record has no settings', UNKNOWN);
        // Decisions do not depend on these timers; shorten them so the run takes seconds.
        return {
          ...rec.settings,
          quietPeriodMs: Math.min(rec.settings.quietPeriodMs, 500),
          approval: { remindAfterMs: 1000, escalateAfterMs: 1500, deadlineMs: 2500 },
        } satisfies PlaybookSettings;
      }
      if (type === 'firstLookups') {
        // The settings and each lookup asked ahead, from the recorded steps; a lookup the old run never
        // made is a failed part (the playbook then asks it alone, and that is reported as unknown). No
        // decision is given ahead: the other version asks the policy itself, answered as its steps below.
        const req = input as FirstLookupsRequest;
        return {
          settings: await answer('playbookSettings')(undefined),
          ...(req.enrich ? { enrichment: await lookupPart(() => answer('enrichEvent')(req.enrich)) } : {}),
          ...(req.route ? { route: await lookupPart(() => answer('findResponder')(req.route)) } : {}),
        };
      }
      if (type === 'decideAndReserve') {
        // The decision and a slot for each listed action it made automatic, from the two recorded steps.
        const { request, reserve } = input as {
          request: unknown;
          reserve: { action: string }[];
        };
        const decision = (await answer('decideActions')(request)) as {
          decisions: { action: string; disposition: string }[];
        };
        const slots: Record<string, unknown> = {};
        for (const r of reserve) {
          const d = decision.decisions.find((x) => x.action === r.action);
          if (d?.disposition === 'automatic') slots[r.action] = await answer('reserveAutomation')(r);
        }
        return { ...decision, slots };
      }
      const subject = subjectOf(type, input);
      // A policy decision recorded without its input is recomputed when a live engine is given (the other
      // version's request may differ); the other lookups recorded so are answered in order.
      const byOrder = type === 'decideActions' && o.live?.decideActions ? undefined : `${type}\0${BY_ORDER}`;
      const next =
        pending.get(`${type}\0${subject}`)?.shift() ?? (byOrder ? pending.get(byOrder)?.shift() : undefined);
      if (next) {
        if (next.failure !== undefined)
          throw ApplicationFailure.nonRetryable(
            `what-if: recorded failure: ${next.failure}`,
            'WhatIfRecordedFailure',
          );
        // The executor served the old run on its own queue; here the what-if worker answers for it.
        if (
          type === 'findResponder' &&
          next.result &&
          typeof next.result === 'object' &&
          'taskQueue' in next.result
        )
          return { ...next.result, taskQueue: queue };
        return next.result;
      }
      const live = type === 'decideActions' ? o.live?.decideActions : undefined;
      if (live) {
        recomputed.push(`${type} ${subject}`);
        return live(input as never);
      }
      unknown.push({ type, subject, why: 'the old run never reached this step' });
      throw ApplicationFailure.nonRetryable(
        `what-if: unknown: the old run never reached this step (${type})`,
        UNKNOWN,
      );
    };
  const types = new Set([...KNOWN_ACTIVITIES, ...rec.calls.map((c) => c.type)]);
  const worker = await Worker.create({
    connection: o.connection,
    namespace: o.client.options.namespace,
    taskQueue: queue,
    workflowBundle: { code: o.bundleCode },
    activities: Object.fromEntries([...types].map((t) => [t, answer(t)])),
  });
  const unanswered: WhatIfRun['unansweredApprovals'] = [];
  const running = worker.run();
  const started: string[] = [];
  try {
    const [first, ...more] = rec.detections;
    if (!first) throw new Error('the recorded incident has no detection');
    const handle = await o.client.workflow.signalWithStart('incident', {
      workflowId,
      taskQueue: queue,
      args: [{ ...rec.input, incidentId: workflowId }],
      signal: detectionSignal,
      signalArgs: [first],
    });
    started.push(workflowId);
    for (const ev of more) await handle.signal(detectionSignal, ev);
    const decisions = [...rec.decisions];
    const handled = new Set<string>();
    const deadline = Date.now() + (o.timeoutMs ?? 120_000);
    let status: IncidentStatus | undefined;
    for (;;) {
      const desc = await handle.describe();
      if (desc.status.name === 'COMPLETED') {
        status = (await handle.result()) as IncidentStatus;
        break;
      }
      if (desc.status.name !== 'RUNNING') throw new Error(`the what-if run ended ${desc.status.name}`);
      const s = await handle.query(statusQuery).catch(() => undefined);
      if (s?.stage === 'needs-human') {
        status = s;
        break;
      }
      for (const r of await handle.query(approvalsQuery).catch(() => [])) {
        if (r.status !== 'pending' || handled.has(r.approvalId)) continue;
        handled.add(r.approvalId);
        const answers = decisions.filter(
          (d) => d.paramsHash === r.paramsHash && d.approvalId.startsWith(`${r.action}-`),
        );
        if (!answers.length) {
          unanswered.push({ approvalId: r.approvalId, action: r.action, params: r.params });
          continue;
        }
        for (const a of answers) {
          decisions.splice(decisions.indexOf(a), 1);
          await handle
            .executeUpdate(decideUpdate, { args: [{ ...a, approvalId: r.approvalId }] })
            .catch(() => undefined);
        }
      }
      if (Date.now() > deadline) throw new Error('the what-if run did not settle in time');
      await new Promise((r) => setTimeout(r, 100));
    }
    return {
      status: { ...status, incidentId: rec.input.incidentId },
      unknown,
      recomputed,
      unansweredApprovals: unanswered,
    };
  } finally {
    await cleanUp(o.client, workflowId);
    worker.shutdown();
    await running;
  }
}

/** Terminate the what-if run and any child it started (containment holds). */
async function cleanUp(client: Client, workflowId: string): Promise<void> {
  const h = client.workflow.getHandle(workflowId);
  try {
    const history = await h.fetchHistory();
    for (const e of history.events ?? []) {
      const child = e.startChildWorkflowExecutionInitiatedEventAttributes?.workflowId;
      if (child)
        await client.workflow
          .getHandle(child)
          .terminate('what-if run finished')
          .catch(() => undefined);
    }
    await h.terminate('what-if run finished').catch(() => undefined);
  } catch (e) {
    if (!(e instanceof WorkflowNotFoundError)) throw e;
  }
}

// --- the diff -----------------------------------------------------------------------------------------

export interface DiffLine {
  /** 1-based position of the action in the new run's actions (or the old run's when it is gone). */
  step?: number;
  what: 'verdict' | 'playbook' | 'proposal' | 'policy' | 'action';
  action?: string;
  old: string;
  now: string;
  text: string;
}

const target = (a: ActionRecord) => {
  const p = (a.detail?.params ?? {}) as Record<string, string | number | boolean | undefined>;
  const parts = [
    p.host !== undefined && `host ${p.host}`,
    p.pid !== undefined && `pid ${p.pid}`,
    p.path !== undefined && `${p.path}`,
    p.account !== undefined && `account ${p.account}`,
  ].filter(Boolean);
  return parts.join(', ');
};

const isUnknown = (a: ActionRecord) =>
  /what-if: unknown/.test(`${a.error ?? ''} ${JSON.stringify(a.detail ?? {})}`);

function outcome(a: ActionRecord | undefined, unanswered: Set<string>): string {
  if (!a) return 'not proposed';
  const approvalId = typeof a.detail?.approvalId === 'string' ? a.detail.approvalId : undefined;
  if (a.status === 'expired' && approvalId && unanswered.has(approvalId))
    return 'asks for approval: unknown (the old run never asked; a person would decide)';
  if (isUnknown(a)) return `${a.status}: unknown (the old run never reached this step)`;
  if (a.status === 'approved' || a.status === 'denied') {
    const by = a.detail?.approvers ?? a.detail?.by;
    return `${a.status}${by ? ` (${JSON.stringify(by)})` : ''}`;
  }
  if (a.status === 'executed')
    return `executed (${typeof a.detail?.mode === 'string' ? a.detail.mode : 'unknown mode'})`;
  return a.status;
}

const PHRASE: Record<string, string> = {
  executed: 'would now run',
  approved: 'would now be approved for',
};

/** Compare the old and the new run: verdict, proposals, policy dispositions, and each action's outcome. */
export function diffRuns(old: IncidentStatus, now: WhatIfRun): DiffLine[] {
  const out: DiffLine[] = [];
  const n = now.status;
  if (old.verdict !== n.verdict || old.riskScore !== n.riskScore)
    out.push({
      what: 'verdict',
      old: `${old.verdict ?? '-'} (risk ${old.riskScore ?? '-'})`,
      now: `${n.verdict ?? '-'} (risk ${n.riskScore ?? '-'})`,
      text: `verdict ${old.verdict ?? '-'} (risk ${old.riskScore ?? '-'}) -> ${n.verdict ?? '-'} (risk ${n.riskScore ?? '-'})`,
    });
  const pb = (s: IncidentStatus) => (s.playbook ? `${s.playbook.name}@${s.playbook.version}` : '-');
  if (pb(old) !== pb(n))
    out.push({ what: 'playbook', old: pb(old), now: pb(n), text: `playbook ${pb(old)} -> ${pb(n)}` });
  const dispositions = (s: IncidentStatus, kind: 'rules' | 'policy') =>
    new Map(
      s.decisions
        .filter((d) => d.kind === kind)
        .flatMap((d) => d.actions.map((a) => [a.action, a.disposition] as const)),
    );
  for (const kind of ['rules', 'policy'] as const) {
    const a = dispositions(old, kind);
    const b = dispositions(n, kind);
    for (const action of new Set([...a.keys(), ...b.keys()])) {
      if (a.get(action) === b.get(action)) continue;
      const was = a.get(action) ?? (kind === 'rules' ? 'not proposed' : 'not asked');
      const is = b.get(action) ?? (kind === 'rules' ? 'not proposed' : 'not asked');
      out.push({
        what: kind === 'rules' ? 'proposal' : 'policy',
        action,
        old: was,
        now: is,
        text: `${kind === 'rules' ? 'rule set' : 'policy'}: ${action} ${was} -> ${is}`,
      });
    }
  }
  const unanswered = new Set(now.unansweredApprovals.map((u) => u.approvalId));
  const key = (a: ActionRecord) => `${a.action} ${target(a)}`;
  const oldBy = new Map(old.actions.map((a) => [key(a), a]));
  const seen = new Set<string>();
  n.actions.forEach((a, i) => {
    const k = key(a);
    seen.add(k);
    const was = oldBy.get(k);
    const o = outcome(was, unanswered);
    const w = outcome(a, unanswered);
    if (o === w) return;
    const verb = PHRASE[a.status] ?? 'would now end as';
    out.push({
      step: i + 1,
      what: 'action',
      action: a.action,
      old: o,
      now: w,
      text: `step ${i + 1}: ${verb} ${a.action}${target(a) ? ` on ${target(a)}` : ''} -> ${w}, where the old version: ${o}`,
    });
  });
  old.actions.forEach((a, i) => {
    if (seen.has(key(a))) return;
    out.push({
      step: i + 1,
      what: 'action',
      action: a.action,
      old: outcome(a, unanswered),
      now: 'not proposed',
      text: `old step ${i + 1}: would no longer ${a.action}${target(a) ? ` on ${target(a)}` : ''}, which the old version ${outcome(a, unanswered)}`,
    });
  });
  return out;
}
