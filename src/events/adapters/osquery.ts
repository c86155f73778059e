/**
 * osquery scheduled-query results, as osqueryd's logger plugins write them (filesystem, tls, kafka, ...).
 * The three documented shapes (osquery docs, "Logging osquery" > "Schedule results"):
 *  - event format (the default): one row change per document:
 *    { action: "added"|"removed", columns{...}, name, hostIdentifier, calendarTime, unixTime, epoch, counter,
 *      decorations?, numerics? }
 *  - batch format (--logger_event_type=false): { diffResults{ added[], removed[] }, name, hostIdentifier, ... }
 *  - snapshot format (a query with "snapshot": true): { action: "snapshot", snapshot[...rows], name, ... }
 * Column values are strings (numbers with --logger_numerics). The docs' own examples spell the host key
 * `hostname`; osqueryd writes `hostIdentifier`: both are read.
 *
 * What is a detection: the schedule is the detection logic (a query returns the rows that are suspicious), so
 * each `added` row of a differential query and each row of a snapshot is one DetectionEvent (ids via
 * eventIdAt, in row order). Not detections, acknowledged with `skipped` so a sender does not retry them:
 *  - the initial result set of a differential query (`counter` 0): the state at the first run, not a change;
 *  - `removed` rows: something stopped being true.
 * A snapshot is always a full result set, so the counter rule does not apply to it.
 *
 * Rule: the query `name` is the rule id; a `pack_<pack>_<query>` (or `pack/<pack>/<query>`) name reads as
 * "<query> (pack <pack>)". Severity: a column or decoration `vigil_severity`/`severity` (info, low, medium,
 * high, critical; columns first, unknown values ignored), else medium. ATT&CK: columns/decorations
 * `technique(s)`, `mitre_technique`, `attack_id` (comma/space separated) and T#### tokens of the query name
 * (`T1059_004` reads as T1059.004). Time: the row's `time` column (event tables, unix seconds), else
 * `unixTime`, else `calendarTime`.
 */
import { z } from 'zod';
import {
  DetectionEvent,
  type ProcessRef,
  type Severity as SeverityT,
  type UserRef,
} from '../detection-event.js';
import { compact, int, port, present, str, techniqueIds } from './common.js';
import {
  eventIdAt,
  formatIssues,
  type AdapterContext,
  type AdapterResult,
  type SourceAdapter,
} from './types.js';

type Row = Record<string, unknown>;

const RowSchema = z.record(z.string(), z.unknown());
const Scalar = z.union([z.string(), z.number()]);

const Envelope = z.object({
  name: z.string().min(1, 'name must be the scheduled query name').max(512),
  hostIdentifier: z.string().min(1).max(255).optional(),
  hostname: z.string().min(1).max(255).optional(),
  calendarTime: z.string().optional(),
  unixTime: Scalar.optional(),
  epoch: Scalar.optional(),
  counter: Scalar.optional(),
  decorations: z.record(z.string(), z.unknown()).default({}),
});
type Envelope = z.infer<typeof Envelope>;

const EventFormat = Envelope.extend({
  action: z.enum(['added', 'removed'], { message: 'action must be "added", "removed" or "snapshot"' }),
  columns: RowSchema,
});
const BatchFormat = Envelope.extend({
  diffResults: z.object({ added: z.array(RowSchema).default([]), removed: z.array(RowSchema).default([]) }),
});
const SnapshotFormat = Envelope.extend({ action: z.literal('snapshot'), snapshot: z.array(RowSchema) });

const INITIAL = 'osquery initial result set (counter 0)';
const REMOVED = 'osquery removed rows are not detections';

const SEVERITY_WORDS: Record<string, SeverityT> = {
  info: 'info',
  informational: 'info',
  low: 'low',
  medium: 'medium',
  moderate: 'medium',
  high: 'high',
  critical: 'critical',
};

const IP_PROTOCOLS: Record<string, string> = {
  '1': 'icmp',
  '6': 'tcp',
  '17': 'udp',
  '58': 'icmpv6',
  '132': 'sctp',
};

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Epoch milliseconds to ISO-8601, or undefined outside 1970..9999 (Date throws beyond its range). */
function msToIso(ms: number): string | undefined {
  if (!Number.isFinite(ms) || ms < 0 || ms > 253_402_300_799_999) return undefined;
  return new Date(ms).toISOString();
}

