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

/** rawToId markers: dropped names, and names mapped to a canonical name outside the known set. */
const IGNORED = -1;
const MAPPED_UNKNOWN = -2;

export class Featurizer {
  readonly names: readonly string[];
  private readonly canonical: Map<string, string>;
  private readonly ignored: Set<string>;
  private readonly i386: Map<number, string>;
  /*
   * The hot path works on integer ids, not strings: every name the spec mentions (vocabulary, bigram
   * members, indicators) has an id (vocabulary ids = vocabulary positions); raw names map straight to their
   * canonical id (or IGNORED), bigrams sit in a dense id x id table, counts in reused scratch arrays.
   * Same arithmetic, same numbers as the plain version (features.test.ts compares them on random traces).
   */
  private readonly known: number;
  private readonly rawToId: Map<string, number>;
  private readonly pairIndex: Int32Array;
  private readonly indicatorIds: Int32Array;
  private readonly counts: Int32Array;
  private readonly pairCounts: Int32Array;
  private ids = new Int32Array(1024);

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
    this.canonical = new Map(Object.entries(spec.canonical));
    this.ignored = new Set(spec.ignored);
    this.i386 = new Map(Object.entries(spec.i386.names).map(([k, v]) => [Number(k), v]));

    const id = new Map<string, number>();
    for (const n of [...spec.vocabulary, ...spec.bigrams.flat(), ...spec.indicators])
      if (!id.has(n)) id.set(n, id.size);
    this.known = id.size;
    // Precedence as in canonicalize(): ignored (raw name), then the canonical map, then the name itself.
    this.rawToId = new Map(id);
    for (const [raw, target] of this.canonical) this.rawToId.set(raw, id.get(target) ?? MAPPED_UNKNOWN);
    for (const n of this.ignored) this.rawToId.set(n, IGNORED);
    this.pairIndex = new Int32Array(this.known * this.known).fill(-1);
    spec.bigrams.forEach(([a, b], i) => {
      // A pair listed twice counts in its last column (as a Map built from the list would have it).
      this.pairIndex[id.get(a)! * this.known + id.get(b)!] = i;
    });
    this.indicatorIds = Int32Array.from(spec.indicators, (n) => id.get(n)!);
    this.counts = new Int32Array(this.known);
    this.pairCounts = new Int32Array(spec.bigrams.length);
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
    return this.featuresInto(names, new Float64Array(this.count), 0);
  }

  /**
   * The same vector written into `out` at `offset` (e.g. a row of a batch's float32 input tensor, so a
   * batch needs no per-row arrays or copies; float32 storage rounds exactly as Float32Array.from would).
   */
  featuresInto<T extends Float32Array | Float64Array>(names: readonly string[], out: T, offset = 0): T {
    const f = out.subarray(offset, offset + this.count);
    f.fill(0);
    if (this.ids.length < names.length)
      this.ids = new Int32Array(Math.max(names.length, 2 * this.ids.length));
    const ids = this.ids;
    const counts = this.counts;
    const K = this.known;
    let n = 0;
    let unknownCalls = 0;
    let unknownNames: Set<string> | undefined;
    for (const raw of names) {
      let i = this.rawToId.get(raw);
      if (i === IGNORED) continue;
      if (i === undefined || i === MAPPED_UNKNOWN) {
        // A name the model has no feature for: counted in "other" and in the distinct names only.
        (unknownNames ??= new Set()).add(i === undefined ? raw : this.canonical.get(raw)!);
        unknownCalls++;
        i = -1;
      } else counts[i]!++;
      ids[n++] = i;
    }
    if (n === 0) return out;
    const V = this.spec.vocabulary.length;
    let distinct = unknownNames?.size ?? 0;
    let other = unknownCalls;
    for (let i = 0; i < K; i++) {
      const c = counts[i]!;
      if (c === 0) continue;
      distinct++;
      if (i < V) f[3 + i] = c / n;
      else other += c;
    }
    f[0] = Math.log1p(n);
    f[1] = Math.log1p(distinct);
    f[2] = other / n;
    let base = 3 + V;
    if (n > 1) {
      const pc = this.pairCounts;
      for (let k = 0; k + 1 < n; k++) {
        const a = ids[k]!;
        const b = ids[k + 1]!;
        if (a < 0 || b < 0) continue;
        const p = this.pairIndex[a * K + b]!;
        if (p >= 0) pc[p]!++;
      }
      for (let p = 0; p < pc.length; p++) {
        if (pc[p]) f[base + p] = pc[p]! / (n - 1);
        pc[p] = 0;
      }
    }
    base += this.spec.bigrams.length;
    const ind = this.indicatorIds;
    for (let j = 0; j < ind.length; j++) if (counts[ind[j]!]! > 0) f[base + j] = 1;
    counts.fill(0);
    return out;
  }
}
