import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadAttackTable } from '../../../activities/enrichment/attack.js';
import { repoRoot } from '../../paths.js';
import { falcoAlertFor, loadFalcoRules } from '../../../test/helpers/falco-rules.js';
import { DetectionEvent } from '../detection-event.js';
import { falcoAdapter } from './falco.js';

const ctx = { id: 'ev_test0000', receivedAt: '2026-11-26T09:00:00.000Z' };
const fixture = (name: string) =>
  JSON.parse(readFileSync(join(repoRoot(), 'test', 'fixtures', 'falco', name), 'utf8')) as Record<
    string,
    unknown
  >;

describe('falco adapter', () => {
  it('normalizes every rule of the upstream stable and incubating rule files', () => {
    const rules = loadFalcoRules();
    expect(rules.length).toBe(56);
    const attack = loadAttackTable(join(repoRoot(), 'data', 'attack', 'techniques.json'));
    for (const [i, r] of rules.entries()) {
      const res = falcoAdapter.parse(falcoAlertFor(r, i), ctx);
      if (!res.ok) throw new Error(`${r.rule}: ${res.issues.join('; ')}`);
      expect(DetectionEvent.parse(res.events[0]!)).toEqual(res.events[0]!);
      expect(res.events[0]!.detection.ruleName).toBe(r.rule);
      // Every technique id a rule carries is kept, and all of them are in the shipped ATT&CK table.
      const ids = r.tags.filter((t) => /^T\d{4}/.test(t));
      expect(res.events[0]!.detection.techniques).toEqual(ids);
      for (const t of res.events[0]!.detection.techniques) expect(attack.lookup(t).known).toBe(true);
    }
  });

  it('maps process lineage, user and network fields of a reverse shell alert', () => {
    const res = falcoAdapter.parse(fixture('run-shell-untrusted.json'), ctx);
    expect(res.ok).toBe(true);
    if (!res.ok) return;
    const ev = res.events[0]!;
    expect(ev.host).toEqual({ id: 'web-01', name: 'web-01', addresses: [] });
    expect(ev.detection.severity).toBe('low');
    expect(ev.process?.pid).toBe(48213);
    expect(ev.process?.executable).toBe('/usr/bin/bash');
    expect(ev.process?.user).toEqual({ name: 'www-data', uid: 33, loginUid: -1 });
    expect(ev.process?.ancestors.map((a) => a.name)).toEqual(['nginx', 'nginx', 'systemd']);
    expect(ev.container).toBeUndefined(); // no container.id: a host process
    expect(ev.observedAt).toBe('2026-11-26T09:41:07.123456789Z');
  });

  it('treats null and <NA> fields as absent and container "host" as no container', () => {
    const res = falcoAdapter.parse(
      {
        rule: 'Read sensitive file untrusted',
        priority: 'Warning',
        time: '2026-11-26T10:00:00.000000001Z',
        hostname: 'db-2',
        output_fields: {
          'proc.name': 'cat',
          'proc.pid': '<NA>',
          'user.name': null,
          'container.id': 'host',
          'fd.name': '/etc/shadow',
        },
        tags: [],
      },
      ctx,
    );
    expect(res.ok).toBe(true);
    if (!res.ok) return;
    expect(res.events[0]!.process).toMatchObject({ name: 'cat' });
    expect(res.events[0]!.process?.pid).toBeUndefined();
    expect(res.events[0]!.user).toBeUndefined();
    expect(res.events[0]!.container).toBeUndefined();
    expect(res.events[0]!.file).toEqual({ path: '/etc/shadow' });
    expect(res.events[0]!.detection.severity).toBe('medium');
  });

  it('takes the time from evt.time nanoseconds when the time key is missing', () => {
    const res = falcoAdapter.parse(
      { rule: 'x', priority: 'Critical', hostname: 'h', output_fields: { 'evt.time': 1795685067123456789 } },
      ctx,
    );
    expect(res.ok && res.events[0]!.observedAt).toBe('2026-11-26T09:24:27.123Z');
    expect(res.ok && res.events[0]!.detection.severity).toBe('critical');
  });

  it.each([
    [{}, 'rule'],
    [{ rule: 'r', priority: 'Loud', time: '2026-11-26T10:00:00Z', hostname: 'h' }, 'priority'],
    [{ rule: 'r', priority: 'Notice', hostname: 'h' }, 'time'],
    [{ rule: 'r', priority: 'Notice', time: '2026-11-26T10:00:00Z' }, 'hostname'],
    [{ rule: 'r', priority: 'Notice', time: 'yesterday', hostname: 'h' }, 'observedAt'],
    [{ rule: 'r', priority: 'Notice', time: '2026-11-26T10:00:00Z', hostname: 'h', tags: 'T1059' }, 'tags'],
    [[1, 2], '(root)'],
    ['a string', '(root)'],
  ])('refuses %j and names the problem (%s)', (input, path) => {
    const res = falcoAdapter.parse(input, ctx);
    expect(res.ok).toBe(false);
    if (!res.ok) expect(res.issues.join('\n')).toContain(path);
  });
});
