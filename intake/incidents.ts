/**
 * Hand normalized events to Temporal: one signalWithStart on the incident workflow (id = incident id) per
 * call, carrying one event (the `detection` signal) or several of the same incident (`detections`).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { Client, WorkflowIdReusePolicy, type ConnectionLike } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import {
  detectionSignal,
  detectionsSignal,
  INCIDENT_WORKFLOW,
  type IncidentInput,
} from '../src/contracts/incident.js';
import type { DetectionEvent } from '../src/events/detection-event.js';
import { SA } from '../src/search-attributes.js';

export interface StartResult {
  runId: string;
  /**
   * true: this call started a new incident run (its first event started it, any others joined it);
   * false: every event joined an open run.
   */
  started: boolean;
}

export interface IncidentStarter {
  /** Durably hand one event to Temporal (the `detection` signal, starting the run if none is open). */
  start(incidentId: string, correlationKey: string, event: DetectionEvent): Promise<StartResult>;
  /** The same for several events of one incident in one call (the `detections` signal), in order. */
  startMany(
    incidentId: string,
    correlationKey: string,
    events: readonly [DetectionEvent, ...DetectionEvent[]],
  ): Promise<StartResult>;
}

/**
 * The SDK's signalWithStart returns only the run id; the service's response also says whether a run was
 * started. We read it from the response (per call, through AsyncLocalStorage) so the intake can count
 * started vs joined exactly.
 */
function observingClient(
  connection: ConnectionLike,
  namespace: string,
  store: AsyncLocalStorage<{ started?: boolean }>,
  dataConverter?: DataConverter,
): Client {
  const service = connection.workflowService;
  const observed = new Proxy(service, {
    get(target, prop, receiver) {
      if (prop === 'signalWithStartWorkflowExecution') {
        return async (req: Parameters<typeof service.signalWithStartWorkflowExecution>[0]) => {
          const res = await target.signalWithStartWorkflowExecution(req);
          const slot = store.getStore();
          if (slot) slot.started = res.started;
          return res;
        };
      }
      return Reflect.get(target, prop, receiver) as unknown;
    },
  });
  const conn = Object.create(connection, { workflowService: { value: observed } }) as ConnectionLike;
  return new Client({ connection: conn, namespace, dataConverter });
}

export function temporalStarter(
  connection: ConnectionLike,
  namespace: string,
  taskQueue: string,
  timeoutMs: number,
  dataConverter?: DataConverter,
): IncidentStarter {
  const store = new AsyncLocalStorage<{ started?: boolean }>();
  const client = observingClient(connection, namespace, store, dataConverter);
  const send = async (
    incidentId: string,
    correlationKey: string,
    events: readonly [DetectionEvent, ...DetectionEvent[]],
  ): Promise<StartResult> => {
    const input: IncidentInput = { incidentId, correlationKey };
    const [event] = events;
    const slot: { started?: boolean } = {};
    // One event keeps the single `detection` signal (the history of an uncontended incident is unchanged);
    // several of one incident travel in one `detections` signal.
    const signal: { signal: string; signalArgs: unknown[] } =
      events.length === 1
        ? { signal: detectionSignal.name, signalArgs: [event] }
        : { signal: detectionsSignal.name, signalArgs: [[...events]] };
    const handle = await store.run(slot, () =>
      client.withDeadline(Date.now() + timeoutMs, () =>
        client.workflow.signalWithStart(INCIDENT_WORKFLOW, {
          workflowId: incidentId,
          taskQueue,
          args: [input],
          ...signal,
          // A detection after the incident closed starts a new run under the same id (linked by it).
          workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
          typedSearchAttributes: [
            { key: SA.host, value: event.host.id },
            { key: SA.severity, value: event.detection.severity },
            { key: SA.technique, value: event.detection.techniques },
            { key: SA.status, value: 'open' },
          ],
        }),
      ),
    );
    return { runId: handle.signaledRunId, started: slot.started ?? false };
  };
  return {
    start: (incidentId, correlationKey, event) => send(incidentId, correlationKey, [event]),
    startMany: send,
  };
}
