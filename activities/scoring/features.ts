/**
 * Feature extraction for the syscall-anomaly model: the TypeScript twin of models/train/features.py.
 * Everything that defines a feature (name mapping, ignored names, vocabulary, bigrams, indicators, order)
 * comes from the signed manifest, so the two sides cannot drift apart silently; parity.json (written by
 * the training pipeline) checks that they compute the same numbers.
 */
import { z } from 'zod';

export const FeatureSpec = z.object({
  count: z.number().int().positive(),
  order: z.array(z.string()),
  vocabulary: z.array(z.string()),
  bigrams: z.array(z.tuple([z.string(), z.string()])),
  indicators: z.array(z.string()),
  /** name -> canonical name, for names that change (both ABIs, old and new libc spellings). */
  canonical: z.record(z.string(), z.string()),
  /** names dropped before counting (vDSO calls, newer libc bookkeeping). */
  ignored: z.array(z.string()),
  /** i386 system call numbers -> names (the kernel's syscall_32.tbl), for traces recorded as numbers. */
  i386: z.object({ source: z.string(), names: z.record(z.string(), z.string()) }),
});
export type FeatureSpec = z.infer<typeof FeatureSpec>;

const pairKey = (a: string, b: string) => `${a}\u0000${b}`;

export class Featurizer {
  readonly names: readonly string[];
  private readonly vocab: Map<string, number>;
  private readonly bigram: Map<string, number>;
  private readonly canonical: Map<string, string>;
  private readonly ignored: Set<string>;
  private readonly i386: Map<number, string>;

  constructor(readonly spec: FeatureSpec) {
    this.names = [
      'len:log',
      'distinct:log',
      'freq:(other)',
      ...spec.vocabulary.map((n) => `freq:${n}`),
      ...spec.bigrams.map(([a, b]) => `bigram:${a},${b}`),
      ...spec.indicators.map((n) => `has:${n}`),
    ];
    if (this.names.length !== spec.count || this.names.some((n, i) => n !== spec.order[i])) {
      throw new Error(
        'feature spec: the order listed in the manifest does not match its vocabulary and lists',
      );
    }
    this.vocab = new Map(spec.vocabulary.map((n, i) => [n, i]));
    this.bigram = new Map(spec.bigrams.map(([a, b], i) => [pairKey(a, b), i]));
    this.canonical = new Map(Object.entries(spec.canonical));
    this.ignored = new Set(spec.ignored);
    this.i386 = new Map(Object.entries(spec.i386.names).map(([k, v]) => [Number(k), v]));
  }

  get count(): number {
    return this.names.length;
  }

  /** i386 syscall number -> name (undefined for numbers the table does not know). */
  i386Name(nr: number): string | undefined {
    return this.i386.get(nr);
  }

  /** Drop ignored names and map the rest to their canonical names. */
  canonicalize(names: readonly string[]): string[] {
    const out: string[] = [];
    for (const n of names) {
      if (this.ignored.has(n)) continue;
      out.push(this.canonical.get(n) ?? n);
    }
    return out;
  }

  /** The feature vector of one trace (syscall names of either ABI), in manifest order, as float64. */
  features(names: readonly string[]): Float64Array {
    const seq = this.canonicalize(names);
    const f = new Float64Array(this.count);
    const n = seq.length;
    if (n === 0) return f;
    const counts = new Map<string, number>();
    for (const s of seq) counts.set(s, (counts.get(s) ?? 0) + 1);
    f[0] = Math.log1p(n);
    f[1] = Math.log1p(counts.size);
    let other = 0;
    let base = 3;
    for (const [name, c] of counts) {
      const i = this.vocab.get(name);
      if (i === undefined) other += c;
      else f[base + i] = c / n;
    }
    f[2] = other / n;
    base += this.spec.vocabulary.length;
    if (n > 1) {
      const pairs = new Map<number, number>();
      for (let k = 0; k + 1 < n; k++) {
        const i = this.bigram.get(pairKey(seq[k] as string, seq[k + 1] as string));
        if (i !== undefined) pairs.set(i, (pairs.get(i) ?? 0) + 1);
      }
      for (const [i, c] of pairs) f[base + i] = c / (n - 1);
    }
    base += this.spec.bigrams.length;
    this.spec.indicators.forEach((name, i) => {
      if (counts.has(name)) f[base + i] = 1;
    });
    return f;
  }
}
