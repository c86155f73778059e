/** The responder's Prometheus metrics: outcomes per action and host, time from decision to effect. */
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export function createResponseMetrics(opts: { processMetrics: boolean }) {
  const registry = new Registry();
  if (opts.processMetrics) collectDefaultMetrics({ register: registry, prefix: 'vigil_agent_' });
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
