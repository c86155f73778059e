/**
 * The automation control seen from activities: reserve a slot for an automatic action (kill switch and
 * budget, one Update deduplicated by its id so a retried reservation is answered the same), read the
 * state, and change it on an operator's behalf.
 */
import { controlTaskQueue } from '../contracts/queues.js';
import { WithStartWorkflowOperation, WorkflowNotFoundError, type Client } from '@temporalio/client';
import {
  budgetUpdate,
  CONTROL_WORKFLOW,
  controlWorkflowId,
  controlQuery,
  killSwitchUpdate,
  reserveUpdate,
  type BudgetSettings,
  type ControlCarry,
  type ControlState,
  type KillSwitchState,
  type ReserveAnswer,
  type ReserveRequest,
} from '../contracts/automation.js';
import { createHash } from 'node:crypto';

export interface AutomationControl {
  reserve(req: ReserveRequest): Promise<ReserveAnswer>;
  state(): Promise<ControlState>;
  killSwitch(): Promise<KillSwitchState>;
  setKillSwitch(s: { engaged: boolean; by: string; reason: string }): Promise<KillSwitchState>;
  setBudget(b: BudgetSettings & { by: string }): Promise<BudgetSettings>;
}

export function createAutomationControl(
  client: Client,
  opts: { taskQueue: string; budget: BudgetSettings },
): AutomationControl {
  const start = () =>
    new WithStartWorkflowOperation(CONTROL_WORKFLOW, {
      workflowId: controlWorkflowId(opts.taskQueue),
      taskQueue: controlTaskQueue(opts.taskQueue),
      args: [
        {
          killSwitch: { engaged: false },
          budget: opts.budget,
          grants: [],
          history: [],
        } satisfies ControlCarry,
      ],
      workflowIdConflictPolicy: 'USE_EXISTING',
    });
  const handle = () => client.workflow.getHandle(controlWorkflowId(opts.taskQueue));
  const offState = (): ControlState => ({
    killSwitch: { engaged: false },
    budget: opts.budget,
    used: 0,
    history: [],
  });
  const state = async (): Promise<ControlState> => {
    try {
      return await handle().query(controlQuery);
    } catch (e) {
      // Never started: nobody engaged the switch and nothing was reserved.
      if (e instanceof WorkflowNotFoundError) return offState();
      throw e;
    }
  };
  return {
    reserve: (req) =>
      client.workflow.executeUpdateWithStart(reserveUpdate, {
        args: [req],
        updateId: `reserve-${createHash('sha256').update(req.key).digest('hex').slice(0, 32)}`,
        startWorkflowOperation: start(),
      }),
    state,
    killSwitch: async () => (await state()).killSwitch,
    setKillSwitch: (s) =>
      client.workflow.executeUpdateWithStart(killSwitchUpdate, {
        args: [{ ...s, at: new Date().toISOString() }],
        startWorkflowOperation: start(),
      }),
    setBudget: (b) =>
      client.workflow.executeUpdateWithStart(budgetUpdate, {
        args: [{ ...b, at: new Date().toISOString() }],
        startWorkflowOperation: start(),
      }),
  };
}

/**
 * The kill switch as an executor (agent, EDR worker) reads it: of the deployment that sent each action (its
 * playbook task queue), else the executor's own. Reservations are the playbook worker's, never an executor's.
 */
export function killSwitchReader(client: Client, defaultQueue: string) {
  const controls = new Map<string, AutomationControl>();
  return (queue = defaultQueue): Promise<KillSwitchState> => {
    let c = controls.get(queue);
    if (!c) {
      c = createAutomationControl(client, { taskQueue: queue, budget: { limit: 0, windowSeconds: 3600 } });
      controls.set(queue, c);
    }
    return c.killSwitch();
  };
}
