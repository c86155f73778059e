/**
 * Group commit per incident: while a signalWithStart for an incident is in flight, further events for it
 * wait here and then go to Temporal together in ONE call when the in-flight one completes. An event with
 * no call in flight for its incident is sent at once (no timer window, no added latency without
 * contention). Every caller's promise settles only with the outcome of the call that carried its event:
 * resolved once Temporal durably accepted it, rejected if that call failed (the caller answers 503 and
 * counts nothing as accepted). A storm of duplicates then costs one signal (a history event and a
 * workflow task) per round trip per incident instead of one per event.
 */
import type { DetectionEvent } from '../src/events/detection-event.js';
import type { IncidentStarter, StartResult } from './incidents.js';

export interface Committed {
  runId: string;
  /** This event started the incident run (the first event of a call that started one); else it joined. */
  started: boolean;
  /** How many events the call that carried it held (1 = sent alone). */
  batch: number;
}

export interface GroupCommitLimits {
  /** At most this many events in one signal. */
  maxEvents: number;
  /** At most about this many bytes of event bodies in one signal (one event always goes, whatever its size). */
  maxBytes: number;
}

export const DEFAULT_LIMITS: GroupCommitLimits = { maxEvents: 100, maxBytes: 256 * 1024 };

interface Waiting {
  event: DetectionEvent;
  bytes: number;
  resolve: (c: Committed) => void;
  reject: (e: unknown) => void;
}

interface Lane {
  correlationKey: string;
  queue: Waiting[];
}

export interface GroupCommitter {
  /** Resolves when Temporal has `event` (`bytes`: its body size, for the batch byte cap). */
  submit(
    incidentId: string,
    correlationKey: string,
    event: DetectionEvent,
    bytes: number,
  ): Promise<Committed>;
}

export function groupCommitter(
  starter: IncidentStarter,
  o: {
    limits?: GroupCommitLimits;
    /** Called once per Temporal call with its size and duration (metrics). */
    observe?: (events: number, seconds: number) => void;
  } = {},
): GroupCommitter {
  const limits = o.limits ?? DEFAULT_LIMITS;
  /** Incidents with a call in flight; the queue holds the events that arrived since it was sent. */
  const lanes = new Map<string, Lane>();

  const take = (queue: Waiting[]): Waiting[] => {
    let n = 0;
    let bytes = 0;
    while (n < queue.length && n < limits.maxEvents) {
      const b = (queue[n] as Waiting).bytes;
      if (n > 0 && bytes + b > limits.maxBytes) break;
      bytes += b;
      n++;
    }
    return queue.splice(0, n);
  };

  const send = (incidentId: string, lane: Lane, batch: Waiting[]): void => {
    const events = batch.map((w) => w.event) as [DetectionEvent, ...DetectionEvent[]];
    const t0 = performance.now();
    const [first] = events;
    let call: Promise<StartResult>;
    try {
      call =
        events.length === 1
          ? starter.start(incidentId, lane.correlationKey, first)
          : starter.startMany(incidentId, lane.correlationKey, events);
    } catch (e) {
      // A starter that throws instead of rejecting must not leave the incident's lane stuck.
      call = Promise.reject(e instanceof Error ? e : new Error(String(e)));
    }
    call.then(
      (r) => {
        o.observe?.(batch.length, (performance.now() - t0) / 1000);
        batch.forEach((w, i) =>
          w.resolve({ runId: r.runId, started: r.started && i === 0, batch: batch.length }),
        );
        next(incidentId, lane);
      },
      (e: unknown) => {
        o.observe?.(batch.length, (performance.now() - t0) / 1000);
        for (const w of batch) w.reject(e);
        next(incidentId, lane);
      },
    );
  };

  const next = (incidentId: string, lane: Lane): void => {
    if (!lane.queue.length) {
      lanes.delete(incidentId);
      return;
    }
    send(incidentId, lane, take(lane.queue));
  };

  return {
    submit(incidentId, correlationKey, event, bytes) {
      return new Promise<Committed>((resolve, reject) => {
        const w: Waiting = { event, bytes, resolve, reject };
        const lane = lanes.get(incidentId);
        if (lane) {
          lane.queue.push(w);
          return;
        }
        const fresh: Lane = { correlationKey, queue: [] };
        lanes.set(incidentId, fresh);
        send(incidentId, fresh, [w]);
      });
    },
  };
}
