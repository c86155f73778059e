import { describe, expect, it } from 'vitest';
import { checkRpaInput, checkRpaResult, DispatchRpaJobInput, RpaFailureReport } from './rpa.js';

const evidence = {
  host: 'ws-1',
  path: '/var/log/auth.log',
  sha256: 'a'.repeat(64),
  size: 12,
  mode: '0640',
  uid: 0,
  gid: 4,
  inode: 42,
  mtime: '2026-11-26T10:00:00.000Z',
  ctime: '2026-11-26T10:00:00.000Z',
  collectedAt: '2026-11-26T10:05:00.000Z',
};

describe('RPA job results', () => {
  it('accepts a collect-evidence result that matches its schema', () => {
    expect(checkRpaResult('collect-evidence', evidence)).toEqual({ ok: true, value: evidence });
  });

  it('names every problem of a malformed result', () => {
    const r = checkRpaResult('collect-evidence', { ...evidence, sha256: 'xyz', size: -1, mode: '644' });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.issues.join('\n')).toMatch(/result\.sha256/);
    expect(r.issues.join('\n')).toMatch(/result\.size/);
    expect(r.issues.join('\n')).toMatch(/result\.mode/);
  });

  it('refuses a reset-password result that carries the new password', () => {
    const r = checkRpaResult('reset-password', {
      account: 'jdoe',
      system: 'ad-corp',
      resetAt: '2026-11-26T10:00:00Z',
      mustChangeAtNextLogon: true,
      deliveredTo: 'owner-email',
      password: 'Winter2026!',
    });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.issues.join('\n')).toMatch(/password/);
  });

  it('refuses a result of an unknown job type', () => {
    expect(checkRpaResult('format-disk', {})).toEqual({
      ok: false,
      issues: ['jobType: unknown job type "format-disk"'],
    });
  });
});

describe('RPA job inputs', () => {
  it('refuses relative paths and ".." segments for collect-evidence', () => {
    expect(checkRpaInput('collect-evidence', { path: 'etc/passwd' }).ok).toBe(false);
    expect(checkRpaInput('collect-evidence', { path: '/var/log/../../etc/shadow' }).ok).toBe(false);
    expect(checkRpaInput('collect-evidence', { path: '/etc/hostname' }).ok).toBe(true);
  });

  it('validates the dispatch request with the job type of its input', () => {
    const ok = DispatchRpaJobInput.safeParse({
      queue: 'evidence',
      jobType: 'lookup-asset',
      input: { host: 'web-01' },
      deadline: '2026-11-26T10:00:00Z',
    });
    expect(ok.success).toBe(true);
    if (ok.success) expect(ok.data.maxClaims).toBe(3);
    const bad = DispatchRpaJobInput.safeParse({
      queue: 'Evidence Queue',
      jobType: 'lookup-asset',
      input: { hostname: 'web-01' },
      deadline: 'tomorrow',
    });
    expect(bad.success).toBe(false);
    if (bad.success) return;
    const paths = bad.error.issues.map((i) => i.path.join('.'));
    expect(paths).toEqual(expect.arrayContaining(['queue', 'deadline', 'input']));
  });

  it('requires a code and message in a bot failure report, retryable defaulting to false', () => {
    const r = RpaFailureReport.parse({ leaseId: 'l', code: 'not-found', message: 'gone' });
    expect(r.retryable).toBe(false);
    expect(RpaFailureReport.safeParse({ leaseId: 'l', code: 'Not Found!', message: 'x' }).success).toBe(
      false,
    );
  });
});
