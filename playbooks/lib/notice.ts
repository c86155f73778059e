/** Build the incident notice a playbook sends (workflow-safe: pure). */
import type { DecisionRecord, IncidentStatus } from '../../src/contracts/incident.js';
import type { Enrichment, IncidentNotice } from '../../src/contracts/playbook.js';
import type { DetectionEvent } from '../../src/events/detection-event.js';

export function buildNotice(
  incident: Readonly<IncidentStatus>,
  event: DetectionEvent,
  enrichment: Enrichment,
  decision: DecisionRecord,
  playbook: string,
): IncidentNotice {
  return {
    incidentId: incident.incidentId,
    host: event.host.name ?? event.host.id,
    rule: event.detection.ruleName,
    severity: event.detection.severity,
    verdict: decision.verdict,
    riskScore: decision.riskScore,
    techniques: enrichment.techniques,
    lineage: enrichment.lineage,
    reasons: decision.reasons,
    recommended: decision.actions
      .filter((a) => a.disposition === 'recommend')
      .map((a) => `${a.action}: ${a.why}`),
    eventCount: incident.eventCount,
    firstSeen: incident.firstSeen,
    commandLine: event.process?.commandLine,
    playbook,
  };
}