function unixSecondsToIso(v: unknown): string | undefined {
  const n = int(v);
  return n !== undefined && n > 0 ? msToIso(n * 1000) : undefined;
}

/** osquery's calendarTime: "Tue Sep 30 17:37:30 2014 UTC" (the docs also show it without " UTC"). */
export function calendarTimeToIso(v: unknown): string | undefined {
  if (typeof v !== 'string') return undefined;
  const m = /^[A-Za-z]{3} ([A-Za-z]{3}) +(\d{1,2}) (\d{2}):(\d{2}):(\d{2}) (\d{4})(?: UTC)?$/.exec(v.trim());
  if (!m) return undefined;
  const month = MONTHS.indexOf(m[1]!.toLowerCase());
  if (month < 0) return undefined;
  const ms = Date.UTC(Number(m[6]), month, Number(m[2]), Number(m[3]), Number(m[4]), Number(m[5]));
  return msToIso(ms);
}

/** `pack_<pack>_<query>` (or with the `/` pack delimiter) -> { pack, query }. */
function splitPackName(name: string): { pack?: string; query: string } {
  const m = /^pack([_/])([^_/]+)\1(.+)$/.exec(name);
  return m ? { pack: m[2]!, query: m[3]! } : { query: name };
}

/** T#### tokens in a query name; `_` or `-` may stand for the sub-technique dot. */
function techniquesInName(name: string): string[] {
  const out: string[] = [];
  for (const m of name.matchAll(/(?<![A-Za-z0-9])T(\d{4})(?:[._-](\d{3}))?(?!\d)/gi)) {
    out.push(m[2] ? `T${m[1]}.${m[2]}` : `T${m[1]}`);
  }
  return out;
}

/** A list in one column: technique ids split on commas and spaces, tactic names (with spaces) on commas. */
function splitList(v: unknown, separators = /[\s,;|]+/): string[] {
  const s = str(v);
  return s
    ? s
        .split(separators)
        .map((t) => t.trim())
        .filter((t) => t !== '')
    : [];
}

function lookup(row: Row, deco: Row, keys: readonly string[]): unknown[] {
  return [...keys.map((k) => row[k]), ...keys.map((k) => deco[k])];
}

function severityOf(row: Row, deco: Row): SeverityT {
  for (const v of lookup(row, deco, ['vigil_severity', 'severity'])) {
    const s = str(v)?.trim().toLowerCase();
    const sev = s ? SEVERITY_WORDS[s] : undefined;
    if (sev) return sev;
  }
  return 'medium';
}

function sha256(v: unknown): string | undefined {
  const s = str(v)?.trim().toLowerCase();
  return s && /^[0-9a-f]{64}$/.test(s) ? s : undefined;
}

function isUuid(s: string): boolean {
  return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(s);
}

/** `k=v` pairs of the row for the detection message, so an analyst sees what the query returned. */
function summarize(row: Row): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(row).slice(0, 40)) {
    const s = str(v);
    if (s !== undefined) parts.push(`${k}=${s.length > 256 ? `${s.slice(0, 256)}...` : s}`);
  }
  return parts.join(' ');
}

interface Doc {
  env: Envelope;
  host: { id: string; name?: string };
  baseTime?: string;
  pack?: string;
  query: string;
}

