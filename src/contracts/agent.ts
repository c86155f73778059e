/**
 * Endpoint agents: each protected host runs one Temporal worker on its own task queue, so a playbook
 * routes a containment action to exactly one host. The agent registers itself (host id, version,
 * capabilities) in a long-lived `agentRegistration` workflow per host; liveness is what the Temporal
 * server itself sees: the pollers on the host's task queue (no heartbeat traffic in any history).
 */
import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { ContainmentAction } from './response.js';

export const AGENT_WORKFLOW = 'agentRegistration';
export const AGENT_TASK_QUEUE_PREFIX = 'vigil-agent-';
export const EDR_TASK_QUEUE = 'vigil-response-edr';

/** Host ids become task-queue and workflow-id parts: keep them to a safe alphabet. */
export function safeHostPart(host: string): string {
  return host
    .toLowerCase()
    .replace(/[^a-z0-9._-]/g, '_')
    .slice(0, 200);
}
export function agentTaskQueue(host: string): string {
  return `${AGENT_TASK_QUEUE_PREFIX}${safeHostPart(host)}`;
}
export function agentWorkflowId(host: string): string {
  return `agent-${safeHostPart(host)}`;
}

export interface AgentRegistration {
  hostId: string;
  version: string;
  /** The actions this agent executes; `isolate-host` marked dry-run when the agent may not enforce it. */
  capabilities: ContainmentAction[];
  /** Actions the agent answers in dry-run only (e.g. isolation on a developer machine). */
  dryRunOnly: ContainmentAction[];
  pid: number;
  startedAt: string;
  /** Where the agent's Prometheus metrics are served, if anywhere. */
  metrics?: string;
  /**
   * Syscall capture (`captureSyscalls`, VIGIL_AGENT_CAPTURE): its bounds, and whether the agent scores a
   * window locally. Absent: the agent does not capture (and older agents never said).
   */
  capture?: { maxSeconds: number; maxCalls: number; prefilter: boolean };
}

export interface AgentRecord extends AgentRegistration {
  firstSeen: string;
  registrations: number;
  retired?: { at: string; by: string };
}

export const registerSignal = defineSignal<[AgentRegistration]>('register');
export const retireSignal = defineSignal<[{ by: string; at: string }]>('retire');
export const agentQuery = defineQuery<AgentRecord | null>('agent');

/** Which responder serves a host, as the playbook sees it. */
export type ResponderRoute =
  | { kind: 'agent'; taskQueue: string; live: boolean; lastSeen?: string; agent: AgentRegistration }
  | { kind: 'edr'; vendor: string; taskQueue: string }
  | { kind: 'none'; why: string };
