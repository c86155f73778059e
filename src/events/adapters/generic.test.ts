import { describe, expect, it } from 'vitest';
import { genericAdapter } from './generic.js';

const ctx = { id: 'ev_test0000', receivedAt: '2026-11-26T09:00:00.000Z' };
const minimal = { time: '2026-11-26T09:00:00Z', host: 'web-01', rule: 'Webshell write', severity: 'high' };

describe('generic adapter', () => {
  it('accepts the minimal documented shape', () => {
    const r = genericAdapter.parse(minimal, ctx);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.events[0]!.host.id).toBe('web-01');
    expect(r.events[0]!.detection).toMatchObject({
      ruleId: 'Webshell write',
      ruleName: 'Webshell write',
      severity: 'high',
      techniques: [],
    });
    expect(r.events[0]!.raw).toEqual(minimal);
  });

  it('accepts the full shape with lineage, hash and syscalls', () => {
    const r = genericAdapter.parse(
      {
        ...minimal,
        host: { id: 'i-0abc', name: 'web-01', addresses: ['10.0.0.5'], os: 'linux' },
        rule: { id: 'EDR-17', name: 'Reverse shell' },
        severity: 92,
        techniques: ['T1059.004'],
        process: {
          pid: 4242,
          ppid: 100,
          name: 'sh',
          executable: '/bin/sh',
          commandLine: 'sh -i',
          startTime: '2026-11-26T08:59:59.5Z',
          sha256: 'a'.repeat(64),
          user: { name: 'www-data', uid: 33 },
          ancestors: [{ pid: 100, name: 'php-fpm' }],
        },
        syscalls: ['execve', 'dup2', 'connect'],
        vendorField: { kept: true },
      },
      ctx,
    );
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.events[0]!.detection.severity).toBe('critical');
    expect(r.events[0]!.detection.ruleId).toBe('EDR-17');
    expect(r.events[0]!.process?.hash?.sha256).toBe('a'.repeat(64));
    expect(r.events[0]!.user).toEqual({ name: 'www-data', uid: 33 });
    expect(r.events[0]!.telemetry?.syscalls).toEqual(['execve', 'dup2', 'connect']);
  });

  it.each([
    [{ ...minimal, time: undefined }, 'time'],
    [{ ...minimal, host: {} }, 'host'],
    [{ ...minimal, severity: 'urgent' }, 'severity'],
    [{ ...minimal, severity: 101 }, 'severity'],
    [{ ...minimal, techniques: ['TA0002'] }, 'techniques.0'],
    [{ ...minimal, process: { pid: -1 } }, 'process.pid'],
    [{ ...minimal, rule: '' }, 'rule'],
  ])('refuses bad input and names the field (%#: %s)', (input, path) => {
    const r = genericAdapter.parse(input, ctx);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.issues.some((i) => i.startsWith(path))).toBe(true);
  });
});
