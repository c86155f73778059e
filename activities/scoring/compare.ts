/**
 * A candidate model against the active one on labelled traces (`vigil model compare <dir> --on f.jsonl`):
 * each model's metrics (ROC AUC, false-positive rates at 90% and 99% detection, and at its configured
 * threshold), how often their decisions agree, and the decisions that would change if the candidate
 * replaced the active model: newly flagged and no longer flagged traces, split by label.
 */
import { metrics, syscallNames, type LabelledTrace, type Metrics } from './evaluate.js';
import type { ScoringModel } from './model.js';

export interface CompareSide {
  model: string;
  sha256: string;
  threshold: number;
  metrics: Metrics;
  /** at the configured threshold: share of attacks flagged, share of normal traces flagged */
  atThreshold: { flagged: number; detection: number; fpr: number };
}

export interface ChangedDecision {
  id: string;
  label: 'attack' | 'normal';
  attackType: string | null;
  active: number;
  candidate: number;
  change: 'newly-flagged' | 'no-longer-flagged';
}

export interface Comparison {
  n: number;
  attacks: number;
  normal: number;
  active: CompareSide;
  candidate: CompareSide;
  /** share of traces on which both models take the same decision */
  agreement: number;
  /** mean |candidate score - active score| */
  meanAbsScoreChange: number;
  changed: {
    newlyFlagged: { total: number; attacks: number; normal: number };
    noLongerFlagged: { total: number; attacks: number; normal: number };
  };
  /** every changed decision, in file order */
  decisions: ChangedDecision[];
  unknownNumbers: number;
}

function side(
  model: ScoringModel,
  threshold: number,
  y: readonly number[],
  s: readonly number[],
): CompareSide {
  const attacks = y.filter((v) => v === 1).length;
  const normal = y.length - attacks;
  const hitA = s.filter((v, i) => v >= threshold && y[i] === 1).length;
  const hitN = s.filter((v, i) => v >= threshold && y[i] === 0).length;
  return {
    model: `${model.manifest.id}@${model.manifest.version}`,
    sha256: model.sha256,
    threshold,
    metrics: metrics(y, s),
    atThreshold: {
      flagged: hitA + hitN,
      detection: attacks ? hitA / attacks : NaN,
      fpr: normal ? hitN / normal : NaN,
    },
  };
}

export async function compareModels(
  active: { model: ScoringModel; threshold: number },
  candidate: { model: ScoringModel; threshold: number },
  traces: AsyncIterable<LabelledTrace> | Iterable<LabelledTrace>,
): Promise<Comparison> {
  const y: number[] = [];
  const meta: { id: string; label: 'attack' | 'normal'; attackType: string | null }[] = [];
  const sa: number[] = [];
  const sc: number[] = [];
  // The same feature spec gives the same vector: compute it once.
  const sameFeatures =
    JSON.stringify(active.model.manifest.features) === JSON.stringify(candidate.model.manifest.features);
  let unknownNumbers = 0;
  let ba: Float64Array[] = [];
  let bc: Float64Array[] = [];
  const flush = async () => {
    sa.push(...(await active.model.score(ba)));
    sc.push(...(await candidate.model.score(bc)));
    ba = [];
    bc = [];
  };
  for await (const t of traces) {
    const names = syscallNames(active.model, t, () => unknownNumbers++);
    const xa = active.model.featurizer.features(names);
    ba.push(xa);
    bc.push(sameFeatures ? xa : candidate.model.featurizer.features(syscallNames(candidate.model, t)));
    y.push(t.label === 'attack' ? 1 : 0);
    meta.push({
      id: t.id ?? `line ${y.length}`,
      label: t.label,
      attackType: t.label === 'attack' ? (t.attack_type ?? null) : null,
    });
    if (ba.length === 2048) await flush();
  }
  await flush();

  const changed = {
    newlyFlagged: { total: 0, attacks: 0, normal: 0 },
    noLongerFlagged: { total: 0, attacks: 0, normal: 0 },
  };
  const decisions: ChangedDecision[] = [];
  let agree = 0;
  let absChange = 0;
  for (let i = 0; i < y.length; i++) {
    const a = sa[i]! >= active.threshold;
    const c = sc[i]! >= candidate.threshold;
    absChange += Math.abs(sc[i]! - sa[i]!);
    if (a === c) {
      agree++;
      continue;
    }
    const bucket = c ? changed.newlyFlagged : changed.noLongerFlagged;
    bucket.total++;
    if (y[i] === 1) bucket.attacks++;
    else bucket.normal++;
    decisions.push({
      ...meta[i]!,
      active: sa[i]!,
      candidate: sc[i]!,
      change: c ? 'newly-flagged' : 'no-longer-flagged',
    });
  }
  const attacks = y.filter((v) => v === 1).length;
  return {
    n: y.length,
    attacks,
    normal: y.length - attacks,
    active: side(active.model, active.threshold, y, sa),
    candidate: side(candidate.model, candidate.threshold, y, sc),
    agreement: y.length ? agree / y.length : NaN,
    meanAbsScoreChange: y.length ? absChange / y.length : NaN,
    changed,
    decisions,
    unknownNumbers,
  };
}
