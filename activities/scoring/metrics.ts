/**
 * The scoring activity's Prometheus metrics (prom-client). Served by the playbook worker on
 * VIGIL_SCORING_METRICS (see workers/lib/metrics-server.ts): the Temporal Runtime's own Prometheus
 * endpoint is written by the Rust core and cannot take prom-client collectors, and its custom-metric
 * histograms use the core's buckets (milliseconds and up), far too coarse for a 0.1 ms inference.
 *
 *   vigil_scoring_inference_seconds{model,stage}   histogram: stage="score" (features + onnxruntime),
 *                                                  "attributions" (TreeSHAP, only when asked)
 *       p99: histogram_quantile(0.99, sum by (le) (rate(vigil_scoring_inference_seconds_bucket{stage="score"}[5m])))
 *   vigil_scoring_score{model,sha256,role}         histogram of P(attack) per model version (role: active,
 *                                                  shadow): compare the bucket shares over time for drift
 *   vigil_scoring_flagged_total{model,role}        scores at or above the model's threshold
 *   vigil_scoring_shadow_total{active,shadow,outcome}   outcome: agree, disagree (decisions at each model's
 *                                                  own threshold); disagreement rate = disagree / all
 *   vigil_scoring_refused_total{role,reason}       calls answered "no score" (unsigned, revoked, tampered...)
 *   vigil_scoring_model_info{role,model,sha256,status}  1 for the loaded models (status: loaded | refused reason)
 * The false-positive rate from analyst verdicts is on the intake's /metrics (vigil_verdict_*): verdicts are
 * stored where operators authenticate, not in the worker.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Latency buckets from 25 µs (a single inference) to 2.5 s (attributions on a slow, loaded machine). */
export const LATENCY_BUCKETS = [
  0.000025, 0.00005, 0.0001, 0.00015, 0.0002, 0.0003, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1,
  0.25, 0.5, 1, 2.5,
];
/** Score buckets: twentieths of [0, 1], plus the extremes most traces fall into. */
export const SCORE_BUCKETS = [
  0.01, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9,
  0.95, 0.99, 1,
];

export function createScoringMetrics(opts: { registry?: Registry; processMetrics?: boolean } = {}) {
  const registry = opts.registry ?? new Registry();
  if (opts.processMetrics) collectDefaultMetrics({ register: registry, prefix: 'vigil_worker_' });
  return {
    registry,
    latency: new Histogram({
      name: 'vigil_scoring_inference_seconds',
      help: 'Scoring time per event: stage "score" (features + onnxruntime) and "attributions" (TreeSHAP)',
      labelNames: ['model', 'stage'] as const,
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
    score: new Histogram({
      name: 'vigil_scoring_score',
      help: 'Model scores (P(attack)) per model version and role (active or shadow), for drift',
      labelNames: ['model', 'sha256', 'role'] as const,
      buckets: SCORE_BUCKETS,
      registers: [registry],
    }),
    flagged: new Counter({
      name: 'vigil_scoring_flagged_total',
      help: "Scores at or above the model's threshold, per model version and role",
      labelNames: ['model', 'role'] as const,
      registers: [registry],
    }),
    shadow: new Counter({
      name: 'vigil_scoring_shadow_total',
      help: 'Events scored by both the active and the shadow model, by whether their decisions agree',
      labelNames: ['active', 'shadow', 'outcome'] as const,
      registers: [registry],
    }),
    refused: new Counter({
      name: 'vigil_scoring_refused_total',
      help: 'Scoring calls without a score because the model was refused, by role and reason',
      labelNames: ['role', 'reason'] as const,
      registers: [registry],
    }),
    info: new Gauge({
      name: 'vigil_scoring_model_info',
      help: 'The models the worker holds now (1), with their hash and status (loaded, or why refused)',
      labelNames: ['role', 'model', 'sha256', 'status'] as const,
      registers: [registry],
    }),
  };
}
export type ScoringMetrics = ReturnType<typeof createScoringMetrics>;