function rowCandidate(
  doc: Doc,
  row: Row,
  kind: 'added' | 'snapshot',
  raw: unknown,
  id: string,
  ctx: AdapterContext,
) {
  const { env } = doc;
  const deco = env.decorations;
  const col = (k: string) => str(row[k]);

  const pid = int(row.pid);
  const ppid = int(row.parent) ?? int(row.ppid);
  const isProcess = pid !== undefined || ppid !== undefined || col('cmdline') !== undefined;
  const hasExecutableColumn = col('executable') !== undefined;
  const filePath =
    col('target_path') ?? (hasExecutableColumn || !isProcess ? col('path') : undefined) ?? col('dest_path');
  const executable = col('executable') ?? (isProcess && filePath === undefined ? col('path') : undefined);
  const hash = sha256(row.sha256);

  const auid = int(row.auid);
  const user: UserRef = compact({
    name: col('username') ?? col('user'),
    uid: int(row.uid),
    loginUid: auid === 4294967295 ? undefined : auid,
  });
  const hasUser = Object.keys(user).length > 0;

  const parent: ProcessRef = compact({
    pid: ppid !== undefined && ppid >= 0 ? ppid : undefined,
    name: col('parent_name'),
    executable: col('parent_path'),
    commandLine: col('parent_cmdline'),
  });

  const listening = col('remote_address') === undefined && present(row.address) && present(row.port);
  const localAddress = col('local_address') ?? (listening ? col('address') : undefined);
  const localPort = port(row.local_port) ?? (listening ? port(row.port) : undefined);
  const remoteAddress = col('remote_address');
  const remotePort = port(row.remote_port);
  const isNet = [localAddress, localPort, remoteAddress, remotePort].some((v) => v !== undefined);
  const proto = col('protocol');
  const action = col('action')?.toLowerCase();
  const direction =
    action === 'connect' ? 'outbound' : action === 'accept' || listening ? 'inbound' : ('unknown' as const);

  const startTime = unixSecondsToIso(row.start_time);
  const observedAt = unixSecondsToIso(row.time) ?? doc.baseTime;

  const techniques = techniqueIds([
    ...lookup(row, deco, [
      'technique',
      'techniques',
      'mitre_technique',
      'mitre_techniques',
      'attack_id',
    ]).flatMap((v) => splitList(v)),
    ...techniquesInName(env.name),
  ]).slice(0, 64);
  const tactics = [
    ...new Set(
      lookup(row, deco, ['tactic', 'tactics', 'mitre_tactic']).flatMap((v) => splitList(v, /[,;|]+/)),
    ),
  ].slice(0, 32);
  const ruleName = (doc.pack ? `${doc.query} (pack ${doc.pack})` : doc.query).slice(0, 512);
  const summary = summarize(row);

  return {
    schemaVersion: 1,
    id,
    source: 'osquery',
    observedAt,
    receivedAt: ctx.receivedAt,
    host: { ...doc.host, addresses: [] },
    process: isProcess
      ? compact({
          pid: pid !== undefined && pid >= 0 ? pid : undefined,
          ppid: parent.pid,
          name: col('name'),
          executable,
          commandLine: col('cmdline'),
          cwd: col('cwd'),
          startTime,
          hash: filePath === undefined && hash ? { sha256: hash } : undefined,
          user: hasUser ? user : undefined,
          ancestors: Object.keys(parent).length ? [parent] : [],
        })
      : undefined,
    user: hasUser ? user : undefined,
    file: filePath ? compact({ path: filePath, sha256: hash }) : undefined,
    network: isNet
      ? compact({
          direction,
          protocol: proto ? (IP_PROTOCOLS[proto] ?? proto) : undefined,
          localAddress,
          localPort,
          remoteAddress,
          remotePort,
        })
      : undefined,
    detection: {
      ruleId: env.name,
      ruleName,
      severity: severityOf(row, deco),
      techniques,
      tactics,
      tags: [`osquery:${kind}`, ...(doc.pack ? [`pack:${doc.pack}`] : [])],
      message: `osquery ${env.name}: ${kind} row${summary ? ` ${summary}` : ''}`.slice(0, 8192),
    },
    raw,
  };
}

/**
 * `raw` of a row's event: an event-format document is kept as received; a batch or snapshot row is kept as
 * received inside the event-format rendition osquery would have logged for it (the envelope as received, the
 * row as `columns`), so each event stays self-describing without repeating the whole batch.
 */
function rowRendition(doc: Row, rows: unknown, kind: 'added' | 'snapshot'): (i: number) => unknown {
  const envelope = Object.fromEntries(
    Object.entries(doc).filter(([k]) => k !== 'diffResults' && k !== 'snapshot' && k !== 'action'),
  );
  return (i) => ({
    ...envelope,
    action: kind,
    columns: Array.isArray(rows) ? (rows[i] as unknown) : undefined,
  });
}

function eventsFor(
  doc: Doc,
  rows: readonly Row[],
  where: string,
  kind: 'added' | 'snapshot',
  rawAt: (i: number) => unknown,
  ctx: AdapterContext,
): { ok: true; events: DetectionEvent[] } | { ok: false; issues: string[] } {
  const events: DetectionEvent[] = [];
  for (const [i, row] of rows.entries()) {
    const candidate = rowCandidate(doc, row, kind, rawAt(i), eventIdAt(ctx, i), ctx);
    if (candidate.observedAt === undefined) {
      return {
        ok: false,
        issues: [
          `unixTime: missing or not unix seconds, calendarTime not like "Tue Sep 30 17:37:30 2014 UTC", and ${where}.${i} has no time column`,
        ],
      };
    }
    const ev = DetectionEvent.safeParse(candidate);
    if (!ev.success) return { ok: false, issues: formatIssues(ev.error).map((m) => `${where}.${i} -> ${m}`) };
    events.push(ev.data);
  }
  return { ok: true, events };
}

