/** Decide an incident's pending approvals as an operator, through the same Update the servers use. */
import type { Client } from '@temporalio/client';
import { approvalsQuery, decideUpdate } from '../../src/contracts/approval.js';
import type { OperatorRole } from '../../src/policy/actions.js';
import type { ApprovalRequestRecord } from '../../src/policy/approval.js';

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
