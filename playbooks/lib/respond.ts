/**
 * Executing containment from a playbook (workflow-safe). The route (the host's agent, an EDR vendor, or
 * none) is looked up once per run; an automatic action first reserves a slot with the automation control
 * (kill switch, budget); the action runs on the executor's own task queue, once per idempotency key; a
 * reversible effect is then held by a `containment` workflow that lifts it after its time limit (isolation)
 * or on an operator's release. An executor that does not pick the action up within its deadline makes the
 * action fail as "host unreachable", and the incident is left to a person.
 */
import { ActivityFailure, ParentClosePolicy, startChild, workflowInfo } from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { ResponderRoute } from '../../src/contracts/agent.js';
import type { ReserveAnswer, ReserveRequest } from '../../src/contracts/automation.js';
import { containmentWorkflowId } from '../../src/contracts/containment.js';
import {
  UNDO_NAME,
  type ContainmentAction,
  type ContainmentHold,
  type ContainmentMode,
} from '../../src/contracts/response.js';
import type { PlaybookSettings } from '../../src/contracts/playbook.js';
import type { Verdict } from '../../src/contracts/incident.js';
import type { ActionDecision } from '../../src/policy/actions.js';
import { containment } from '../control/containment.js';
import { describeFailure, failureType, isUnreachable } from './failures.js';
import type { PlaybookContext } from './playbook.js';
import { executorActivities, routingLookups } from './presets.js';
import { since } from './patches.js';
import { routedAhead } from './prefetch.js';
import { paramsDigest, reservation } from '../../src/policy/plan.js';

export const RESPONSE_DEFAULTS: NonNullable<PlaybookSettings['response']> = {
  scheduleToStartMs: 30_000,
  isolationLimitMs: 4 * 3600_000,
  holdMaxMs: 30 * 24 * 3600_000,
};

/** The action's own parameters (the contract's), from the parameters an approval is bound to. */
export function targetParams(
  action: ContainmentAction,
  bound: Record<string, string | number | boolean>,
): Record<string, unknown> {
  switch (action) {
    case 'suspend-process':
    case 'kill-process-tree':
    case 'block-process-network': {
      const p: Record<string, unknown> = { pid: bound.pid };
      if (bound.startTime !== undefined) p.startTime = bound.startTime;
      if (bound.executable !== undefined) p.executable = bound.executable;
      return p;
    }
    case 'quarantine-file': {
      const p: Record<string, unknown> = { path: bound.path };
      if (typeof bound.sha256 === 'string' && /^[0-9a-f]{64}$/.test(bound.sha256)) p.sha256 = bound.sha256;
      return p;
    }
    case 'isolate-host':
      return {};
    case 'lock-local-account':
      return { account: bound.account };
  }
}

export interface Executed {
  line: string;
  needsHuman: boolean;
}

/** Routes once per playbook run (a lookup failure means: no responder known). */
export class Responders {
  private lookup?: Promise<ResponderRoute>;
  private slotCheckedAt?: string;
  constructor(private readonly ctx: PlaybookContext) {}

  /** The host's route, looked up once per run (concurrent callers share the one lookup). */
  routeFor(): Promise<ResponderRoute> {
    this.lookup ??= this.lookupRoute();
    return this.lookup;
  }

  private async lookupRoute(): Promise<ResponderRoute> {
    try {
      const host = this.ctx.event.host.id;
      return await (routedAhead(host) ?? routingLookups().findResponder(host));
    } catch (e) {
      if (!(e instanceof ActivityFailure)) throw e;
      return { kind: 'none', why: `the responder lookup failed (${describeFailure(e)})` };
    }
  }

  /** The reservation for one action on its bound parameters (stable: a retry asks the same). */
  reservation(action: string, bound: Record<string, string | number | boolean>): ReserveRequest {
    const { incident, event } = this.ctx;
    return reservation(incident.incidentId, event.host.id, action, bound, new Date().toISOString());
  }

  /**
   * Ask the automation control for a slot: granted, refused by the kill switch, or over budget (the
   * caller then asks a person instead).
   */
  async reserve(
    d: ActionDecision,
    bound: Record<string, string | number | boolean>,
    rules: { verdict: Verdict; riskScore: number },
  ) {
    // Workflow time before the grant, so at or before its kill-switch check (see killSwitchCheckedAt).
    const askedAt = new Date().toISOString();
    const answer = await routingLookups().reserveAutomation(this.reservation(d.action, bound));
    return this.recordSlot(d, bound, rules, answer, askedAt);
  }