function docFor(env: Envelope): Doc | string {
  const deco = env.decorations;
  const hostId = env.hostIdentifier ?? env.hostname ?? str(deco.host_uuid) ?? str(deco.hostname);
  if (!hostId)
    return 'hostIdentifier: missing (osqueryd --host_identifier), and no hostname/host_uuid decoration';
  const name = str(deco.hostname) ?? (isUuid(hostId) ? undefined : hostId);
  const { pack, query } = splitPackName(env.name);
  return {
    env,
    host: compact({ id: hostId.slice(0, 255), name: name?.slice(0, 255) }),
    baseTime: unixSecondsToIso(env.unixTime) ?? calendarTimeToIso(env.calendarTime),
    pack,
    query,
  };
}

/** The initial run of a differential query (counter "0") is state. Documents without a counter are changes. */
function isInitial(env: Envelope): boolean {
  return env.counter !== undefined && int(env.counter) === 0;
}

function withSkipped(
  r: { ok: true; events: DetectionEvent[] } | { ok: false; issues: string[] },
  count: number,
  reason: string,
): AdapterResult {
  return r.ok && count > 0 ? { ...r, skipped: { count, reason } } : r;
}

export const osqueryAdapter: SourceAdapter = {
  name: 'osquery',
  description: 'osquery scheduled query results: event, batch (diffResults) and snapshot formats',
  parse(raw, ctx) {
    if (!isRecord(raw)) return { ok: false, issues: ['(root): expected an osquery result object'] };

    if ('diffResults' in raw) {
      const p = BatchFormat.safeParse(raw);
      if (!p.success) return { ok: false, issues: formatIssues(p.error) };
      const doc = docFor(p.data);
      if (typeof doc === 'string') return { ok: false, issues: [doc] };
      const { added, removed } = p.data.diffResults;
      if (isInitial(p.data)) {
        return { ok: true, events: [], skipped: { count: added.length + removed.length, reason: INITIAL } };
      }
      const rawAdded = isRecord(raw.diffResults) ? raw.diffResults.added : undefined;
      const r = eventsFor(
        doc,
        added,
        'diffResults.added',
        'added',
        rowRendition(raw, rawAdded, 'added'),
        ctx,
      );
      if (r.ok && added.length === 0 && removed.length === 0) {
        return { ok: true, events: [], skipped: { count: 0, reason: 'osquery result with no rows' } };
      }
      return withSkipped(r, removed.length, REMOVED);
    }

    if (raw.action === 'snapshot' || 'snapshot' in raw) {
      const p = SnapshotFormat.safeParse(raw);
      if (!p.success) return { ok: false, issues: formatIssues(p.error) };
      const doc = docFor(p.data);
      if (typeof doc === 'string') return { ok: false, issues: [doc] };
      if (p.data.snapshot.length === 0) {
        return { ok: true, events: [], skipped: { count: 0, reason: 'osquery snapshot with no rows' } };
      }
      const rawAt = rowRendition(raw, raw.snapshot, 'snapshot');
      return eventsFor(doc, p.data.snapshot, 'snapshot', 'snapshot', rawAt, ctx);
    }

    if ('action' in raw || 'columns' in raw) {
      const p = EventFormat.safeParse(raw);
      if (!p.success) return { ok: false, issues: formatIssues(p.error) };
      const doc = docFor(p.data);
      if (typeof doc === 'string') return { ok: false, issues: [doc] };
      if (isInitial(p.data)) return { ok: true, events: [], skipped: { count: 1, reason: INITIAL } };
      if (p.data.action === 'removed')
        return { ok: true, events: [], skipped: { count: 1, reason: REMOVED } };
      return eventsFor(doc, [p.data.columns], 'columns', 'added', () => raw, ctx);
    }

    return {
      ok: false,
      issues: [
        '(root): not an osquery result: expected "action" with "columns" (event format), "diffResults" (batch format) or "action": "snapshot" with "snapshot"',
      ],
    };
  },
};
