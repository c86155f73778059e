/**
 * The approval gate (workflow-side). Handlers are registered when the incident starts, before anyone
 * can be asked. An approval is bound to the exact action and parameters (params hash), decided through
 * a Temporal Update whose validator applies src/policy/approval.ts (so a refused click never reaches
 * history), waits with a deadline and an escalation ladder (remind, then the next group), and falls back
 * to the safe default (deny) when nobody answers. State is workflow state: it survives restarts.
 */
import { ApplicationFailure, condition, setHandler } from '@temporalio/workflow';
import {
  approvalRejectedSignal,
  approvalsQuery,
  decideUpdate,
  type ApprovalReceipt,
} from '../../src/contracts/approval.js';
import { ACTIONS, type ActionDecision, type ActionName } from '../../src/policy/actions.js';
import { sinceV5 } from './patches.js';
import {
  checkApproval,
  paramsHashOf,
  type ApprovalAttempt,
  type ApprovalRequestRecord,
} from '../../src/policy/approval.js';

export type ApprovalStage = 'requested' | 'reminder' | 'escalated' | 'expired' | 'decided';

export interface ApprovalLadder {
  /** Remind the same group after this long without an answer. */
  remindAfterMs: number;
  /** Then ask the next group (escalation) after this long. */
  escalateAfterMs: number;
  /** Then give up: the safe default (deny), and the incident stays open for a human. */
  deadlineMs: number;
}

/** What the playbook receives: only the gate can produce a `granted` value (see GrantedApproval). */
export type ApprovalOutcome =
  | { granted: true; approval: GrantedApproval }
  | { granted: false; status: 'denied' | 'expired'; record: ApprovalRequestRecord };

declare const granted: unique symbol;
/**
 * Proof that an action was approved for these exact parameters. Its brand cannot be constructed outside
 * this module, so a high-impact activity that takes a GrantedApproval cannot be called without the gate
 * (the compile-time guard); the activity re-checks approvers and parameters at run time.
 */
export interface GrantedApproval {
  readonly [granted]: true;
  readonly approvalId: string;
  readonly action: ActionName;
  readonly params: Readonly<Record<string, string | number | boolean>>;
  readonly paramsHash: string;
  readonly approvers: readonly { operator: string; role: string; at: string; via: string }[];
}

export class ApprovalGate {
  private readonly records = new Map<string, ApprovalRequestRecord>();
  private seq = 0;

  constructor(
    private readonly incidentId: string,
    private readonly log: (summary: string, data?: Record<string, unknown>) => void,
  ) {
    setHandler(
      decideUpdate,
      (a): ApprovalReceipt => {
        const r = this.records.get(a.approvalId);
        if (!r) throw ApplicationFailure.nonRetryable(`no approval ${a.approvalId}`, 'not-found');
        const at = new Date().toISOString();
        if (a.decision === 'deny') {
          r.status = 'denied';
          r.decidedBy = { operator: a.operator.id, at, via: a.via, reason: a.reason };
          this.log(
            `approval ${r.approvalId} for ${r.action} DENIED by ${a.operator.id} (${a.operator.role}) via ${a.via}`,
            { reason: a.reason },
          );
        } else {
          r.approvers.push({ operator: a.operator.id, role: a.operator.role, at, via: a.via });
          this.log(
            `approval ${r.approvalId} for ${r.action}: approved by ${a.operator.id} (${a.operator.role}) via ${a.via} (${r.approvers.length}/${r.needed})`,
          );
          if (r.approvers.length >= r.needed) {
            r.status = 'approved';
            r.decidedBy = { operator: a.operator.id, at, via: a.via, reason: a.reason };
          }
        }
        return {
          approvalId: r.approvalId,
          status: r.status,
          approvers: r.approvers.map((x) => x.operator),
          needed: r.needed,
        };
      },
      {
        validator: (a: ApprovalAttempt) => {
          // Against the recorded deadline, in workflow time: an answer after it is refused even before the
          // deadline's timer has fired (it fires late when the worker or the server was down).
          const c = checkApproval(this.records.get(a.approvalId), a, Date.now());
          // A deny needs the same authority as an approval, except for the two-person rule.
          if (!c.ok && !(a.decision === 'deny' && c.code === 'duplicate'))
            throw ApplicationFailure.nonRetryable(c.message, c.code);
        },
      },
    );
    setHandler(approvalsQuery, () => [...this.records.values()]);
    setHandler(approvalRejectedSignal, (r) => {
      this.log(`refused approval attempt on ${r.approvalId} by ${r.operator} via ${r.via}: ${r.code}`, {
        message: r.message,
        at: r.at,
      });
    });
  }

