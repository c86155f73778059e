/**
 * Workflow (benchmark baseline only): the bare minimum an engine needs to turn one detection into one
 * notification on Temporal. It calls the SAME activities as Vigil's playbooks (enrichEvent, then
 * notifyEmail) through the SAME proxies (playbooks/lib/presets.ts: same timeouts and retry budgets), but
 * has none of Vigil's incident logic: no signals, no settings lookup, no routing, no rule set, no status,
 * no search attributes, no quiet period. Bundled by bench/bare-worker.ts with bundleWorkflowCode.
 */
import { proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { IncidentNotice } from '../src/contracts/playbook.js';
import type { DetectionEvent } from '../src/events/detection-event.js';
import { enrichmentLookups, notifyActivities } from '../playbooks/lib/presets.js';

export async function bareIncident(event: DetectionEvent): Promise<string> {
  const enrichment = await enrichmentLookups().enrichEvent(event);
  const notice: IncidentNotice = {
    incidentId: workflowInfo().workflowId,
    host: event.host.name ?? event.host.id,
    rule: event.detection.ruleName,
    severity: event.detection.severity,
    verdict: 'suspicious',
    riskScore: 50,
    techniques: enrichment.techniques,
    lineage: enrichment.lineage,
    reasons: ['bench baseline'],
    recommended: [],
    eventCount: 1,
    firstSeen: event.observedAt,
    commandLine: event.process?.commandLine,
    playbook: 'bare@0',
  };
  const receipt = await notifyActivities.notifyEmail(notice);
  return receipt.messageId;
}

/**
 * The bare equivalent of detection to containment: one activity on the host's own task queue (served by
 * bench/bare-agent.ts) sends SIGSTOP to the pid and answers when /proc shows it stopped. No policy, no
 * enrichment, no notification, no routing lookup, no automation budget, no hold workflow. Activity options
 * as Vigil's executor preset (playbooks/lib/presets.ts executorActivities).
 */
export async function bareContain(hostQueue: string, pid: number): Promise<string> {
  const { bareSuspend } = proxyActivities<{ bareSuspend(pid: number): Promise<string> }>({
    taskQueue: hostQueue,
    scheduleToStartTimeout: '30s',
    startToCloseTimeout: '60s',
    heartbeatTimeout: '10s',
    retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '10s', maximumAttempts: 5 },
  });
  return bareSuspend(pid);
}
