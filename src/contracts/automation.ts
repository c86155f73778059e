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
  | { granted: true; used: number; limit: number }
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

export const reserveUpdate = defineUpdate<ReserveAnswer, [ReserveRequest]>('reserve');
export const killSwitchUpdate = defineUpdate<
  KillSwitchState,
  [{ engaged: boolean; by: string; reason: string; at: string }]
>('setKillSwitch');
export const budgetUpdate = defineUpdate<BudgetSettings, [BudgetSettings & { by: string; at: string }]>(
  'setBudget',
);
export const controlQuery = defineQuery<ControlState>('control');
