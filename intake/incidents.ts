/** Hand a normalized event to Temporal: signalWithStart on the incident workflow (id = incident id). */
import { WorkflowIdReusePolicy, type Client } from '@temporalio/client';
import { detectionSignal, INCIDENT_WORKFLOW, type IncidentInput } from '../src/contracts/incident.js';
import type { DetectionEvent } from '../src/events/detection-event.js';
import { SA } from '../src/search-attributes.js';

export interface IncidentStarter {
  start(incidentId: string, correlationKey: string, event: DetectionEvent): Promise<{ runId: string }>;
}

export function temporalStarter(client: Client, taskQueue: string, timeoutMs: number): IncidentStarter {
  return {
    async start(incidentId, correlationKey, event) {
      const input: IncidentInput = { incidentId, correlationKey };
      const handle = await client.withDeadline(Date.now() + timeoutMs, () =>
        client.workflow.signalWithStart(INCIDENT_WORKFLOW, {
          workflowId: incidentId,
          taskQueue,
          args: [input],
          signal: detectionSignal,
          signalArgs: [event],
          // A detection after the incident closed starts a new run under the same id (linked by it).
          workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
          typedSearchAttributes: [
            { key: SA.host, value: event.host.id },
            { key: SA.severity, value: event.detection.severity },
            { key: SA.technique, value: event.detection.techniques },
            { key: SA.status, value: 'open' },
          ],
        }),
      );
      return { runId: handle.signaledRunId };
    },
  };
}
