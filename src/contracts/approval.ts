/** The approval gate's contract: the Update an operator's decision arrives through, and its query. */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { ApprovalAttempt, ApprovalRequestRecord } from '../policy/approval.js';

export interface ApprovalReceipt {
  approvalId: string;
  status: ApprovalRequestRecord['status'];
  approvers: string[];
  needed: number;
}

/** A refused attempt (validator rejection): it never reaches history through the Update, so the caller reports it. */
export interface RejectedAttempt {
  approvalId: string;
  operator: string;
  via: string;
  code: string;
  message: string;
  at: string;
}

export const decideUpdate = defineUpdate<ApprovalReceipt, [ApprovalAttempt]>('decide');
export const approvalsQuery = defineQuery<ApprovalRequestRecord[]>('approvals');
export const approvalRejectedSignal = defineSignal<[RejectedAttempt]>('approvalRejected');
/** An operator closes an incident the playbook left open for a human. */
export const resolveSignal = defineSignal<[{ operator: string; note: string; at: string }]>('resolve');
