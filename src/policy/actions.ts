/**
 * The closed catalogue of response actions and their blast radius (ARCHITECTURE.md, "Action classes").
 * observe: always allowed; low: automatic if policy allows; high: one authorized approval;
 * critical: two distinct authorized approvals. No policy can make a high or critical action automatic.
 */
import type { Severity } from '../events/detection-event.js';

export const ACTION_CLASSES = ['observe', 'low', 'high', 'critical'] as const;
export type ActionClass = (typeof ACTION_CLASSES)[number];

export interface ActionSpec {
  class: ActionClass;
  /** What the action acts on: its parameters are bound into any approval. */
  scope: 'incident' | 'process' | 'file' | 'host' | 'account';
  description: string;
}

export const ACTIONS = {
  'notify-email': { class: 'observe', scope: 'incident', description: 'email the analysts' },
  alert: { class: 'observe', scope: 'incident', description: 'raise an alert in the team channel' },
  'open-ticket': { class: 'observe', scope: 'incident', description: 'open or update a ticket' },
  throttle: { class: 'low', scope: 'process', description: "limit a process's CPU and I/O" },
  'suspend-process': {
    class: 'low',
    scope: 'process',
    description: 'stop (SIGSTOP) a process and its children; resumable',
  },
  'kill-process-tree': { class: 'low', scope: 'process', description: 'kill a process and its children' },
  'quarantine-file': { class: 'low', scope: 'file', description: 'move a file into the vault; restorable' },
  'block-process-network': { class: 'low', scope: 'process', description: 'cut one process off the network' },
  'isolate-host': {
    class: 'high',
    scope: 'host',
    description: 'drop all traffic but the management allowlist',
  },
  'lock-local-account': {
    class: 'high',
    scope: 'account',
    description: 'lock a local account and end its sessions',
  },
  'disable-account': {
    class: 'critical',
    scope: 'account',
    description: 'disable a directory account, revoke its credentials',
  },
  'reimage-host': { class: 'critical', scope: 'host', description: 're-image the host' },
} as const satisfies Record<string, ActionSpec>;
export type ActionName = keyof typeof ACTIONS;

export function isActionName(a: string): a is ActionName {
  return Object.hasOwn(ACTIONS, a);
}

/** How many distinct approvals an action needs when it is not automatic. */
export function approvalsNeeded(c: ActionClass): 1 | 2 {
  return c === 'critical' ? 2 : 1;
}

/** Classes that may ever run without a human: the run-time guard every decision passes through. */
export function mayBeAutomatic(c: ActionClass): boolean {
  return c === 'observe' || c === 'low';
}

export type Disposition = 'forbidden' | 'automatic' | 'approval';

export interface ActionDecision {
  action: ActionName;
  class: ActionClass;
  disposition: Disposition;
  /**
   * For `approval`: how many distinct approvers, and which roles may approve. (When an automatic action
   * is turned into an approval because the automation budget is spent, leads and admins decide it.)
   */
  approvals?: { needed: 1 | 2; roles: OperatorRole[] };
  /** The policies that decided (Cedar policy ids) and any guard that overrode them. */
  reasons: string[];
}

/** What the decision step is asked (activities/policy): the rule set's proposals and their context. */
export interface DecisionRequest {
  playbook: { name: string; version: string };
  host: string;
  severity: Severity;
  riskScore: number;
  verdict: 'benign' | 'suspicious' | 'malicious';
  techniques: string[];
  hasProcess: boolean;
  inContainer: boolean;
  proposed: ActionName[];
}

/** The decision step's answer: one decision per proposed action, and the policy set's version. */
export interface PolicyDecision {
  policyVersion: string;
  decisions: ActionDecision[];
}

export const OPERATOR_ROLES = ['analyst', 'lead', 'admin'] as const;
export type OperatorRole = (typeof OPERATOR_ROLES)[number];
