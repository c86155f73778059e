import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export function createIntakeMetrics(deadLetterCount: () => number) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'vigil_intake_' });
  const events = new Counter({
    name: 'vigil_intake_events_total',
    help: 'Events by source, sender and outcome: started, joined, dead_lettered, skipped (osquery baseline rows), unauthenticated, rate_limited, busy, unavailable',
    labelNames: ['source', 'sender', 'outcome'] as const,
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'vigil_intake_request_seconds',
    help: 'Time from request to answer',
    labelNames: ['status'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  const temporalStart = new Histogram({
    name: 'vigil_intake_temporal_start_seconds',
    help: 'signalWithStart latency (one call per signal, which may carry several events)',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  const signalEvents = new Histogram({
    name: 'vigil_intake_signal_events',
    help: 'Events carried by one signalWithStart (events of one incident arriving while a signal for it is in flight go together)',
    buckets: [1, 2, 4, 8, 16, 32, 64, 100],
    registers: [registry],
  });
  new Gauge({
    name: 'vigil_intake_dead_letters',
    help: 'Dead letters waiting for a retry or a human',
    registers: [registry],
    collect() {
      this.set(deadLetterCount());
    },
  });
  return { registry, events, latency, temporalStart, signalEvents };
}
export type IntakeMetrics = ReturnType<typeof createIntakeMetrics>;
