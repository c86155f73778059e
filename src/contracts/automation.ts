/**
 * The automation control: one long-lived workflow that holds the kill switch and the automation budget.
 * Every automatic containment action reserves a slot here first (an Update, deduplicated by its id),
 * and the agent checks the kill switch again right before it acts, so engaging the switch stops new and
 * in-flight automatic actions. An exhausted budget turns further automatic actions into approval requests.
 */
import { defineQuery, defineUpdate } from '@temporalio/workflow';

export const CONTROL_WORKFLOW = 'automationControl';
/** One control per deployment (its playbook task queue): a kill switch covers everything that queue runs. */
export function controlWorkflowId(playbookTaskQueue: string): string {
  return `vigil-automation-control-${playbookTaskQueue}`;
}

export interface KillSwitchState {
  engaged: boolean;
  by?: string;
  at?: string;
  reason?: string;
}

export interface BudgetSettings {
  /** At most this many automatic containment actions per window, across all playbooks. */
  limit: number;
  windowSeconds: number;
}

export interface ReserveRequest {
  /** Stable per action (incident + action + parameters): a retried reservation is the same one. */
  key: string;
  incidentId: string;
  action: string;
  host: string;
  at: string;
}

export type ReserveAnswer =
  | {
      granted: true;
      used: number;
      limit: number;
      /**
       * When the kill switch was last seen released before this grant (ISO): a slot taken from a lease
       * (below) was checked then, not at the grant. Absent: checked by the grant itself.
       */
      checkedAt?: string;
    }
  | { granted: false; reason: 'kill-switch'; killSwitch: KillSwitchState }
  | { granted: false; reason: 'budget'; used: number; limit: number; windowSeconds: number };

export interface ControlState {
  killSwitch: KillSwitchState;
  budget: BudgetSettings;
  /** Reservations inside the current window (newest last). */
  used: number;
  history: { at: string; by: string; change: string }[];
}

/** What the control workflow carries across continue-as-new. */
export interface ControlCarry {
  killSwitch: KillSwitchState;
  budget: BudgetSettings;
  /** Grants inside the window: time (ms) and key, so a retried reservation is answered the same. */
  grants: { at: number; key: string }[];
  history: ControlState['history'];
}

/**
 * A playbook worker leases a few slots at once and hands them out to its reservations without a round trip
 * (src/control/automation.ts). Leased slots count against the budget from the lease on; unused ones are
 * given back (`release`) when the lease expires.
 */
export interface LeaseRequest {
  /** Unique per lease (the worker's id and a sequence number): a retried lease is answered the same. */
  leaseId: string;
  want: number;
  at: string;
}

export type LeaseAnswer =
  | {
      granted: true;
      /** One grant key per slot (fewer than wanted, or none, when the budget is nearly spent). */
      keys: string[];
      used: number;
      limit: number;
      windowSeconds: number;
    }
  | { granted: false; reason: 'kill-switch'; killSwitch: KillSwitchState };

export const reserveUpdate = defineUpdate<ReserveAnswer, [ReserveRequest]>('reserve');
export const leaseUpdate = defineUpdate<LeaseAnswer, [LeaseRequest]>('lease');
/** Give back leased slots that were not used: they stop counting against the budget. */
export const releaseUpdate = defineUpdate<number, [{ keys: string[]; at: string }]>('release');
export const killSwitchUpdate = defineUpdate<
  KillSwitchState,
  [{ engaged: boolean; by: string; reason: string; at: string }]
>('setKillSwitch');
export const budgetUpdate = defineUpdate<BudgetSettings, [BudgetSettings & { by: string; at: string }]>(
  'setBudget',
);
export const controlQuery = defineQuery<ControlState>('control');
