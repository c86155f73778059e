/**
 * Workflows (benchmark baselines only): a bare Temporal workflow doing the SAME activities as Vigil's
 * playbook for the bench's event, through the SAME proxies (playbooks/lib/presets.ts: the same local
 * lookups, timeouts and retry budgets), with none of Vigil's engine around them: no signals, no settings
 * lookup, no correlation, no rule set (the two responses it proposes are written in), no responder lookup,
 * no automation budget or kill switch, no status, no search attributes, no quiet period, no approval gate
 * (it sends the approval request's email and ends). Bundled by bench/bare-worker.ts with bundleWorkflowCode.
 */
import { ApplicationFailure, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { IncidentNotice } from '../src/contracts/playbook.js';
import type { DetectionEvent } from '../src/events/detection-event.js';
import { enrichmentLookups, notifyActivities, policyLookups } from '../playbooks/lib/presets.js';
import { BARE_RULES } from './bare-request.js';

/** The rule set is Vigil's, so the baseline takes its answer for the bench's event as given (checked by the bench). */
const { riskScore, verdict, proposed: PROPOSED } = BARE_RULES;

/** enrichEvent and decideActions (local, as Vigil's), then the same request Vigil sends to Cedar. */
async function enrichAndDecide(event: DetectionEvent) {
  const enrichment = await enrichmentLookups().enrichEvent(event);
  const policy = await policyLookups().decideActions({
    playbook: { name: 'suspicious-process', version: '1.0.0' },
    host: event.host.id,
    severity: event.detection.severity,
    riskScore,
    verdict,
    techniques: enrichment.techniques.map((t) => t.id),
    hasProcess: event.process !== undefined,
    inContainer: event.container?.id !== undefined,
    proposed: PROPOSED,
  });
  return { enrichment, policy };
}

/**
 * Scenarios 1-4's baseline: what one Vigil incident for the bench's event does in activities (enrichment
 * and the policy decision as local activities, the incident email, the approval request's email for each
 * response the policy leaves to a person), and nothing else.
 */
export async function bareIncident(event: DetectionEvent): Promise<string> {
  const { enrichment, policy } = await enrichAndDecide(event);
  const incidentId = workflowInfo().workflowId;
  const host = event.host.name ?? event.host.id;
  const notice: IncidentNotice = {
    incidentId,
    host,
    rule: event.detection.ruleName,
    severity: event.detection.severity,
    verdict,
    riskScore,
    techniques: enrichment.techniques,
    lineage: enrichment.lineage,
    reasons: ['bench baseline'],
    recommended: PROPOSED,
    eventCount: 1,
    firstSeen: event.observedAt,
    commandLine: event.process?.commandLine,
    playbook: 'bare@0',
  };
  const receipt = await notifyActivities.notifyEmail(notice);
  const now = new Date().toISOString();
  for (const d of policy.decisions.filter((x) => x.disposition === 'approval')) {
    await notifyActivities.notifyApproval({
      stage: 'requested',
      record: {
        approvalId: `${incidentId}-${d.action}`,
        incidentId,
        action: d.action,
        class: d.class,
        params: { host: event.host.id },
        paramsHash: 'bench',
        needed: d.approvals?.needed ?? 1,
        roles: d.approvals?.roles ?? ['lead'],
        requester: 'playbook:bare',
        requestedAt: now,
        deadline: now,
        status: 'pending',
        approvers: [],
        escalation: 0,
      },
      host: event.host.id,
      rule: event.detection.ruleName,
      verdict,
      riskScore,
      reasons: d.reasons,
    });
  }
  return receipt.messageId;
}

const barePreset = (hostQueue: string) =>
  proxyActivities<{ bareSuspend(pid: number): Promise<string> }>({
    taskQueue: hostQueue,
    scheduleToStartTimeout: '30s',
    startToCloseTimeout: '60s',
    heartbeatTimeout: '10s',
    retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '10s', maximumAttempts: 5 },
  });

/**
 * Scenario 5's baseline, the bare equivalent of detection to containment on the automated path: the same
 * enrichment and policy decision as local activities, then, when the policy allows suspend-process
 * automatically, one activity on the host's own task queue (served by bench/bare-agent.ts) that sends
 * SIGSTOP and answers when /proc shows it stopped. Activity options as Vigil's executor preset.
 */
export async function bareContain(hostQueue: string, event: DetectionEvent): Promise<string> {
  const { policy } = await enrichAndDecide(event);
  const suspend = policy.decisions.find((d) => d.action === 'suspend-process');
  if (suspend?.disposition !== 'automatic' || event.process?.pid === undefined)
    throw ApplicationFailure.nonRetryable(`suspend-process is ${suspend?.disposition ?? 'not decided'}`);
  return barePreset(hostQueue).bareSuspend(event.process.pid);
}

/** The earlier, smaller baseline of scenario 5, printed for reference: the one activity alone. */
export async function bareContainMinimal(hostQueue: string, pid: number): Promise<string> {
  return barePreset(hostQueue).bareSuspend(pid);
}
