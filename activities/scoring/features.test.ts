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
