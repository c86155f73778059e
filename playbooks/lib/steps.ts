/**
 * Reusable playbook steps (workflow-safe). `assessAndNotify`: enrich -> decide with the rule set ->
 * notify by email when the verdict reaches the configured level. Failures of the notification are an
 * outcome the incident reports, not an exception.
 */
import { ActivityFailure } from '@temporalio/workflow';
import { describeFailure } from './failures.js';
import { Responders } from './respond.js';
import { notifyChannel } from './notify.js';
import { recordShadow } from './shadow.js';
import { captureFromAgent, MIN_SYSCALLS, wantsCapture, type CapturedWindow } from './capture.js';
import { isContainmentAction, type ContainmentAction } from '../../src/contracts/response.js';
import { evaluateRules, type ModelEvidence } from '../../src/policy/rules.js';
import type { Enrichment } from '../../src/contracts/playbook.js';
import type { DecisionRecord } from '../../src/contracts/incident.js';
import { buildNotice } from './notice.js';
import type { PlaybookContext, PlaybookOutcome } from './playbook.js';
import { enrichmentLookups, notifyActivities, policyLookups, scoringActivities } from './presets.js';
import type { ApprovalStage } from './approval-gate.js';
import type { ApprovalRequestRecord } from '../../src/policy/approval.js';
import { since, sinceV3, sinceV5 } from './patches.js';
import { decidedAhead, enrichedAhead } from './prefetch.js';
import {
  automaticCandidates,
  onBarePid,
  paramsFor,
  policyRequest,
  serves,
  slotRequests,
} from '../../src/policy/plan.js';
import type { ReserveAnswer, ReserveRequest } from '../../src/contracts/automation.js';
import type { PolicyDecision } from '../../src/policy/actions.js';

export async function assess(
  ctx: PlaybookContext,
  opts: {
    /**
     * The run's responder lookup: given, and the event names a pid without a (long enough) syscall window,
     * the host's agent is asked for one (./capture.ts) after the event is enriched, and the central model
     * scores it. The caller reuses the same lookup for containment.
     */
    responders?: Responders;
  } = {},
): Promise<{ enrichment: Enrichment; decision: DecisionRecord }> {
  ctx.stage('enriching');
  const enrichment = await (enrichedAhead(ctx.event) ?? enrichmentLookups().enrichEvent(ctx.event));
  ctx.note(`lineage ${enrichment.lineage.join(' <- ') || 'unknown'}`, {
    flags: enrichment.flags,
    techniques: enrichment.techniques,
  });
  // Histories recorded before capture replay without it (the patch is decided at the start of the run,
  // ./patches.ts: a patch decided right after a local activity can fail to replay).
  const captured =
    opts.responders && wantsCapture(ctx) && since('agent-capture-v1')
      ? await captureFromAgent(ctx, opts.responders)
      : undefined;
  const model = await scoreTelemetry(ctx, captured);
  ctx.stage('deciding');
  const decision = evaluateRules(
    ctx.event,
    enrichment,
    ctx.settings,
    ctx.incident.eventCount,
    new Date().toISOString(),
    model,
  );
  ctx.decision(decision);
  return { enrichment, decision };
}

/**
 * Score the event's syscall window (or the one the host's agent captured) with the signed model; the
 * score, the model's identity and hash, the threshold, the top attributions and where the window came from
 * become a decision record. The rule set fuses the score the same way whatever the window's source.
 */
