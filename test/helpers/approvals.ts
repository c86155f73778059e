/** Decide an incident's pending approvals as an operator, through the same Update the servers use. */
import type { Client } from '@temporalio/client';
import { approvalsQuery, decideUpdate } from '../../src/contracts/approval.js';
import type { OperatorRole } from '../../src/policy/actions.js';
import type { ApprovalRequestRecord } from '../../src/policy/approval.js';
import { temporalStarter } from '../../intake/incidents.js';
import type { NormalizedEvent } from '../../intake/normalize.js';
import { startWorker } from './temporal.js';

/** A pending approval request (isolate-host on web-01), for tests that need a record without a workflow. */
export function pendingApproval(over: Partial<ApprovalRequestRecord> = {}): ApprovalRequestRecord {
  return {
    approvalId: 'isolate-host-1',
    incidentId: 'inc-web-01-0123456789abcdef',
    action: 'isolate-host',
    class: 'high',
    params: { host: 'web-01' },
    paramsHash: '0123456789abcdef',
    needed: 1,
    roles: ['lead', 'admin'],
    requester: 'playbook:suspicious-process',
    requestedAt: '2026-11-26T09:00:00.000Z',
    deadline: '2026-11-26T09:15:00.000Z',
    status: 'pending',
    approvers: [],
    escalation: 0,
    ...over,
  };
}

export async function waitForApproval(
  client: Client,
  incidentId: string,
  timeoutMs = 20_000,
): Promise<ApprovalRequestRecord> {
  const h = client.workflow.getHandle(incidentId);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const pending = (await h.query(approvalsQuery)).find((r) => r.status === 'pending');
      if (pending) return pending;
    } catch {
      /* not started yet */
    }
    if (Date.now() > deadline) throw new Error(`no pending approval on ${incidentId}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function decide(
  client: Client,
  r: ApprovalRequestRecord,
  operator: { id: string; role: OperatorRole },
  decision: 'approve' | 'deny' = 'approve',
  paramsHash = r.paramsHash,
) {
  return client.withDeadline(Date.now() + 10_000, () =>
    client.workflow.getHandle(r.incidentId).executeUpdate(decideUpdate, {
      args: [{ approvalId: r.approvalId, paramsHash, decision, operator, via: 'cli' }],
    }),
  );
}

/**
 * An incident started on a worker with `env` (its VIGIL_TASK_QUEUE), left waiting on its first approval,
 * then the worker stopped: the approval stays pending with nobody to run the incident.
 */
export async function parkedThenStopped(
  client: Client,
  env: Record<string, string>,
  e: NormalizedEvent,
): Promise<ApprovalRequestRecord> {
  const worker = await startWorker(env);
  await temporalStarter(client.connection, client.options.namespace, env.VIGIL_TASK_QUEUE ?? '', 5000).start(
    e.incidentId,
    e.correlationKey,
    e.event,
  );
  const r = await waitForApproval(client, e.incidentId);
  await worker.stop();
  return r;
}
