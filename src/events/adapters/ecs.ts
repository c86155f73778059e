/**
 * Elastic Common Schema documents that are alerts:
 *  - Elastic Security detection alerts (8.x `.alerts-security.alerts-*`: `kibana.alert.rule.name`,
 *    `kibana.alert.rule.rule_id`/`uuid`, `kibana.alert.severity`, `kibana.alert.risk_score`,
 *    `kibana.alert.original_time`, `kibana.alert.reason`, `kibana.alert.rule.threat[]`; `event.kind: signal`),
 *    and their 7.x form (`signal.rule.*`, `signal.original_time`);
 *  - any ECS alert (`event.kind: alert`) with `rule.name`/`rule.id`, `threat.*`, `event.severity`, `message`.
 * Fields are read whether the document nests them (`{kibana: {alert: {...}}}`), flattens them
 * (`"kibana.alert.rule.name"`, as alerts are usually exported) or mixes both; a search hit (`_source`) or a
 * `fields` response is unwrapped. The ECS entity fields copied into the alert (host, process with one level
 * of parent, user, file, source/destination, network, container) are mapped.
 *
 * Refused: a document that is not an alert (no `event.kind` alert/signal, no kibana.alert.* / signal.*) and
 * names no rule: raw ECS telemetry belongs in a SIEM, not the intake. A non-alert that names a `rule.name`
 * (e.g. a firewall rule match) is taken as a detection of that rule. Skipped: Elastic building-block alerts
 * (`kibana.alert.building_block_type`), which Elastic itself hides as inputs to other rules.
 *
 * Rule id: the rule's static `rule_id` (the same on every Kibana for a prebuilt rule), else its saved-object
 * `uuid`, else `rule.id`, else the name. Severity: the alert's severity word; else the risk score (0-100) or
 * a numeric `event.severity` (a number or a decimal string), bucketed as Elastic's defaults (<=21 low,
 * <=47 medium, <=73 high, else critical), except a Suricata alert's (`suricata.eve.alert.severity`, or
 * `event.severity` with `event.module: suricata`), read on Suricata's scale (1 high, 2 medium, 3-4 low);
 * else medium. Network: `network.direction` inbound/ingress puts `source` as the remote end; otherwise
 * `source` is local and `destination` remote (the host's process connects out).
 */
import { DetectionEvent, IsoTime, type ProcessRef, type Severity } from '../detection-event.js';
import { compact, int, port, present, str, techniqueIds } from './common.js';
import { formatIssues, type SourceAdapter } from './types.js';

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function own(o: Record<string, unknown>, k: string): boolean {
  return Object.prototype.hasOwnProperty.call(o, k);
}

function walk(node: unknown, segs: readonly string[], out: unknown[]): void {
  if (segs.length === 0) {
    if (Array.isArray(node)) for (const v of node) if (!Array.isArray(v)) out.push(v);
    if (!Array.isArray(node)) out.push(node);
    return;
  }
  for (const o of Array.isArray(node) ? node : [node]) {
    if (!isRecord(o)) continue;
    for (let i = segs.length; i >= 1; i--) {
      const key = segs.slice(0, i).join('.');
      if (own(o, key)) walk(o[key], segs.slice(i), out);
    }
  }
}

/**
 * Every value at a dotted ECS path, trying nested objects and dotted keys at every level (`a.b.c`,
 * `a` -> `b.c`, `a.b` -> `c`, ...); arrays of objects on the way and an array at the end are flattened,
 * as Elasticsearch reads a field.
 */
export function values(doc: unknown, path: string): unknown[] {
  const out: unknown[] = [];
  walk(doc, path.split('.'), out);
  return out.filter((v) => v !== undefined && v !== null);
}

/** The first value at a dotted ECS path, nested or flattened (see `values`). */
export function get(doc: unknown, path: string): unknown {
  return values(doc, path)[0];
}

/** Whether any field lives under the dotted prefix (`kibana.alert` matches "kibana.alert.rule.name"). */
function hasUnder(node: unknown, segs: readonly string[]): boolean {
  if (!isRecord(node)) return false;
  const rest = segs.join('.');
  for (const k of Object.keys(node)) if (k === rest || k.startsWith(`${rest}.`)) return true;
  for (let i = 1; i < segs.length; i++) {
    const key = segs.slice(0, i).join('.');
    if (own(node, key) && hasUnder(node[key], segs.slice(i))) return true;
  }
  return false;
}

const SEVERITY_WORDS: Record<string, Severity> = {
  info: 'info',
  informational: 'info',
  low: 'low',
  medium: 'medium',
  high: 'high',
  critical: 'critical',
};

/**
 * Suricata's alert severity (1 most severe .. 4 least), which Elastic's Suricata integration copies into
 * `event.severity`: read on its own scale, never as a 0-100 score (where 1 would read as low).
 */
const SURICATA_LEVELS: Record<number, Severity> = { 1: 'high', 2: 'medium', 3: 'low', 4: 'low' };

