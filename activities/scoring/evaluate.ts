/**
 * Evaluating a model on labelled traces (the format of ADFA-LD's traces.jsonl[.gz]: one JSON object a
 * line, `{id, label: "attack"|"normal", attack_type, syscalls: [i386 numbers] | [names]}`), with the
 * metric definitions of models/train/train.py so the numbers can be compared with the model card.
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { createGunzip } from 'node:zlib';
import { z } from 'zod';
import type { ScoringModel } from './model.js';

/** Mann-Whitney U with ties counted one half (average ranks). */
export function rocAuc(y: readonly number[], s: readonly number[]): number {
  const order = s.map((_, i) => i).sort((a, b) => s[a]! - s[b]! || a - b);
  const ranks = new Float64Array(s.length);
  for (let i = 0; i < order.length;) {
    let j = i;
    while (j + 1 < order.length && s[order[j + 1]!] === s[order[i]!]) j++;
    for (let k = i; k <= j; k++) ranks[order[k]!] = (i + j) / 2 + 1;
    i = j + 1;
  }
  let nPos = 0;
  let sumPos = 0;
  y.forEach((v, i) => {
    if (v === 1) {
      nPos++;
      sumPos += ranks[i]!;
    }
  });
  const nNeg = y.length - nPos;
  return (sumPos - (nPos * (nPos + 1)) / 2) / (nPos * nNeg);
}

/** The false-positive rate at the highest threshold that flags at least `detection` of the attacks. */
export function fprAtDetection(
  y: readonly number[],
  s: readonly number[],
  detection: number,
): { fpr: number; threshold: number } {
  const attacks = s.filter((_, i) => y[i] === 1).sort((a, b) => b - a);
  const k = Math.max(1, Math.ceil(detection * attacks.length - 1e-9));
  const threshold = attacks[k - 1]!;
  const normal = s.filter((_, i) => y[i] === 0);
  return { fpr: normal.filter((v) => v >= threshold).length / normal.length, threshold };
}

export interface Metrics {
  n: number;
  attacks: number;
  normal: number;
  rocAuc: number;
  fprAt90: number;
  fprAt99: number;
}

export function metrics(y: readonly number[], s: readonly number[]): Metrics {
  const attacks = y.filter((v) => v === 1).length;
  if (attacks === 0 || attacks === y.length) {
    return { n: y.length, attacks, normal: y.length - attacks, rocAuc: NaN, fprAt90: NaN, fprAt99: NaN };
  }
  return {
    n: y.length,
    attacks,
    normal: y.length - attacks,
    rocAuc: rocAuc(y, s),
    fprAt90: fprAtDetection(y, s, 0.9).fpr,
    fprAt99: fprAtDetection(y, s, 0.99).fpr,
  };
}

const LabelledTrace = z.object({
  id: z.string().optional(),
  label: z.enum(['attack', 'normal']),
  attack_type: z.string().nullish(),
  syscalls: z.union([z.array(z.number().int().min(0)), z.array(z.string())]),
});
export type LabelledTrace = z.infer<typeof LabelledTrace>;

/** Read a labelled .jsonl or .jsonl.gz file line by line; a bad line is an error naming its number. */
export async function* readLabelledTraces(path: string): AsyncGenerator<LabelledTrace> {
  const raw = createReadStream(path);
  const input = path.endsWith('.gz') ? raw.pipe(createGunzip()) : raw;
  let n = 0;
  for await (const line of createInterface({ input, crlfDelay: Infinity })) {
    n++;
    if (!line.trim()) continue;
    const r = LabelledTrace.safeParse(JSON.parse(line));
    if (!r.success)
      throw new Error(
        `${path}:${n}: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
      );
    yield r.data;
  }
}

/** A labelled trace's calls as names (ADFA-LD's i386 numbers named; an unknown number as `syscall_<n>`). */
export function syscallNames(
  model: ScoringModel,
  t: LabelledTrace,
  onUnknown: (n: number) => void = () => undefined,
): string[] {
  return t.syscalls.map((c) => {
    if (typeof c === 'string') return c;
    const name = model.featurizer.i386Name(c);
    if (name === undefined) onUnknown(c);
    return name ?? `syscall_${c}`;
  });
}

export interface Evaluation extends Metrics {
  perFamily: Record<string, Metrics>;
  unknownNumbers: number;
}

/**
 * Score every trace (in batches) and compute the metrics, overall and per attack family (family vs all
 * normal traces). `keep` filters traces (e.g. the held-out ids of split.json).
 */
export async function evaluate(
  model: ScoringModel,
  traces: AsyncIterable<LabelledTrace> | Iterable<LabelledTrace>,
  keep: (t: LabelledTrace) => boolean = () => true,
): Promise<Evaluation> {
  const y: number[] = [];
  const fam: string[] = [];
  const scores: number[] = [];
  // Names per batch; the features go straight into the batch's input tensor (scoreTraces).
  let batch: string[][] = [];
  let unknownNumbers = 0;
  const flush = async () => {
    for (const p of await model.scoreTraces(batch)) scores.push(p);
    batch = [];
  };
  for await (const t of traces) {
    if (!keep(t)) continue;
    batch.push(syscallNames(model, t, () => unknownNumbers++));
    y.push(t.label === 'attack' ? 1 : 0);
    fam.push(t.label === 'attack' ? (t.attack_type ?? 'attack') : 'normal');
    if (batch.length === 2048) await flush();
  }
  await flush();
  const perFamily: Record<string, Metrics> = {};
  for (const f of [...new Set(fam)].filter((f) => f !== 'normal').sort()) {
    const idx = fam.flatMap((g, i) => (g === f || g === 'normal' ? [i] : []));
    perFamily[f] = metrics(
      idx.map((i) => y[i]!),
      idx.map((i) => scores[i]!),
    );
  }
  return { ...metrics(y, scores), perFamily, unknownNumbers };
}
