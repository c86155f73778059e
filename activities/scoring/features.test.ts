import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../../src/paths.js';
import { Featurizer, FeatureSpec } from './features.js';

const dir = join(repoRoot(), 'models', 'syscall-anomaly');
const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as { features: unknown };
const spec = FeatureSpec.parse(manifest.features);
const f = new Featurizer(spec);
const at = (x: Float64Array, name: string) => x[f.names.indexOf(name)];

// The same short program as today's x86_64 glibc and as 2011's i386 glibc issue it.
const X86_64 =
  'execve brk arch_prctl mmap access openat newfstatat mmap close openat read newfstatat socket connect sendto recvfrom getuid geteuid prlimit64 wait4 clone3 exit_group'.split(
    ' ',
  );
const I386 =
  'execve brk set_thread_area mmap2 access open fstat64 mmap2 close open read stat64 socketcall socketcall socketcall socketcall getuid32 geteuid32 ugetrlimit waitpid clone exit_group'.split(
    ' ',
  );

describe('features', () => {
  it('follows the order listed in the manifest', () => {
    expect(f.names).toEqual(spec.order);
    expect(() => new Featurizer({ ...spec, order: [...spec.order].reverse() })).toThrow(/order/);
  });

  it('gives x86_64 names and their i386 counterparts the same vector', () => {
    expect(Array.from(f.features(X86_64))).toEqual(Array.from(f.features(I386)));
    expect(f.canonicalize(['stat64', 'lstat64', 'fstat64', 'newfstatat', 'statx'])).toEqual(
      Array(5).fill('stat'),
    );
    expect(f.canonicalize(['socketcall', 'sendto', 'accept4'])).toEqual(Array(3).fill('socket_op'));
    expect(f.canonicalize(['_llseek', 'mmap2', 'fcntl64', 'getuid32', 'sigreturn', 'ipc', 'shmat'])).toEqual([
      'lseek',
      'mmap',
      'fcntl',
      'getuid',
      'rt_sigreturn',
      'sysv_ipc',
      'sysv_ipc',
    ]);
  });

  it('computes shares, pairs, indicators and lengths', () => {
    const x = f.features(['read', 'read', 'write', 'read', 'clock_gettime', 'gettimeofday', 'dup2']);
    // vDSO calls are dropped: 5 calls remain
    expect(at(x, 'len:log')).toBeCloseTo(Math.log1p(5), 15);
    expect(at(x, 'distinct:log')).toBeCloseTo(Math.log1p(3), 15);
    expect(at(x, 'freq:read')).toBe(3 / 5);
    expect(at(x, 'has:dup2')).toBe(1);
    expect(at(x, 'has:execve')).toBe(0);
    if (f.names.includes('bigram:read,read')) expect(at(x, 'bigram:read,read')).toBe(1 / 4);
    expect(x.reduce((s, v, i) => (f.names[i]!.startsWith('freq:') ? s + v : s), 0)).toBeCloseTo(1, 12);
  });

  it('counts names it does not know as other, and gives an empty trace all zeros', () => {
    const x = f.features(['io_uring_enter', 'io_uring_enter', 'read', 'syscall_0x1b6']);
    expect(at(x, 'freq:(other)')).toBe(3 / 4);
    expect(Array.from(f.features([])).every((v) => v === 0)).toBe(true);
    expect(Array.from(f.features(['clock_gettime', 'rseq'])).every((v) => v === 0)).toBe(true);
  });

  it('names i386 numbers with the kernel table', () => {
    expect(f.i386Name(3)).toBe('read');
    expect(f.i386Name(102)).toBe('socketcall');
    expect(f.i386Name(100_000)).toBeUndefined();
  });
});

/** The plain string-keyed version the fast one replaced, kept as the reference. */
function referenceFeatures(names: readonly string[]): Float64Array {
  const seq = f.canonicalize(names);
  const out = new Float64Array(f.count);
  const n = seq.length;
  if (n === 0) return out;
  const vocab = new Map(spec.vocabulary.map((v, i) => [v, i]));
  const bigram = new Map(spec.bigrams.map(([a, b], i) => [`${a}\u0000${b}`, i]));
  const counts = new Map<string, number>();
  for (const s of seq) counts.set(s, (counts.get(s) ?? 0) + 1);
  out[0] = Math.log1p(n);
  out[1] = Math.log1p(counts.size);
  let other = 0;
  let base = 3;
  for (const [name, c] of counts) {
    const i = vocab.get(name);
    if (i === undefined) other += c;
    else out[base + i] = c / n;
  }
  out[2] = other / n;
  base += spec.vocabulary.length;
  if (n > 1) {
    const pairs = new Map<number, number>();
    for (let k = 0; k + 1 < n; k++) {
      const i = bigram.get(`${seq[k]}\u0000${seq[k + 1]}`);
      if (i !== undefined) pairs.set(i, (pairs.get(i) ?? 0) + 1);
    }
    for (const [i, c] of pairs) out[base + i] = c / (n - 1);
  }
  base += spec.bigrams.length;
  spec.indicators.forEach((name, i) => {
    if (counts.has(name)) out[base + i] = 1;
  });
  return out;
}

describe('the fast feature path', () => {
  it('computes exactly the numbers of the plain version on random traces of every kind of name', () => {
    const pool = [
      ...spec.vocabulary,
      ...spec.bigrams.flat(),
      ...spec.indicators,
      ...Object.keys(spec.canonical),
      ...spec.ignored,
      'not_a_syscall',
      'another_unknown',
      'syscall_999',
    ];
    let seed = 7;
    const rnd = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let t = 0; t < 400; t++) {
      const len = t < 5 ? t : Math.floor(rnd() * (t % 7 === 0 ? 3000 : 300));
      // Narrow pools make repeated bigrams likely; wide ones cover the rest.
      const width = 2 + Math.floor(rnd() * pool.length);
      const off = Math.floor(rnd() * (pool.length - width + 1));
      const seq = Array.from({ length: len }, () => pool[off + Math.floor(rnd() * width)]!);
      expect(Array.from(f.features(seq)), `trace ${t}`).toEqual(Array.from(referenceFeatures(seq)));
    }
  });
});