async function scoreTelemetry(
  ctx: PlaybookContext,
  captured?: CapturedWindow,
): Promise<ModelEvidence | undefined> {
  if (captured && captured.syscalls.length < MIN_SYSCALLS) {
    ctx.note(
      `no model score: the captured window holds ${captured.syscalls.length} calls, fewer than ${MIN_SYSCALLS}`,
      { ...captured.source },
    );
    return undefined;
  }
  const syscalls = captured?.syscalls ?? ctx.event.telemetry?.syscalls ?? [];
  // Incidents recorded before scoring existed replay without it.
  if (syscalls.length < MIN_SYSCALLS || !since('model-score-v1')) return undefined;
  ctx.stage('scoring');
  try {
    const s = await scoringActivities.scoreEvent({ syscalls });
    const src = captured?.source;
    ctx.decision({
      at: new Date().toISOString(),
      kind: 'score',
      by: s.modelId,
      version: `${s.version} sha256:${s.sha256}`,
      verdict: s.aboveThreshold ? 'malicious' : 'benign',
      riskScore: Math.round(s.score * 100),
      reasons: [
        ...(src
          ? [
              `window captured by the agent of ${src.host}: pid ${src.pid} (${src.comm}), ${src.seconds.toFixed(2)} s, ${src.calls} calls`,
            ]
          : []),
        `score ${s.score.toFixed(4)} ${s.aboveThreshold ? '>=' : '<'} threshold ${s.threshold.toFixed(4)}${s.attributions.length || s.aboveThreshold ? '' : ' (no attributions: they are computed for flagged scores)'}`,
        ...s.attributions.map(
          (a) =>
            `${a.feature} = ${a.value.toFixed(4)} (${a.contribution >= 0 ? '+' : ''}${a.contribution.toFixed(4)})`,
        ),
      ],
      actions: [],
      inputs: {
        calls: s.calls,
        score: s.score,
        threshold: s.threshold,
        baseValue: s.baseValue,
        space: s.space,
        // A shadow model's score (VIGIL_MODEL_SHADOW_DIR): recorded for comparison, never deciding.
        ...(s.shadow ? { shadow: s.shadow } : {}),
        // Where the window came from: the event, or the host's agent (pid, duration, calls).
        ...(src ? { window: src } : {}),
      },
    });
    return {
      modelId: s.modelId,
      version: s.version,
      score: s.score,
      threshold: s.threshold,
      aboveThreshold: s.aboveThreshold,
    };
  } catch (e) {
    if (!(e instanceof ActivityFailure)) throw e;
    const why = describeFailure(e);
    ctx.note(`no model score: ${why}`);
    return { refused: why };
  }
}

export async function notifyByEmail(
  ctx: PlaybookContext,
  enrichment: Enrichment,
  decision: DecisionRecord,
  playbookId: string,
): Promise<PlaybookOutcome> {
  const base = { verdict: decision.verdict, riskScore: decision.riskScore };
  const notify = decision.actions.find((a) => a.action === 'notify-email');
  if (notify?.disposition !== 'run') {
    ctx.action({ action: 'notify-email', status: 'skipped', detail: { why: notify?.why } });
    return { ...base, outcome: `closed as ${decision.verdict}: below the notification level` };
  }
  ctx.stage('notifying');
  const notice = buildNotice(ctx.incident, ctx.event, enrichment, decision, playbookId);
  // Webhook channels (Teams, Mattermost, a SIEM...) through their notifier: rate-limited, deduplicated,
  // the rest folded into a digest. A channel that cannot take it is recorded, the email still goes out.
  if (ctx.settings.webhooks?.length && since('webhook-channels-v1')) {
    for (const name of ctx.settings.webhooks) {
      const r = await notifyChannel(`webhook:${name}`, notice);
      ctx.action(
        r.queued
          ? { action: 'alert', status: 'done', detail: { channel: r.channel, notifier: r.workflowId } }
          : { action: 'alert', status: 'failed', error: r.error, detail: { channel: r.channel } },
      );
    }
  }
  if (ctx.settings.emailVia === 'notifier' && since('email-channel-v1')) {
    const r = await notifyChannel('email', notice);
    if (r.queued) {
      ctx.action({
        action: 'notify-email',
        status: 'done',
        idempotencyKey: r.requestId,
        detail: { channel: 'email', notifier: r.workflowId },
      });
      return { ...base, outcome: `${decision.verdict}: analysts notified by email (rate-limited channel)` };
    }
    ctx.action({ action: 'notify-email', status: 'failed', error: r.error });
    return { ...base, outcome: `${decision.verdict}: email notification FAILED (${r.error})` };
  }
  try {
    const receipt = await notifyActivities.notifyEmail(notice);
    ctx.action({
      action: 'notify-email',
      status: 'done',
      idempotencyKey: receipt.messageId,
      detail: { ...receipt },
    });
    return { ...base, outcome: `${decision.verdict}: analysts notified by email` };
  } catch (e) {
    if (!(e instanceof ActivityFailure)) throw e;
    const cause = describeFailure(e);
    ctx.action({ action: 'notify-email', status: 'failed', error: cause });
    return { ...base, outcome: `${decision.verdict}: email notification FAILED (${cause})` };
  }
}

