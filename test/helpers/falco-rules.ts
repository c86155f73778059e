/**
 * Realistic Falco alerts from the upstream rule files in ../shared/data/falco: for each rule, its name,
 * priority, tags and source, and its output template with every %field filled with a plausible value
 * (the JSON shape Falco emits with json_output: true).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { repoRoot } from '../../src/paths.js';

export const SHARED_DATA = join(repoRoot(), '..', 'shared', 'data');

interface RuleItem {
  rule?: string;
  output?: string;
  priority?: string;
  tags?: string[];
  source?: string;
}

export interface FalcoRule {
  rule: string;
  output: string;
  priority: string;
  tags: string[];
  source: string;
}

export function loadFalcoRules(): FalcoRule[] {
  const out: FalcoRule[] = [];
  for (const f of ['falco_rules.yaml', 'falco-incubating_rules.yaml']) {
    const items = parse(readFileSync(join(SHARED_DATA, 'falco', f), 'utf8')) as RuleItem[];
    for (const i of items) {
      if (i.rule && i.output && i.priority) {
        out.push({
          rule: i.rule,
          output: i.output.trim(),
          priority: i.priority,
          tags: i.tags ?? [],
          source: i.source ?? 'syscall',
        });
      }
    }
  }
  return out;
}

const FIELD = /%([a-zA-Z0-9_.]+(?:\[[^\]]*\])?)/g;

function valueFor(field: string, i: number): string | number | null {
  if (/^proc\.aname\[[4-9]\]$/.test(field)) return null; // deep ancestors are often unknown
  const table: Record<string, string | number | null> = {
    'proc.name': 'bash',
    'proc.exe': '/usr/bin/bash',
    'proc.exepath': '/usr/bin/bash',
    'proc.cmdline': `bash -c id; uname -a #${i}`,
    'proc.pid': 40000 + i,
    'proc.ppid': 1200 + i,
    'proc.pname': 'nginx',
    'proc.pexe': '/usr/sbin/nginx',
    'proc.pexepath': '/usr/sbin/nginx',
    'proc.pcmdline': 'nginx: worker process',
    'proc.aname[2]': 'nginx',
    'proc.aname[3]': 'systemd',
    'proc.tty': 0,
    'proc.cwd': '/var/www/',
    'user.name': 'www-data',
    'user.uid': 33,
    'user.loginuid': -1,
    'user.loginname': '<NA>',
    'group.gid': 33,
    'group.name': 'www-data',
    'fd.name': '/etc/shadow',
    'fd.type': 'file',
    'fd.sip': '203.0.113.7',
    'fd.rip': '203.0.113.7',
    'fd.lport': 44312,
    'fd.rport': 4444,
    'fd.sport': 4444,
    'fd.l4proto': 'tcp',
    'container.id': 'host',
    'container.name': 'host',
    'container.image.repository': null,
    'container.image.tag': null,
    'evt.type': 'execve',
    'evt.res': 'SUCCESS',
  };
  if (field in table) return table[field] ?? null;
  if (field.startsWith('proc.aname')) return 'systemd';
  if (field.endsWith('.pid') || field.endsWith('uid') || field.endsWith('port')) return 1000 + i;
  return `value-of-${field}`;
}

/** One Falco JSON alert for `r`, as Falco would emit it. */
export function falcoAlertFor(r: FalcoRule, i: number, host = `node-${i % 7}`): Record<string, unknown> {
  const time = new Date(Date.UTC(2026, 10, 26, 9, 0, i))
    .toISOString()
    .replace('Z', '123456Z')
    .replace('.000', '.000');
  const fields: Record<string, string | number | null> = {
    'evt.time': Date.UTC(2026, 10, 26, 9, 0, i) * 1_000_000,
  };
  const filled = r.output.replace(FIELD, (_m, f: string) => {
    const v = valueFor(f, i);
    fields[f] = v;
    return v === null ? '<NA>' : String(v);
  });
  const priority = r.priority.charAt(0).toUpperCase() + r.priority.slice(1).toLowerCase();
  return {
    hostname: host,
    output: `${time.replace('Z', '+0000')}: ${priority} ${filled}`,
    output_fields: fields,
    priority,
    rule: r.rule,
    source: r.source,
    tags: r.tags,
    time,
  };
}
