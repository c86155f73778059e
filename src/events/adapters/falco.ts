/**
 * Falco's JSON alert (json_output: true), as sent by Falco's http_output or Falcosidekick:
 * { time, rule, priority, output, output_fields{ "proc.cmdline": ..., ... }, source, tags[], hostname }.
 * output_fields values may be null or "<NA>" when Falco could not resolve them.
 */
import { z } from 'zod';
import { DetectionEvent, type ProcessRef, type Severity } from '../detection-event.js';
import { compact, int, port, str, techniqueIds } from './common.js';
import { formatIssues, type SourceAdapter } from './types.js';

const PRIORITY: Record<string, Severity> = {
  emergency: 'critical',
  alert: 'critical',
  critical: 'critical',
  error: 'high',
  warning: 'medium',
  notice: 'low',
  informational: 'info',
  info: 'info',
  debug: 'info',
};

const FalcoAlert = z.object({
  rule: z.string().min(1, 'rule must name the Falco rule'),
  priority: z.string().refine((p) => PRIORITY[p.toLowerCase()] !== undefined, {
    message: `priority must be one of ${Object.keys(PRIORITY).join(', ')}`,
  }),
  time: z.string().optional(),
  output: z.string().optional(),
  output_fields: z.record(z.string(), z.unknown()).default({}),
  hostname: z.string().min(1).optional(),
  source: z.string().optional(),
  tags: z.array(z.string()).default([]),
});

function nsToIso(v: unknown): string | undefined {
  const s = typeof v === 'number' ? String(Math.trunc(v)) : typeof v === 'string' ? v : undefined;
  if (!s || !/^\d{16,20}$/.test(s)) return undefined;
  const ms = Number(BigInt(s) / 1_000_000n);
  return new Date(ms).toISOString();
}

function ancestors(f: Record<string, unknown>): ProcessRef[] {
  const chain: ProcessRef[] = [];
  const parent = compact({
    pid: int(f['proc.ppid']),
    name: str(f['proc.pname']) ?? str(f['proc.aname[1]']),
    executable: str(f['proc.pexepath']) ?? str(f['proc.pexe']),
    commandLine: str(f['proc.pcmdline']),
  });
  if (Object.keys(parent).length) chain.push(parent);
  for (let n = 2; n <= 8; n++) {
    const a = compact({ pid: int(f[`proc.apid[${n}]`]), name: str(f[`proc.aname[${n}]`]) });
    if (!Object.keys(a).length) break;
    chain.push(a);
  }
  return chain;
}

export const falcoAdapter: SourceAdapter = {
  name: 'falco',
  description: "Falco JSON alerts (json_output), from Falco's http_output or Falcosidekick",
  parse(raw, ctx) {
    const parsed = FalcoAlert.safeParse(raw);
    if (!parsed.success) return { ok: false, issues: formatIssues(parsed.error) };
    const a = parsed.data;
    const f = a.output_fields;
    const issues: string[] = [];

    const observedAt = a.time ?? nsToIso(f['evt.time']);
    if (!observedAt) issues.push('time: missing (and output_fields.evt.time is not a nanosecond timestamp)');
    const hostname = a.hostname ?? str(f['evt.hostname']);
    if (!hostname) issues.push('hostname: missing; enable Falco >= 0.34 hostname output or set evt.hostname');
    if (issues.length) return { ok: false, issues };

    const containerId = str(f['container.id']);
    const inContainer = containerId !== undefined && containerId !== 'host';
    const image = str(f['container.image.repository']);
    const tag = str(f['container.image.tag']);
    const fdType = str(f['fd.type']);
    const fdName = str(f['fd.name']) ?? str(f['fs.path.name']);
    const isNet = fdType === 'ipv4' || fdType === 'ipv6' || str(f['fd.rip']) !== undefined;
    const procPresent = ['proc.pid', 'proc.name', 'proc.exepath', 'proc.exe', 'proc.cmdline'].some(
      (k) => str(f[k]) !== undefined,
    );
    const user = compact({
      name: str(f['user.name']),
      uid: int(f['user.uid']),
      loginUid: int(f['user.loginuid']),
    });

    const candidate = {
      schemaVersion: 1,
      id: ctx.id,
      source: 'falco',
      observedAt,
      receivedAt: ctx.receivedAt,
      host: { id: hostname, name: hostname, addresses: [] },
      process: procPresent
        ? compact({
            pid: int(f['proc.pid']),
            ppid: int(f['proc.ppid']),
            name: str(f['proc.name']),
            executable: str(f['proc.exepath']) ?? str(f['proc.exe']),
            commandLine: str(f['proc.cmdline']),
            tty: int(f['proc.tty']),
            cwd: str(f['proc.cwd']),
            user: Object.keys(user).length ? user : undefined,
            ancestors: ancestors(f),
          })
        : undefined,
      user: Object.keys(user).length ? user : undefined,
      container: inContainer
        ? compact({
            id: containerId,
            name: str(f['container.name']),
            image: image && tag ? `${image}:${tag}` : image,
          })
        : undefined,
      file: !isNet && fdName?.startsWith('/') ? { path: fdName } : undefined,
      network: isNet
        ? compact({
            direction: 'unknown' as const,
            protocol: str(f['fd.l4proto']),
            localAddress: str(f['fd.lip']),
            localPort: port(f['fd.lport']),
            remoteAddress: str(f['fd.rip']) ?? str(f['fd.sip']),
            remotePort: port(f['fd.rport']) ?? port(f['fd.sport']),
          })
        : undefined,
      detection: {
        ruleId: a.rule,
        ruleName: a.rule,
        severity: PRIORITY[a.priority.toLowerCase()],
        techniques: techniqueIds(a.tags),
        tactics: a.tags.filter((t) => t.startsWith('mitre_')).map((t) => t.slice('mitre_'.length)),
        tags: a.tags,
        message: a.output?.slice(0, 8192),
      },
      raw,
    };
    const ev = DetectionEvent.safeParse(candidate);
    return ev.success ? { ok: true, events: [ev.data] } : { ok: false, issues: formatIssues(ev.error) };
  },
};
