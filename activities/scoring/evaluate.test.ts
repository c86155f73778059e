/**
 * The shipped model, scored in Node from the raw traces (read from ../shared/data/adfa-ld, never copied),
 * reaches the model card's numbers on the held-out split listed in split.json.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../../src/paths.js';
import { loadScoringConfig } from './config.js';
import { evaluate, fprAtDetection, readLabelledTraces, rocAuc, type Evaluation } from './evaluate.js';
import { openScoringModel, type ScoringModel } from './model.js';

const data = join(repoRoot(), '..', 'shared', 'data', 'adfa-ld', 'traces.jsonl.gz');
const dir = join(repoRoot(), 'models', 'syscall-anomaly');

describe('metrics', () => {
  it('computes ROC AUC with ties as one half', () => {
    expect(rocAuc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])).toBe(0.75);
    expect(rocAuc([0, 1], [0.5, 0.5])).toBe(0.5);
  });
  it('computes the false-positive rate at a detection rate', () => {
    const y = [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0];
    const s = [0.9, 0.9, 0.8, 0.8, 0.7, 0.7, 0.6, 0.6, 0.5, 0.1, 0.55, 0.2, 0.05, 0.6];
    expect(fprAtDetection(y, s, 0.9)).toEqual({ fpr: 0.5, threshold: 0.5 });
    expect(fprAtDetection(y, s, 0.99)).toEqual({ fpr: 0.75, threshold: 0.1 });
  });
});

describe.skipIf(!existsSync(data))('the shipped model on the held-out split of ADFA-LD', () => {
  let model: ScoringModel;
  let result: Evaluation;
  beforeAll(async () => {
    model = await openScoringModel(loadScoringConfig({}, repoRoot()));
    const split = JSON.parse(readFileSync(join(dir, 'split.json'), 'utf8')) as { heldOutIds: string[] };
    const ids = new Set(split.heldOutIds);
    result = await evaluate(model, readLabelledTraces(data), (t) => ids.has(t.id ?? ''));
    expect(result.n).toBe(ids.size);
  });

  it('reaches the card metrics overall, and the goals', () => {
    const card = model.manifest.metrics.heldOut;
    expect(result.unknownNumbers).toBe(0);
    expect(Math.abs(result.rocAuc - card.rocAuc)).toBeLessThan(1e-9);
    expect(Math.abs(result.fprAt90 - card.fprAt90)).toBeLessThan(1e-9);
    expect(Math.abs(result.fprAt99 - card.fprAt99)).toBeLessThan(1e-9);
    expect(result.rocAuc).toBeGreaterThanOrEqual(0.97);
    expect(result.fprAt90).toBeLessThanOrEqual(0.02);
  });

  it('reaches the card metrics for every attack family', () => {
    const card = model.manifest.metrics.perFamily;
    expect(Object.keys(result.perFamily).sort()).toEqual(Object.keys(card).sort());
    for (const [family, m] of Object.entries(result.perFamily)) {
      expect(Math.abs(m.rocAuc - card[family]!.rocAuc), family).toBeLessThan(1e-9);
      expect(Math.abs(m.fprAt90 - card[family]!.fprAt90), family).toBeLessThan(1e-9);
    }
  });
});