/**
 * Ask the policy which of the rule set's proposed responses may run, and act on the answer: forbidden
 * ones are recorded; automatic ones run (no containment responder is deployed yet, so they are recorded
 * as such); the others go through the approval gate. An expired approval leaves the incident to a human.
 */
export async function decideResponses(
  ctx: PlaybookContext,
  rules: DecisionRecord,
  playbook: { name: string; version: string },
  opts: {
    /**
     * Run after the automatic actions and before anyone is asked (e.g. the email): containment first, so
     * the attacker's process is stopped before a notification is even sent. The decisions are then taken
     * forbidden/automatic first, approvals after.
     */
    beforeApprovals?: () => Promise<void>;
    /** The run's responder lookup when the caller already has one (assess asked it for a capture). */
    responders?: Responders;
  } = {},
): Promise<{ needsHuman: boolean; summary: string[] }> {
  let pending = opts.beforeApprovals;
  const flush = async () => {
    const f = pending;
    pending = undefined;
    if (f) await f();
  };
  const ev = ctx.event;
  const request = policyRequest(ev, rules, ctx.incident, playbook);
  if (!request) {
    await flush();
    return { needsHuman: false, summary: [] };
  }
  // Runs before the third up-front marker ask for the containment patch after the decision, where their
  // histories recorded it (./patches.ts); for the others it is decided already.
  const together = sinceV3('decide-and-reserve-v1');
  const early = together ? (opts.responders ?? new Responders(ctx)) : undefined;
  // The proposed low-blast-radius actions this run could execute at once: an executor serves them, and a
  // process action names its process by more than a bare pid (see barePid below).
  const slotsToAsk = async (): Promise<ReserveRequest[]> => {
    if (!early) return [];
    const candidates = automaticCandidates(request.proposed, ev);
    if (!candidates.length) return [];
    const route = await early.routeFor();
    return slotRequests(ev, candidates, ctx.incident.incidentId, route, new Date().toISOString());
  };
  // The slots for the low-blast-radius actions this run could execute at once are reserved together with
  // the decision (one local activity, not two in a row); the answers are recorded below, where each is used.
  const reserve = together && !ctx.shadow ? await slotsToAsk() : [];
  // Decided ahead in the incident's first local activity, for exactly this request and these slots (else
  // asked now; ./prefetch.ts).
  const ahead = sinceV5('decide-ahead-v1')
    ? decidedAhead(
        request,
        reserve.map((r) => r.key),
      )
    : {};
  if ('why' in ahead && ahead.why) ctx.note(`decision asked again: ${ahead.why}`);
  const askedAt = 'ahead' in ahead ? ahead.askedAt : new Date().toISOString();
  const { slots, ...policy }: PolicyDecision & { slots?: Record<string, ReserveAnswer> } =
    'ahead' in ahead
      ? ahead.ahead.answer
      : reserve.length
        ? await policyLookups().decideAndReserve({ request, reserve })
        : await policyLookups().decideActions(request);
  ctx.decision({
    at: new Date().toISOString(),
    kind: 'policy',
    by: 'cedar',
    version: policy.policyVersion,
    verdict: rules.verdict,
    riskScore: rules.riskScore,
    reasons: policy.decisions.map((d) => `${d.action}: ${d.disposition} (${d.reasons.join('; ')})`),
    actions: policy.decisions.map((d) => ({
      action: d.action,
      disposition: d.disposition,
      why: d.reasons.join('; '),
    })),
    inputs: { ...request },
  });
  const responders = together
    ? early
    : since('containment-v1')
      ? (opts.responders ?? new Responders(ctx))
      : undefined;
  let needsHuman = false;
  const summary: string[] = [];
  const shadowRoute: { lookup?: Promise<string> } = {};
  const order = opts.beforeApprovals
    ? [
        ...policy.decisions.filter((d) => d.disposition !== 'approval'),
        ...policy.decisions.filter((d) => d.disposition === 'approval'),
      ]
    : policy.decisions;
  for (const d of order) {
    const params = paramsFor(d.action, ev);
    if (d.disposition === 'forbidden') {
      ctx.action({ action: d.action, status: 'forbidden', detail: { params, reasons: d.reasons } });
      continue;
    }
    // Shadow mode: recorded as would-have-done; nothing executed, nobody asked (./shadow.ts).
    if (ctx.shadow) {
      summary.push(await recordShadow(ctx, d, params, shadowRoute));
      continue;
    }
    // Incidents recorded before responders existed replay without them (patched); new ones execute.
    const canExecute = responders !== undefined && isContainmentAction(d.action);
    let decision = d;
    // A process action on a bare pid (no start time, no executable to confirm it is still the event's
    // process) is never automatic: a reused pid would be hit. A person confirms it instead.
    const barePid = canExecute && onBarePid(d.action, params);
    if (d.disposition === 'automatic') {
      const route = canExecute ? await responders.routeFor() : undefined;
      if (!canExecute || !route || route.kind === 'none' || !serves(route, d.action)) {
        ctx.action({
          action: d.action,
          status: 'skipped',
          detail: {
            params,
            why: `allowed automatically, but no responder can run it: ${route?.kind === 'none' ? route.why : route?.kind === 'agent' ? `the agent of ${route.agent.hostId} does not offer ${d.action}` : 'no responder executes this action'}`,
          },
        });
        summary.push(`${d.action} allowed (no responder)`);
        continue;
      }
      if (barePid) {
        decision = {
          ...d,
          disposition: 'approval',
          approvals: { needed: 1, roles: ['lead', 'admin'] },
          reasons: [...d.reasons, 'the event names the process by pid only: a person confirms it'],
        };
      } else {
        const reserved = slots?.[d.action];
        const slot = reserved
          ? responders.recordSlot(d, params, rules, reserved, askedAt)
          : await responders.reserve(d, params, rules);
        if (slot.granted) {
          const done = await responders.execute(route, d.action as ContainmentAction, params, 'automatic');
          summary.push(done.line);
          needsHuman ||= done.needsHuman;
          continue;
        }
        if (slot.reason === 'kill-switch') {
          ctx.action({
            action: d.action,
            status: 'refused',
            detail: { params, why: 'kill switch engaged', killSwitch: slot.killSwitch },
          });
          summary.push(`${d.action} REFUSED: kill switch engaged by ${slot.killSwitch.by ?? '?'}`);
          needsHuman = true;
          continue;
        }
        // The budget is spent: a person decides instead.
        decision = {
          ...d,
          disposition: 'approval',
          approvals: d.approvals ?? { needed: 1, roles: ['lead', 'admin'] },
          reasons: [...d.reasons, `automation budget spent (${slot.used}/${slot.limit}): approval needed`],
        };
      }
    }
    await flush();
    ctx.stage('awaiting-approval');
    const notify = async (stage: ApprovalStage, record: ApprovalRequestRecord) => {
      try {
        await notifyActivities.notifyApproval({
          stage,
          record,
          host: ev.host.id,
          rule: ev.detection.ruleName,
          verdict: rules.verdict,
          riskScore: rules.riskScore,
          reasons: rules.reasons,
        });
      } catch (e) {
        if (!(e instanceof ActivityFailure)) throw e;
        ctx.note(
          `approval ${record.approvalId}: the ${stage} notification failed (${describeFailure(e)}); the approval still waits`,
        );
      }
    };
    const out = await ctx.approvals.request(
      decision,
      params,
      `playbook:${playbook.name}`,
      ctx.settings.approval,
      notify,
    );
    if (out.granted && canExecute) {
      const route = await responders.routeFor();
      if (route.kind !== 'none' && serves(route, d.action)) {
        const done = await responders.execute(
          route,
          d.action as ContainmentAction,
          params,
          'approved',
          out.approval.approvalId,
        );
        summary.push(
          `${done.line} (approved by ${out.approval.approvers.map((a) => a.operator).join(' + ')})`,
        );
        needsHuman ||= done.needsHuman;
        continue;
      }
    }
    if (out.granted) {
      ctx.action({
        action: d.action,
        status: 'approved',
        detail: {
          params,
          approvalId: out.approval.approvalId,
          approvers: out.approval.approvers.map((a) => a.operator),
          why: 'approved; no responder for this action is deployed on this host, so nothing was executed',
        },
      });
      summary.push(`${d.action} approved by ${out.approval.approvers.map((a) => a.operator).join(' + ')}`);
    } else {
      ctx.action({
        action: d.action,
        status: out.status,
        detail: { params, approvalId: out.record.approvalId, by: out.record.decidedBy },
      });
      summary.push(`${d.action} ${out.status}`);
      if (out.status === 'expired') needsHuman = true;
    }
  }
  await flush();
  return { needsHuman, summary };
}
