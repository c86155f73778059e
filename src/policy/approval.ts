/**
 * The approval gate's rules, pure and deterministic (they run in the workflow's Update validator):
 * an approval is bound to the exact action and its parameters; only the roles the policy named may
 * approve; the requester never approves; a critical action needs two distinct approvers; nothing is
 * accepted once the approval is decided.
 */
import type { ActionClass, ActionName, OperatorRole } from './actions.js';

export interface ApprovalRequestRecord {
  approvalId: string;
  incidentId: string;
  action: ActionName;
  class: ActionClass;
  /** The exact parameters (host, pid, path, ...) the approval is for. */
  params: Record<string, string | number | boolean>;
  /** Canonical hash of action + params: a click must name it, so an approval cannot be moved to other parameters. */
  paramsHash: string;
  needed: 1 | 2;
  /** Roles the policy allows to approve (computed by the policy engine when the approval was requested). */
  roles: OperatorRole[];
  /** Who asked: a playbook (`playbook:<name>`) or an operator id. Never an approver. */
  requester: string;
  requestedAt: string;
  deadline: string;
  status: 'pending' | 'approved' | 'denied' | 'expired';
  approvers: { operator: string; role: OperatorRole; at: string; via: string }[];
  decidedBy?: { operator: string; at: string; via: string; reason?: string };
  /** Escalation ladder position: 0 first ask, 1 reminded, 2 escalated to the next group. */
  escalation: number;
}

export interface ApprovalAttempt {
  approvalId: string;
  paramsHash: string;
  decision: 'approve' | 'deny';
  operator: { id: string; role: OperatorRole };
  via: 'cli' | 'http' | 'slack';
  reason?: string;
}

export type ApprovalCheck =
  | { ok: true }
  | {
      ok: false;
      code:
        | 'not-found'
        | 'already-decided'
        | 'expired'
        | 'wrong-parameters'
        | 'unauthorized'
        | 'requester'
        | 'duplicate';
      message: string;
    };

/**
 * Is this request closed to answers: decided already, or (given `now`, ms) past its recorded deadline? The
 * gate's validator and the intake's approval API both ask it, so they refuse with the same code and words.
 */
export function approvalClosed(
  r: ApprovalRequestRecord,
  now?: number,
): Extract<ApprovalCheck, { ok: false }> | undefined {
  if (r.status !== 'pending')
    return {
      ok: false,
      code: 'already-decided',
      message: `approval ${r.approvalId} was already ${r.status}${r.decidedBy ? ` by ${r.decidedBy.operator} at ${r.decidedBy.at}` : ''}`,
    };
  if (now !== undefined && now >= Date.parse(r.deadline))
    return {
      ok: false,
      code: 'expired',
      message: `approval ${r.approvalId} expired at ${r.deadline}: nobody answered before the deadline, and the safe default (deny) applies`,
    };
  return undefined;
}

/**
 * May this attempt decide this approval? `now` (ms; the workflow's time in the gate): past the recorded
 * deadline the request is closed even if the workflow has not yet applied the safe default (its timer
 * fires late after the worker or the server was down, or when a notification took long).
 */
export function checkApproval(
  r: ApprovalRequestRecord | undefined,
  a: ApprovalAttempt,
  now?: number,
): ApprovalCheck {
  if (!r) return { ok: false, code: 'not-found', message: `no approval ${a.approvalId} in this incident` };
  const closed = approvalClosed(r, now);
  if (closed) return closed;
  if (a.paramsHash !== r.paramsHash)
    return {
      ok: false,
      code: 'wrong-parameters',
      message: `approval ${r.approvalId} is for ${r.action} with other parameters`,
    };
  if (a.operator.id === r.requester)
    return {
      ok: false,
      code: 'requester',
      message: `${a.operator.id} requested this action and cannot decide it`,
    };
  if (!r.roles.includes(a.operator.role))
    return {
      ok: false,
      code: 'unauthorized',
      message: `role ${a.operator.role} may not decide ${r.action} (${r.class}); allowed: ${r.roles.join(', ') || 'nobody'}`,
    };
  if (r.approvers.some((x) => x.operator === a.operator.id))
    return {
      ok: false,
      code: 'duplicate',
      message: `${a.operator.id} already approved; ${r.needed} distinct approvers are needed`,
    };
  return { ok: true };
}

/** Canonical JSON (sorted keys) of action + params, hashed by the caller (the workflow has no crypto). */
export function canonicalParams(
  action: ActionName,
  params: Record<string, string | number | boolean>,
): string {
  return JSON.stringify([
    action,
    Object.keys(params)
      .sort()
      .map((k) => [k, params[k]]),
  ]);
}

/** FNV-1a 64-bit over a string, hex: deterministic and dependency-free for workflow code. */
export function fnv1a64(s: string): string {
  let h = 0xcbf29ce484222325n;
  const prime = 0x100000001b3n;
  for (let i = 0; i < s.length; i++) {
    h ^= BigInt(s.charCodeAt(i));
    h = (h * prime) & 0xffffffffffffffffn;
  }
  return h.toString(16).padStart(16, '0');
}

export function paramsHashOf(action: ActionName, params: Record<string, string | number | boolean>): string {
  return fnv1a64(canonicalParams(action, params));
}
