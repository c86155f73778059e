/**
 * Workflow `agentRegistration`, id `agent-<host>`: the durable record of one host's endpoint agent.
 * Trigger: the agent signal-with-starts it on every start (`register`). Flow: keep the latest
 * registration (version, capabilities, dry-run-only actions); `retire` ends it. Liveness is not kept
 * here (the server's pollers on the host's task queue say that), so the history grows only on restarts;
 * continue-as-new keeps it short anyway. Side effects: none.
 */
import { condition, continueAsNew, setHandler } from '@temporalio/workflow';
import { agentQuery, registerSignal, retireSignal, type AgentRecord } from '../../src/contracts/agent.js';

const MAX_REGISTRATIONS_PER_RUN = 200;

export async function agentRegistration(carried: AgentRecord | null = null): Promise<AgentRecord | null> {
  let record = carried;
  let thisRun = 0;
  setHandler(registerSignal, (r) => {
    thisRun++;
    record = {
      ...r,
      firstSeen: record?.firstSeen ?? r.startedAt,
      registrations: (record?.registrations ?? 0) + 1,
    };
  });
  setHandler(retireSignal, (r) => {
    if (record) record = { ...record, retired: r };
  });
  setHandler(agentQuery, () => record);
  await condition(() => record?.retired !== undefined || thisRun >= MAX_REGISTRATIONS_PER_RUN);
  if (record?.retired) return record;
  return await continueAsNew<typeof agentRegistration>(record);
}
