import { describe, expect, it } from 'vitest';
import { adapterHarness } from '../../../test/helpers/adapters.js';
import { DetectionEvent } from '../detection-event.js';
import { ocsfAdapter } from './ocsf.js';

const { ctx, fixture, parse, one } = adapterHarness(ocsfAdapter, 'ocsf');

/** The smallest Detection Finding the adapter takes. */
const minimal = {
  class_uid: 2004,
  activity_id: 1,
  type_uid: 200401,
  time: 1795685067123,
  severity_id: 4,
  metadata: { version: '1.3.0', product: { name: 'Example EDR', vendor_name: 'Example Corp' } },
  device: { hostname: 'web-01' },
  finding_info: { uid: 'fnd-1', title: 'Reverse shell' },
};

describe('ocsf adapter', () => {
  it('maps a reverse-shell Detection Finding: rule, severity, ATT&CK, lineage, network', () => {
    const doc = fixture('detection-finding-reverse-shell.json');
    const ev = one(doc);
    expect(DetectionEvent.parse(ev)).toEqual(ev);
    expect(ev.id).toBe(ctx.id);
    expect(ev.source).toBe('ocsf');
    expect(ev.observedAt).toBe('2026-11-26T09:24:27.123Z');
    expect(ev.host).toEqual({
      id: 'i-0abc1234def567890',
      name: 'web-01',
      addresses: ['10.0.0.5'],
      os: 'Ubuntu 22.04',
    });
    expect(ev.detection).toEqual({
      ruleId: 'edr-rule-1042',
      ruleName: 'Reverse shell via bash /dev/tcp',
      severity: 'critical',
      techniques: ['T1059', 'T1059.004', 'T1071'],
      tactics: ['Execution', 'Command and Control'],
      tags: ['Reverse Shell'],
      message: 'bash spawned by nginx opened an interactive shell over TCP to 203.0.113.7:4444',
    });
    expect(ev.process).toMatchObject({
      pid: 48213,
      ppid: 1322,
      name: 'bash',
      executable: '/usr/bin/bash',
      startTime: '2026-11-26T09:24:25.000Z',
      // The SHA-256 fingerprint (algorithm_id 3), not the MD5, lowercased.
      hash: { sha256: '59474588a312b6b6e73e5a42a59bf71e62b55416b6c9d5e4a6e1c2e5b8c3c8a1' },
      user: { name: 'www-data', uid: 33 },
    });
    expect(ev.process?.ancestors).toEqual([
      { pid: 1322, name: 'nginx', executable: '/usr/sbin/nginx', commandLine: 'nginx: worker process' },
      {
        pid: 1301,
        name: 'nginx',
        commandLine: 'nginx: master process /usr/sbin/nginx -g daemon on; master_process on;',
      },
      { pid: 1, name: 'systemd', executable: '/usr/lib/systemd/systemd' },
    ]);
    expect(ev.network).toEqual({
      direction: 'outbound',
      protocol: 'tcp',
      localAddress: '10.0.0.5',
      localPort: 51234,
      remoteAddress: '203.0.113.7',
      remotePort: 4444,
    });
    expect(ev.raw).toEqual(doc);
  });

  it('maps a Process Activity launch with its parent chain and Security Control attacks', () => {
    const ev = one(fixture('process-activity-launch.json'));
    expect(ev.observedAt).toBe('2021-03-12T15:48:14.000Z');
    expect(ev.host).toEqual({
      id: 'win-dc-725.attackrange.local',
      name: 'win-dc-725.attackrange.local',
      addresses: [],
      os: 'Windows',
    });
    expect(ev.process).toMatchObject({
      pid: 4696,
      ppid: 3948,
      name: 'reg.exe',
      executable: 'C:\\Windows\\System32\\reg.exe',
    });
    expect(ev.process?.ancestors.map((a) => [a.pid, a.name])).toEqual([
      [3948, 'cmd.exe'],
      [2716, 'powershell.exe'],
      [1044, 'explorer.exe'],
    ]);
    // The process user is "-" / "NULL SID": absent, so the actor's user is the user.
    expect(ev.process?.user).toBeUndefined();
    expect(ev.user).toEqual({ name: 'Administrator', domain: 'ATTACKRANGE' });
    expect(ev.detection).toMatchObject({
      ruleId: 'Process Activity: Launch (T1003.002 Security Account Manager)',
      ruleName: 'Process Activity: Launch (T1003.002 Security Account Manager)',
      severity: 'high',
      techniques: ['T1003', 'T1003.002'],
      tactics: ['Credential Access'],
      message: 'A new process has been created.',
    });
  });

  it('uses the launcher (actor.process) as the parent of a launch without parent_process', () => {
    const doc = fixture('process-activity-launch.json');
    const process = { ...(doc.process as Record<string, unknown>), parent_process: undefined };
    const ev = one({ ...doc, process, attacks: undefined });
    expect(ev.process?.ancestors).toEqual([
      { pid: 3948, name: 'cmd.exe', executable: 'C:\\Windows\\System32\\cmd.exe' },
    ]);
    expect(ev.process?.ppid).toBe(3948);
    expect(ev.detection.ruleName).toBe('Process Activity: Launch');
    // Only a Launch's actor is a parent: a Terminate's actor is the exiting process itself.
    const terminate = one({ ...doc, process, activity_id: 2, activity_name: 'Terminate', type_uid: 100702 });
    expect(terminate.process?.ancestors).toEqual([]);
  });

  it('names a Process Activity rule by its Security Control policy when it has one', () => {
    const doc = fixture('process-activity-launch.json');
    const ev = one({ ...doc, policy: { uid: 'pol-77', name: 'Block registry hive export' } });
    expect(ev.detection).toMatchObject({ ruleId: 'pol-77', ruleName: 'Block registry hive export' });
  });

  it.each([
    [1, undefined, 'info'],
    [2, undefined, 'low'],
    [3, undefined, 'medium'],
    [4, undefined, 'high'],
    [5, undefined, 'critical'],
    [6, 'Fatal', 'critical'],
    [0, 'High', 'high'],
    [99, 'Informational', 'info'],
    [99, 'whatever', 'medium'],
    [undefined, undefined, 'medium'],
  ])('maps severity_id %s (severity %s) to %s', (severity_id, severity, expected) => {
    expect(one({ ...minimal, severity_id, severity }).detection.severity).toBe(expected);
  });

  it('reads time as epoch ms, seconds (a producer slip), ISO, or time_dt', () => {
    expect(one({ ...minimal, time: 1795685067 }).observedAt).toBe('2026-11-26T09:24:27.000Z');
    expect(one({ ...minimal, time: '2026-11-26T09:24:27.5Z' }).observedAt).toBe('2026-11-26T09:24:27.5Z');
    expect(one({ ...minimal, time: undefined, time_dt: '2026-11-26T09:24:27+01:00' }).observedAt).toBe(
      '2026-11-26T09:24:27+01:00',
    );
  });

  it('accepts an event without type_uid (as some OCSF examples are) and derives nothing from it', () => {
    expect(one({ ...minimal, type_uid: undefined }).detection.ruleId).toBe('Reverse shell');
  });

  it('names the rule by analytic, then title, then finding uid', () => {
    expect(
      one({ ...minimal, finding_info: { uid: 'f', title: 't', analytic: { name: 'A' } } }).detection,
    ).toMatchObject({
      ruleId: 'A',
      ruleName: 'A',
    });
    expect(one({ ...minimal, finding_info: { uid: 'fnd-9' } }).detection).toMatchObject({
      ruleId: 'fnd-9',
      ruleName: 'fnd-9',
    });
  });

  it('reads the older top-level attacks and tactics arrays', () => {
    const ev = one({
      ...minimal,
      attacks: [{ technique: { uid: 'T1548' }, tactics: [{ uid: 'TA0004', name: 'Privilege Escalation' }] }],
    });
    expect(ev.detection.techniques).toEqual(['T1548']);
    expect(ev.detection.tactics).toEqual(['Privilege Escalation']);
  });

  it('falls back to a cloud resource for the host and to the evidence file', () => {
    const ev = one({
      ...minimal,
      device: undefined,
      resources: [{ uid: 'i-0123456789abcdef0', name: 'web-01', type: 'AwsEc2Instance' }],
      evidences: [{ file: { path: '/tmp/x', hashes: [{ algorithm: 'SHA-256', value: 'a'.repeat(64) }] } }],
    });
    expect(ev.host).toEqual({ id: 'i-0123456789abcdef0', name: 'web-01', addresses: [] });
    expect(ev.file).toEqual({ path: '/tmp/x', sha256: 'a'.repeat(64) });
    expect(ev.process).toBeUndefined();
  });

  it('skips a Detection Finding Close and anything marked is_alert: false', () => {
    expect(parse({ ...minimal, activity_id: 3, type_uid: 200403 })).toEqual({
      ok: true,
      events: [],
      skipped: { count: 1, reason: 'OCSF Detection Finding Close (activity_id 3) is not a new detection' },
    });
    expect(parse({ ...fixture('process-activity-launch.json'), is_alert: false })).toEqual({
      ok: true,
      events: [],
      skipped: { count: 1, reason: 'OCSF event with is_alert: false' },
    });
  });

  it('stops a parent chain at 64 ancestors without recursing', () => {
    let chain: Record<string, unknown> = { pid: 1 };
    for (let pid = 2; pid < 5000; pid++) chain = { pid, parent_process: chain };
    const ev = one({ ...minimal, evidences: [{ process: { pid: 9999, parent_process: chain } }] });
    expect(ev.process?.ancestors).toHaveLength(64);
    expect(ev.process?.ancestors[0]).toEqual({ pid: 4999 });
  });

  it.each([
    [
      fixture('wrong-type-uid.json'),
      'type_uid: type_uid 100701 is not class_uid * 100 + activity_id (200401)',
    ],
    [fixture('unknown-class.json'), 'class_uid: 4001 is not supported'],
    [{ ...minimal, class_uid: undefined }, 'class_uid'],
    [{ ...minimal, class_uid: '2004' }, 'class_uid'],
    [{ ...minimal, activity_id: undefined }, 'activity_id'],
    [{ ...minimal, severity_id: 7 }, 'severity_id'],
    [{ ...minimal, time: undefined }, 'time: missing'],
    [{ ...minimal, time: 'yesterday' }, 'time'],
    [{ ...minimal, device: undefined }, 'device'],
    [{ ...minimal, device: { hostname: 42 } }, 'device.hostname'],
    [{ ...minimal, finding_info: undefined }, 'finding_info'],
    [{ ...minimal, finding_info: {} }, 'finding_info'],
    [
      { ...minimal, finding_info: { uid: 'f', attacks: [{ technique: 'T1059' }] } },
      'finding_info.attacks.0.technique',
    ],
    [{ ...minimal, evidences: [{ process: { pid: '4242' } }] }, 'evidences.0.process.pid'],
    [
      {
        ...minimal,
        evidences: [{ process: { pid: 1, parent_process: { pid: 2, parent_process: { pid: -0.5 } } } }],
      },
      'evidences.0.process.parent_process.parent_process.pid',
    ],
    [
      { ...minimal, evidences: [{ process: { parent_process: 'nginx' } }] },
      'evidences.0.process.parent_process',
    ],
    [{ ...fixture('process-activity-launch.json'), process: undefined }, 'process: required'],
    [[1, 2], '(root)'],
    ['a string', '(root)'],
  ])('refuses %j and names the problem (%s)', (input, path) => {
    const r = parse(input);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.issues.join('\n')).toContain(path);
  });
});
