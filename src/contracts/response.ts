/**
 * The containment contract shared by the playbooks, the endpoint agent and the EDR adapters.
 * A playbook asks for one action on one host; whoever executes it (the agent on that host's task queue,
 * or an EDR vendor chosen by config for hosts without an agent) answers with a `ResponseResult`.
 * Every request carries an idempotency key (workflow id + activity label): a retried or duplicated
 * request has exactly one effect, and the second answer says so (`already`).
 */
import type {
  AccountTarget,
  FileTarget,
  HostTarget,
  ProcessTarget,
  ResponseRequest,
  ResponseResult,
} from './response-schemas.js';

// The types only: the zod schemas that check them live in response-schemas.ts, so that the workflow bundle
// (which imports the constants here) does not carry a validation library that every incident would
// evaluate again in its own module cache.
export type { AccountTarget, FileTarget, HostTarget, ProcessTarget, ResponseRequest, ResponseResult };

/** The closed list of containment actions a responder may execute, with their inverse. */
export const CONTAINMENT_ACTIONS = [
  'suspend-process',
  'kill-process-tree',
  'quarantine-file',
  'block-process-network',
  'isolate-host',
  'lock-local-account',
] as const;
export type ContainmentAction = (typeof CONTAINMENT_ACTIONS)[number];

/** What `undo` means per action; `kill-process-tree` has no undo. */
export const UNDO_NAME: Record<ContainmentAction, string | null> = {
  'suspend-process': 'resume-process',
  'kill-process-tree': null,
  'quarantine-file': 'restore-file',
  'block-process-network': 'unblock-process-network',
  'isolate-host': 'release-host',
  'lock-local-account': 'unlock-local-account',
};

export function isContainmentAction(a: string): a is ContainmentAction {
  return (CONTAINMENT_ACTIONS as readonly string[]).includes(a);
}

export const RESPONSE_STATUSES = [
  /** The effect is in place now (and verified by its post-condition). */
  'applied',
  /** The undo is in place now (verified). */
  'undone',
  /** Nothing changed: what would have been done is in `plan`. */
  'dry-run',
] as const;

/** Anything that executes containment: the local agent's responder or an EDR vendor's. */
export interface Responder {
  /** `agent` or the vendor's name. */
  readonly name: string;
  execute(req: ResponseRequest): Promise<ResponseResult>;
  /** Whether this idempotency key was started before (a crashed attempt to finish, not a new action). */
  known?(key: string): boolean | Promise<boolean>;
  close(): void | Promise<void>;
}

/** How a containment request reached the executor: the kill switch stops only automatic ones. */
export const CONTAINMENT_MODES = ['automatic', 'approved', 'undo'] as const;
export type ContainmentMode = (typeof CONTAINMENT_MODES)[number];

export interface ContainmentInput {
  request: ResponseRequest;
  mode: ContainmentMode;
  /** The approval that granted it (mode `approved`). */
  approvalId?: string;
  /** The playbook task queue whose automation control (kill switch) governs this action. */
  controlQueue?: string;
  /**
   * Mode `automatic`: the workflow time taken just BEFORE the automation control granted the slot (so at
   * or before the kill-switch check that came with it). An executor that starts the action within
   * KILL_SWITCH_FRESH_MS of it skips its own kill-switch query: the switch still bites within a second.
   */
  killSwitchCheckedAt?: string;
}

/** How long the kill-switch check of a slot grant stands in for the executor's own query. */
export const KILL_SWITCH_FRESH_MS = 500;

/**
 * One applied, reversible containment, held by a `containment` workflow (id `containment-<incident>-<action>`)
 * that outlives the incident run: it lifts the effect after `liftAt` unless an analyst extends it, or when
 * an operator releases it. The undo runs on the same executor that applied it.
 */
export interface ContainmentHold {
  incidentId: string;
  action: ContainmentAction;
  host: string;
  params: Record<string, unknown>;
  /** The executor's task queue (the agent's or the EDR worker's). */
  taskQueue: string;
  appliedAt: string;
  /** When the effect lifts itself, unless extended; absent = held until released. */
  liftAt?: string;
  /** A hold without a timer still ends after this long, leaving the effect in place (recorded). */
  maxHoldMs: number;
  scheduleToStartMs: number;
  result: ResponseResult;
}

export interface ContainmentState extends ContainmentHold {
  status: 'active' | 'released' | 'lift-failed' | 'abandoned';
  history: { at: string; by: string; what: string }[];
  undo?: ResponseResult;
  error?: string;
}

export interface ExtendRequest {
  operator: string;
  role: string;
  /** How much longer than now the effect stays. */
  forMs: number;
  reason: string;
}
export interface ReleaseRequest {
  operator: string;
  role: string;
  reason: string;
}