  /**
   * Record the automation control's answer for an automatic action (asked by `reserve`, or together with the
   * policy decision by decideAndReserve); `askedAt` is the workflow time before it was asked.
   */
  recordSlot(
    d: ActionDecision,
    bound: Record<string, string | number | boolean>,
    rules: { verdict: Verdict; riskScore: number },
    answer: ReserveAnswer,
    askedAt: string,
  ): ReserveAnswer {
    this.slotCheckedAt = askedAt;
    // A slot handed out from the worker's lease carries when the switch was last seen released, which can
    // be before this reservation: the older of the two is what the executor measures the check's age from.
    if (answer.granted && answer.checkedAt && answer.checkedAt < this.slotCheckedAt)
      this.slotCheckedAt = answer.checkedAt;
    this.ctx.decision({
      at: new Date().toISOString(),
      kind: 'automation',
      by: 'automation-control',
      version: '1',
      verdict: rules.verdict,
      riskScore: rules.riskScore,
      actions: [
        {
          action: d.action,
          disposition: answer.granted ? 'automatic' : answer.reason === 'budget' ? 'approval' : 'forbidden',
          why: answer.granted ? 'slot granted' : answer.reason,
        },
      ],
      reasons: [
        answer.granted
          ? `automatic ${d.action}: slot ${answer.used}/${answer.limit}`
          : answer.reason === 'kill-switch'
            ? `kill switch engaged by ${answer.killSwitch.by ?? '?'}: ${answer.killSwitch.reason ?? ''}`
            : `automation budget spent (${answer.used}/${answer.limit} per ${answer.windowSeconds}s): asking a person`,
      ],
      inputs: { action: d.action, params: bound },
    });
    return answer;
  }

  /** Run one containment action on the route's executor and record what happened. */
  async execute(
    route: Extract<ResponderRoute, { kind: 'agent' | 'edr' }>,
    action: ContainmentAction,
    bound: Record<string, string | number | boolean>,
    mode: ContainmentMode,
    approvalId?: string,
  ): Promise<Executed> {
    const ctx = this.ctx;
    const settings = ctx.settings.response ?? RESPONSE_DEFAULTS;
    const host = ctx.event.host.id;
    const params = targetParams(action, bound);
    const info = workflowInfo();
    // One effect per decision: the run, the action, its target, and how many actions the incident had
    // recorded when it was decided (a later re-run of the playbook is a new decision, a retry is not).
    const seq = ctx.incident.actions.length;
    const idempotencyKey = `${info.workflowId}:${info.runId}:${action}:${paramsDigest(params)}:${seq}`;
    const via = route.kind === 'agent' ? `agent ${route.taskQueue}` : `${route.vendor} (EDR)`;
    ctx.stage('responding');
    try {
      const result = await executorActivities(route.taskQueue, settings.scheduleToStartMs).executeContainment(
        {
          request: {
            action,
            op: 'apply',
            host,
            params,
            idempotencyKey,
            dryRun: false,
            incidentId: ctx.incident.incidentId,
            decidedAt: new Date().toISOString(),
          },
          mode,
          approvalId,
          controlQueue: info.taskQueue,
          ...(mode === 'automatic' && this.slotCheckedAt ? { killSwitchCheckedAt: this.slotCheckedAt } : {}),
        },
      );
      ctx.action({
        action,
        status: result.status === 'dry-run' ? 'skipped' : 'executed',
        idempotencyKey,
        detail: { mode, via, approvalId, result },
      });
      if (result.status === 'dry-run') {
        return { line: `${action} dry-run on ${host} (${result.plan.join('; ')})`, needsHuman: false };
      }
      let held = '';
      if (UNDO_NAME[action] !== null) {
        const liftAt =
          action === 'isolate-host'
            ? new Date(Date.now() + settings.isolationLimitMs).toISOString()
            : undefined;
        const hold: ContainmentHold = {
          incidentId: ctx.incident.incidentId,
          action,
          host,
          params,
          taskQueue: route.taskQueue,
          appliedAt: result.at,
          liftAt,
          maxHoldMs: settings.holdMaxMs,
          scheduleToStartMs: settings.scheduleToStartMs,
          result,
        };
        const base = `${containmentWorkflowId(ctx.incident.incidentId, action)}-${paramsDigest(params).slice(0, 8)}`;
        // Holds started before hold ids carried the decision replay with their old id.
        const workflowId = since('hold-ids-v2') ? `${base}-${info.runId.slice(0, 8)}-${seq}` : base;
        try {
          await startChild(containment, {
            workflowId,
            args: [hold],
            parentClosePolicy: ParentClosePolicy.ABANDON,
          });
        } catch (e) {
          // The same hold already runs: the effect is held; never fail the incident over it.
          if (!(e instanceof WorkflowExecutionAlreadyStartedError)) throw e;
          ctx.note(`${action} is already held by ${workflowId}`);
        }
        held = liftAt
          ? `; lifts itself at ${liftAt} unless extended (${workflowId})`
          : `; undo: release ${workflowId}`;
        ctx.note(`${action} held by ${workflowId}`, { liftAt });
      }
      return {
        line: `${action} executed on ${host} by ${via}: ${result.verified}${held}`,
        needsHuman: false,
      };
    } catch (e) {
      if (!(e instanceof ActivityFailure)) throw e;
      const unreachable = isUnreachable(e);
      const killSwitch = failureType(e) === 'Forbidden' && mode === 'automatic';
      const why = unreachable
        ? `host unreachable: ${via} did not pick the action up within ${settings.scheduleToStartMs} ms`
        : describeFailure(e);
      ctx.action({
        action,
        status: killSwitch ? 'refused' : 'failed',
        idempotencyKey,
        error: why,
        detail: { mode, via, approvalId, params },
      });
      return { line: `${action} ${killSwitch ? 'REFUSED' : 'FAILED'} on ${host}: ${why}`, needsHuman: true };
    }
  }
}
