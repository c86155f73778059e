/** The responder's Prometheus metrics: outcomes per action and host, time from decision to effect. */
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export const AGENT_EVENT_LOOP_SAMPLE_MS = 1000;

export function createResponseMetrics(opts: { processMetrics: boolean }) {
  const registry = new Registry();
  // Event-loop lag sampled once a second, not prom-client's default every 10 ms: an idle agent would
  // otherwise wake 100 times a second for this metric alone (its idle CPU goal is under 1% of a core).
  if (opts.processMetrics)
    collectDefaultMetrics({
      register: registry,
      prefix: 'vigil_agent_',
      eventLoopMonitoringPrecision: AGENT_EVENT_LOOP_SAMPLE_MS,
    });
  return {
    registry,
    actions: new Counter({
      name: 'vigil_response_actions_total',
      help: 'Containment requests by action, operation (apply/undo), host, responder and outcome',
      labelNames: ['action', 'op', 'host', 'responder', 'outcome'] as const,
      registers: [registry],
    }),
    decisionToEffect: new Histogram({
      name: 'vigil_response_decision_to_effect_seconds',
      help: 'From the policy decision (or approval) to the verified effect',
      labelNames: ['action', 'op'] as const,
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers: [registry],
    }),
  };
}
export type ResponseMetrics = ReturnType<typeof createResponseMetrics>;