/** A score as a number, or as the decimal string a shipper that does not map the field sends ("73"). */
function scoreOf(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? v : undefined;
  return typeof v === 'string' && /^\d{1,3}(\.\d+)?$/.test(v.trim()) ? Number(v.trim()) : undefined;
}

function fromScore(n: number): Severity {
  return n <= 21 ? 'low' : n <= 47 ? 'medium' : n <= 73 ? 'high' : 'critical';
}

function msToIso(ms: number): string | undefined {
  if (!Number.isFinite(ms) || ms < 0 || ms > 253_402_300_799_999) return undefined;
  return new Date(ms).toISOString();
}

function timeOf(v: unknown): string | undefined {
  if (typeof v === 'number') return msToIso(v);
  if (typeof v === 'string' && IsoTime.safeParse(v).success) return v;
  return undefined;
}

function sha256(v: unknown): string | undefined {
  const s = str(v)?.trim().toLowerCase();
  return s && /^[0-9a-f]{64}$/.test(s) ? s : undefined;
}

function strings(vs: readonly unknown[]): string[] {
  return vs.filter((v): v is string => typeof v === 'string' && v.trim() !== '');
}

export const ecsAdapter: SourceAdapter = {
  name: 'ecs',
  description:
    'ECS alerts: Elastic Security detection alerts (kibana.alert.*, signal.*) and event.kind: alert',
  parse(raw, ctx) {
    if (!isRecord(raw)) return { ok: false, issues: ['(root): expected an ECS document object'] };
    const doc = isRecord(raw._source)
      ? raw._source
      : isRecord(raw.fields) && !own(raw, '@timestamp')
        ? raw.fields
        : raw;
    const first = (...paths: string[]): string | undefined => {
      for (const p of paths) {
        const s = str(get(doc, p));
        if (s !== undefined) return s;
      }
      return undefined;
    };

    const kinds = strings(values(doc, 'event.kind')).map((k) => k.toLowerCase());
    const isAlert =
      kinds.includes('alert') ||
      kinds.includes('signal') ||
      hasUnder(doc, ['kibana', 'alert']) ||
      hasUnder(doc, ['signal', 'rule']);
    const ruleName = first('kibana.alert.rule.name', 'signal.rule.name', 'rule.name');
    if (!isAlert && !ruleName) {
      return {
        ok: false,
        issues: [
          `event.kind: ${kinds[0] ? `"${kinds[0]}" is` : 'missing:'} not an alert (expected "alert" or "signal", or kibana.alert.* fields) and no rule.name: the ecs source takes alerts, not raw events`,
        ],
      };
    }
    if (present(get(doc, 'kibana.alert.building_block_type'))) {
      return {
        ok: true,
        events: [],
        skipped: {
          count: 1,
          reason: 'Elastic building-block alert (an input to other rules, not shown as an alert)',
        },
      };
    }

    const issues: string[] = [];
    if (!ruleName)
      issues.push(
        'kibana.alert.rule.name: missing (or signal.rule.name, rule.name): an alert names its rule',
      );
    const timeRaw =
      get(doc, 'kibana.alert.original_time') ?? get(doc, 'signal.original_time') ?? get(doc, '@timestamp');
    const observedAt = timeOf(timeRaw);
    if (!observedAt) {
      issues.push(
        timeRaw === undefined
          ? '@timestamp: missing (and no kibana.alert.original_time)'
          : '@timestamp: not an ISO-8601 time or epoch milliseconds',
      );
    }
    const hostId = first('host.id', 'host.name', 'host.hostname');
    if (!hostId) issues.push('host: give host.id, host.name or host.hostname');
    if (issues.length || !ruleName || !hostId) return { ok: false, issues };

    // Severity.
    const word = first('kibana.alert.severity', 'signal.rule.severity', 'kibana.alert.rule.severity');
    const suricata = strings(values(doc, 'event.module')).some((m) => m.toLowerCase() === 'suricata');
    const suricataLevel = [
      get(doc, 'suricata.eve.alert.severity'),
      suricata ? get(doc, 'event.severity') : undefined,
    ]
      .map((v) => int(v))
      .find((n) => n !== undefined && SURICATA_LEVELS[n] !== undefined);
    const score = [
      get(doc, 'kibana.alert.risk_score'),
      get(doc, 'signal.rule.risk_score'),
      get(doc, 'event.risk_score'),
      suricataLevel === undefined ? get(doc, 'event.severity') : undefined,
    ]
      .map(scoreOf)
      .find((n) => n !== undefined);
    const severity: Severity =
      (word ? SEVERITY_WORDS[word.toLowerCase()] : undefined) ??
      (score !== undefined ? fromScore(score) : undefined) ??
      (suricataLevel !== undefined ? SURICATA_LEVELS[suricataLevel] : undefined) ??
      'medium';

    // Process, with one level of parent.
    const args = strings(values(doc, 'process.args'));
    const parentArgs = strings(values(doc, 'process.parent.args'));
    const parent: ProcessRef = compact({
      pid: int(get(doc, 'process.parent.pid')),
      name: first('process.parent.name'),
      executable: first('process.parent.executable'),
      commandLine:
        first('process.parent.command_line') ?? (parentArgs.length ? parentArgs.join(' ') : undefined),
    });
    if (parent.pid !== undefined && parent.pid < 0) delete parent.pid;
    const pid = int(get(doc, 'process.pid'));
    const procUser = compact({ name: first('process.user.name'), uid: int(get(doc, 'process.user.id')) });
    const proc = compact({
      pid: pid !== undefined && pid >= 0 ? pid : undefined,
      name: first('process.name'),
      executable: first('process.executable'),
      commandLine: first('process.command_line') ?? (args.length ? args.join(' ') : undefined),
    });
    const procHash = sha256(get(doc, 'process.hash.sha256'));
    const user = compact({
      name: first('user.name'),
      uid: int(get(doc, 'user.id')),
      domain: first('user.domain'),
    });

    // Network.
    const dir = first('network.direction')?.toLowerCase();
    const direction =
      dir === 'inbound' || dir === 'ingress'
        ? 'inbound'
        : dir === 'outbound' || dir === 'egress'
          ? 'outbound'
          : 'unknown';
    const src = { address: first('source.ip', 'source.address'), port: port(get(doc, 'source.port')) };
    const dst = {
      address: first('destination.ip', 'destination.address'),
      port: port(get(doc, 'destination.port')),
    };
    const [local, remote] = direction === 'inbound' ? [dst, src] : [src, dst];
    const isNet = [src.address, src.port, dst.address, dst.port].some((v) => v !== undefined);

    const filePath = first('file.path');
    const image = first('container.image.name');
    const tag = first('container.image.tag');
    const containerId = first('container.id');
    const addresses = strings(values(doc, 'host.ip')).slice(0, 64);

    const techniques = techniqueIds(
      [
        'threat.technique.id',
        'threat.technique.subtechnique.id',
        'kibana.alert.rule.threat.technique.id',
        'kibana.alert.rule.threat.technique.subtechnique.id',
        'signal.rule.threat.technique.id',
        'signal.rule.threat.technique.subtechnique.id',
      ].flatMap((p) => values(doc, p)),
    ).slice(0, 64);
    const tactics = [
      ...new Set(
        strings(
          [
            'threat.tactic.name',
            'kibana.alert.rule.threat.tactic.name',
            'signal.rule.threat.tactic.name',
          ].flatMap((p) => values(doc, p)),
        ),
      ),
    ].slice(0, 32);
    const ruleTags = strings(values(doc, 'kibana.alert.rule.tags'));
    const tags = ruleTags.length ? ruleTags : strings(values(doc, 'signal.rule.tags'));

    const candidate = {
      schemaVersion: 1,
      id: ctx.id,
      source: 'ecs',
      observedAt,
      receivedAt: ctx.receivedAt,
      host: compact({
        id: hostId.slice(0, 255),
        name: (first('host.hostname', 'host.name') ?? hostId).slice(0, 255),
        addresses,
        os: first('host.os.family', 'host.os.name', 'host.os.type'),
      }),
      process:
        Object.keys(proc).length || procHash
          ? compact({
              ...proc,
              ppid: parent.pid ?? int(get(doc, 'process.ppid')),
              startTime: timeOf(get(doc, 'process.start')),
              hash: procHash ? { sha256: procHash } : undefined,
              cwd: first('process.working_directory'),
              user: Object.keys(procUser).length ? procUser : Object.keys(user).length ? user : undefined,
              ancestors: Object.keys(parent).length ? [parent] : [],
            })
          : undefined,
      user: Object.keys(user).length ? user : Object.keys(procUser).length ? procUser : undefined,
      container: containerId
        ? compact({
            id: containerId,
            name: first('container.name'),
            image: image && tag ? `${image}:${tag}` : image,
          })
        : undefined,
      file: filePath ? compact({ path: filePath, sha256: sha256(get(doc, 'file.hash.sha256')) }) : undefined,
      network: isNet
        ? compact({
            direction,
            protocol: first('network.transport')?.toLowerCase(),
            localAddress: local.address,
            localPort: local.port,
            remoteAddress: remote.address,
            remotePort: remote.port,
          })
        : undefined,
      detection: {
        ruleId: (
          first(
            'kibana.alert.rule.rule_id',
            'kibana.alert.rule.uuid',
            'signal.rule.rule_id',
            'signal.rule.id',
            'rule.id',
            'rule.uuid',
          ) ?? ruleName
        ).slice(0, 512),
        ruleName: ruleName.slice(0, 512),
        severity,
        techniques,
        tactics,
        tags: (tags.length ? tags : strings(values(doc, 'tags'))).slice(0, 128),
        message: first(
          'kibana.alert.reason',
          'signal.reason',
          'message',
          'kibana.alert.rule.description',
        )?.slice(0, 8192),
      },
      raw,
    };
    const ev = DetectionEvent.safeParse(candidate);
    return ev.success ? { ok: true, events: [ev.data] } : { ok: false, issues: formatIssues(ev.error) };
  },
};