  get pending(): ApprovalRequestRecord[] {
    return [...this.records.values()].filter((r) => r.status === 'pending');
  }

  /**
   * Ask for approval of `decision` (a policy result with disposition `approval`) on `params`, and wait.
   * `notify` is called at each step of the ladder (its failures are the caller's to record).
   */
  async request(
    decision: ActionDecision,
    params: Record<string, string | number | boolean>,
    requester: string,
    ladder: ApprovalLadder,
    notify: (stage: ApprovalStage, record: ApprovalRequestRecord) => Promise<void>,
  ): Promise<ApprovalOutcome> {
    if (decision.disposition !== 'approval' || !decision.approvals) {
      throw ApplicationFailure.nonRetryable(
        `${decision.action} was not decided as needing approval`,
        'InvalidInput',
      );
    }
    const now = Date.now();
    const approvalId = `${decision.action}-${++this.seq}`;
    const r: ApprovalRequestRecord = {
      approvalId,
      incidentId: this.incidentId,
      action: decision.action,
      class: ACTIONS[decision.action].class,
      params,
      paramsHash: paramsHashOf(decision.action, params),
      needed: decision.approvals.needed,
      roles: decision.approvals.roles,
      requester,
      requestedAt: new Date(now).toISOString(),
      deadline: new Date(now + ladder.deadlineMs).toISOString(),
      status: 'pending',
      approvers: [],
      escalation: 0,
    };
    this.records.set(approvalId, r);
    this.log(
      `approval ${approvalId} requested: ${r.action} (${r.class}) on ${JSON.stringify(params)}; ${r.needed} of ${r.roles.join('/')}`,
      { paramsHash: r.paramsHash },
    );
    await notify('requested', r);

    const decided = () => r.status !== 'pending';
    const steps: [number, ApprovalStage][] = [
      [ladder.remindAfterMs, 'reminder'],
      [ladder.escalateAfterMs, 'escalated'],
    ];
    // Each step waits until its time after the request, in workflow time: after the worker or the server was
    // down, a step already due runs at once and one past the deadline is skipped, so the safe default applies
    // at the recorded deadline's first chance (runs before the fifth up-front marker wait each step's
    // duration from the end of the previous wait, as recorded).
    const absolute = sinceV5('approval-ladder-absolute-v1');
    const until = async (after: number, since: number): Promise<boolean> => {
      if (!absolute) return condition(decided, Math.max(1, after - since));
      const left = now + after - Date.now();
      return left > 0 ? condition(decided, left) : decided();
    };
    const pastDeadline = () => absolute && Date.now() >= now + ladder.deadlineMs;
    let waited = 0;
    for (const [at, stage] of steps) {
      if (at <= waited || at >= ladder.deadlineMs) continue;
      if ((await until(at, waited)) || pastDeadline()) break;
      waited = at;
      r.escalation += 1;
      this.log(
        `approval ${approvalId}: no answer after ${Math.round(at / 1000)} s, ${stage === 'reminder' ? 'reminding' : 'escalating to the next group'}`,
      );
      await notify(stage, r);
    }
    if (!decided() && !(await until(ladder.deadlineMs, waited))) {
      r.status = 'expired';
      r.decidedBy = {
        operator: 'safe-default',
        at: new Date().toISOString(),
        via: 'deadline',
        reason: 'nobody answered before the deadline',
      };
      this.log(`approval ${approvalId} EXPIRED: safe default (deny) applied`);
      await notify('expired', r);
    } else {
      await notify('decided', r);
    }
    if (r.status === 'approved') {
      const g = {
        approvalId,
        action: r.action,
        params: { ...r.params },
        paramsHash: r.paramsHash,
        approvers: [...r.approvers],
      } as unknown as GrantedApproval;
      return { granted: true, approval: g };
    }
    return { granted: false, status: r.status === 'denied' ? 'denied' : 'expired', record: r };
  }
}
