/**
 * Which responder serves a host: an EDR vendor chosen by config, else the host's own agent when one has
 * registered. An agent is live when the Temporal server has seen it poll its task queue recently; an
 * agent that registered but is not polling is still routed to (the action then fails within its
 * schedule-to-start deadline and the incident escalates as "host unreachable").
 */
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
// @temporalio/proto is CommonJS: its namespaces come through the default export.
import proto from '@temporalio/proto';
import {
  agentQuery,
  agentTaskQueue,
  agentWorkflowId,
  type AgentRecord,
  type ResponderRoute,
} from '../contracts/agent.js';

/** Pollers seen within this window count as live (the server keeps ~5 minutes of poller history). */
const LIVE_WITHIN_MS = 90_000;

/** Whether a last poll at `seen` counts as live now. */
export function pollIsLive(seen: Date | undefined): boolean {
  return seen !== undefined && Date.now() - seen.getTime() < LIVE_WITHIN_MS;
}

export async function agentRecord(client: Client, host: string): Promise<AgentRecord | null> {
  try {
    return await client.workflow.getHandle(agentWorkflowId(host)).query(agentQuery);
  } catch (e) {
    if (e instanceof WorkflowNotFoundError) return null;
    throw e;
  }
}

/** The newest time the server saw a worker poll the host's activity task queue. */
export async function lastPoll(client: Client, namespace: string, host: string): Promise<Date | undefined> {
  const res = await client.workflowService.describeTaskQueue({
    namespace,
    taskQueue: {
      name: agentTaskQueue(host),
      kind: proto.temporal.api.enums.v1.TaskQueueKind.TASK_QUEUE_KIND_NORMAL,
    },
    taskQueueType: proto.temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
  });
  let newest: number | undefined;
  for (const p of res.pollers ?? []) {
    const t = p.lastAccessTime;
    if (!t?.seconds) continue;
    const ms = Number(t.seconds) * 1000 + Math.floor((t.nanos ?? 0) / 1e6);
    if (newest === undefined || ms > newest) newest = ms;
  }
  return newest === undefined ? undefined : new Date(newest);
}

export async function agentRoute(client: Client, namespace: string, host: string): Promise<ResponderRoute> {
  const agent = await agentRecord(client, host);
  if (!agent || agent.retired) {
    return {
      kind: 'none',
      why: agent ? `the agent of ${host} was retired` : `no agent has registered for ${host}`,
    };
  }
  const seen = await lastPoll(client, namespace, host);
  const { firstSeen: _f, registrations: _r, retired: _x, ...registration } = agent;
  return {
    kind: 'agent',
    taskQueue: agentTaskQueue(host),
    live: pollIsLive(seen),
    lastSeen: seen?.toISOString(),
    agent: registration,
  };
}
