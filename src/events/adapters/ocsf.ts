/**
 * OCSF 1.x events (https://schema.ocsf.io), two classes:
 *  - Detection Finding (class_uid 2004, type_uid 200400 + activity_id: 1 Create, 2 Update, 3 Close):
 *    what a detection engine found. The rule is `finding_info.analytic` (uid/name), else `finding_info.title`,
 *    else `finding_info.uid` (which usually names the finding instance, so it is the last resort). The
 *    process, file, user and network come from the first `evidences[]` that has them, else `actor`.
 *  - Process Activity (class_uid 1007, type_uid 100700 + activity_id: 1 Launch, 2 Terminate, 3 Open,
 *    4 Inject, 5 Set User ID): raw telemetry. The intake is not a telemetry pipe: a sender posts the 1007
 *    events it wants handled (its own filter, or the Security Control profile's `is_alert`), so every 1007
 *    posted is one detection. Its rule is the Security Control `policy` (uid/name) or a `finding_info` when
 *    the sender added one, else "Process Activity: <activity name>", with its first ATT&CK (sub-)technique
 *    when it carries `attacks` ("Process Activity: Launch (T1003.002 Security Account Manager)"); severity
 *    from severity_id like findings.
 * Not detections, acknowledged with `skipped`: a Detection Finding Close (activity 3: the finding was
 * resolved), and any event with `is_alert: false` (the producer says it is not alertable). An Update
 * (activity 2: new evidence, a severity change) is a detection again; correlation joins it to the open
 * incident of the same host and rule.
 *
 * Checked: class_uid is one of the two (an unknown class is refused by name); type_uid, when present, is
 * class_uid * 100 + activity_id (producers that omit it, as some OCSF examples do, are accepted); severity_id
 * is an OCSF value (0-6, 99). Severity: 1 info, 2 low, 3 medium, 4 high, 5 critical, 6 fatal -> critical;
 * 0 (Unknown) and 99 (Other) fall back to the `severity` caption, else medium. `time` is epoch milliseconds
 * (an ISO string and `time_dt` are accepted; a number below 1e11 is read as seconds, a known producer slip).
 * Lineage: `process.parent_process` recursively, nearest first; a Launch (1007, activity 1) whose process has
 * no parent_process uses `actor.process` (the launcher) and its parents. A finding's `actor` is not read as a
 * parent: there it is whoever performed the activity, often the evidence process itself.
 */
import { z } from 'zod';
import { DetectionEvent, IsoTime, type ProcessRef, type Severity, type UserRef } from '../detection-event.js';
import { compact, int, port, str, techniqueIds } from './common.js';
import { formatIssues, type SourceAdapter } from './types.js';

const Fingerprint = z.object({
  algorithm_id: z.number().int().optional(),
  algorithm: z.string().optional(),
  value: z.string(),
});
const OcsfFile = z.object({
  path: z.string().optional(),
  name: z.string().optional(),
  hashes: z.array(Fingerprint).optional(),
});
const OcsfUser = z.object({
  name: z.string().optional(),
  uid: z.union([z.string(), z.number()]).optional(),
  domain: z.string().optional(),
});
/** One process; `parent_process` is read level by level (see lineage) so a deep chain never recurses. */
const OcsfProcess = z.object({
  pid: z.number().int().optional(),
  uid: z.string().optional(),
  name: z.string().optional(),
  cmd_line: z.string().optional(),
  file: OcsfFile.optional(),
  user: OcsfUser.optional(),
  created_time: z.number().optional(),
  created_time_dt: z.string().optional(),
  working_directory: z.string().optional(),
  parent_process: z.unknown().optional(),
});
type OcsfProcess = z.infer<typeof OcsfProcess>;

const Device = z.object({
  uid: z.string().optional(),
  hostname: z.string().optional(),
  name: z.string().optional(),
  ip: z.string().optional(),
  os: z.object({ name: z.string().optional(), type: z.string().optional() }).optional(),
});
const Named = z.object({ uid: z.string().optional(), name: z.string().optional() });
const Attack = z.object({
  technique: Named.optional(),
  sub_technique: Named.optional(),
  tactic: Named.optional(),
  tactics: z.array(Named).optional(),
});
const FindingInfo = z.object({
  uid: z.string().optional(),
  title: z.string().optional(),
  desc: z.string().optional(),
  types: z.array(z.string()).optional(),
  analytic: Named.optional(),
  attacks: z.array(Attack).optional(),
});
const Actor = z.object({ process: OcsfProcess.optional(), user: OcsfUser.optional() });
const Endpoint = z.object({ ip: z.string().optional(), port: z.number().int().optional() });
const Evidence = z.object({
  process: OcsfProcess.optional(),
  file: OcsfFile.optional(),
  user: OcsfUser.optional(),
  actor: Actor.optional(),
  device: Device.optional(),
  src_endpoint: Endpoint.optional(),
  dst_endpoint: Endpoint.optional(),
  connection_info: z
    .object({ protocol_name: z.string().optional(), direction_id: z.number().int().optional() })
    .optional(),
});

const SEVERITY_IDS = new Set([0, 1, 2, 3, 4, 5, 6, 99]);
const CLASSES: Record<number, string> = { 2004: 'Detection Finding', 1007: 'Process Activity' };

const OcsfEvent = z
  .object({
    class_uid: z.number({ message: 'class_uid must be the OCSF class id (2004 or 1007)' }).int(),
    activity_id: z.number({ message: 'activity_id must be the OCSF activity id' }).int(),
    activity_name: z.string().optional(),
    type_uid: z.number().int().optional(),
    time: z.union([z.number(), z.string()]).optional(),
    time_dt: z.string().optional(),
    severity_id: z
      .number()
      .int()
      .refine((n) => SEVERITY_IDS.has(n), { message: 'severity_id must be 0-6 or 99' })
      .optional(),
    severity: z.string().optional(),
    message: z.string().optional(),
    is_alert: z.boolean().optional(),
    metadata: z
      .object({
        version: z.string().optional(),
        product: z.object({ name: z.string().optional(), vendor_name: z.string().optional() }).optional(),
        labels: z.array(z.string()).optional(),
      })
      .optional(),
    device: Device.optional(),
    finding_info: FindingInfo.optional(),
    attacks: z.array(Attack).optional(),
    policy: Named.optional(),
    actor: Actor.optional(),
    process: OcsfProcess.optional(),
    evidences: z.array(Evidence).optional(),
    resources: z.array(z.object({ uid: z.string().optional(), name: z.string().optional() })).optional(),
  })
  .superRefine((e, ctx) => {
    const expected = e.class_uid * 100 + e.activity_id;
    if (e.type_uid !== undefined && e.type_uid !== expected) {
      ctx.addIssue({
        code: 'custom',
        path: ['type_uid'],
        message: `type_uid ${e.type_uid} is not class_uid * 100 + activity_id (${expected})`,
      });
    }
  });
type OcsfEvent = z.infer<typeof OcsfEvent>;

const SEVERITY_BY_ID: Record<number, Severity> = {
  1: 'info',
  2: 'low',
  3: 'medium',
  4: 'high',
  5: 'critical',
  6: 'critical',
};
const SEVERITY_BY_CAPTION: Record<string, Severity> = {
  informational: 'info',
  info: 'info',
  low: 'low',
  medium: 'medium',
  high: 'high',
  critical: 'critical',
  fatal: 'critical',
};
const PROCESS_ACTIVITIES: Record<number, string> = {
  0: 'Unknown',
  1: 'Launch',
  2: 'Terminate',
  3: 'Open',
  4: 'Inject',
  5: 'Set User ID',
  99: 'Other',
};

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function msToIso(ms: number): string | undefined {
  if (!Number.isFinite(ms) || ms < 0 || ms > 253_402_300_799_999) return undefined;
  return new Date(ms).toISOString();
}

/** OCSF timestamp_t is epoch ms; a value below 1e11 (before 1973 in ms) is a producer sending seconds. */
function timestampToIso(v: unknown): string | undefined {
  if (typeof v === 'number') return msToIso(v < 1e11 ? v * 1000 : v);
  if (typeof v === 'string' && IsoTime.safeParse(v).success) return v;
  return undefined;
}

function prefixed(error: z.ZodError, prefix: string): string[] {
  return formatIssues(error).map((m) =>
    m.startsWith('(root):') ? `${prefix}${m.slice(6)}` : `${prefix}.${m}`,
  );
}

function processRef(p: OcsfProcess): ProcessRef {
  return compact({
    pid: p.pid !== undefined && p.pid >= 0 ? p.pid : undefined,
    name: str(p.name) ?? str(p.file?.name),
    executable: str(p.file?.path),
    commandLine: str(p.cmd_line),
  });
}

/** Parents of `first`'s level, nearest first, each level validated; issues name the exact level. */
function lineage(first: unknown, path: string, issues: string[]): ProcessRef[] {
  const chain: ProcessRef[] = [];
  let node = first;
  let at = path;
  while (node !== undefined && node !== null && chain.length < 64) {
    const r = OcsfProcess.safeParse(node);
    if (!r.success) {
      issues.push(...prefixed(r.error, at));
      break;
    }
    chain.push(processRef(r.data));
    node = r.data.parent_process;
    at = `${at}.parent_process`;
  }
  return chain;
}

function userRef(u: z.infer<typeof OcsfUser> | undefined): UserRef | undefined {
  if (!u) return undefined;
  const ref = compact({ name: str(u.name), uid: int(u.uid), domain: str(u.domain) });
  return Object.keys(ref).length ? ref : undefined;
}

function sha256Of(f: z.infer<typeof OcsfFile> | undefined): string | undefined {
  const h = f?.hashes?.find((x) => x.algorithm_id === 3 || /^sha-?256$/i.test(x.algorithm ?? ''));
  const v = h?.value.trim().toLowerCase();
  return v && /^[0-9a-f]{64}$/.test(v) ? v : undefined;
}

function severityOf(e: OcsfEvent): Severity {
  const byId = e.severity_id !== undefined ? SEVERITY_BY_ID[e.severity_id] : undefined;
  return byId ?? SEVERITY_BY_CAPTION[(e.severity ?? '').trim().toLowerCase()] ?? 'medium';
}

function attacksOf(e: OcsfEvent): { techniques: string[]; tactics: string[] } {
  const attacks = [...(e.finding_info?.attacks ?? []), ...(e.attacks ?? [])];
  const techniques = techniqueIds(attacks.flatMap((a) => [a.technique?.uid, a.sub_technique?.uid]));
  const tactics = new Set<string>();
  for (const a of attacks) {
    for (const t of [a.tactic, ...(a.tactics ?? [])]) {
      const name = str(t?.name) ?? str(t?.uid);
      if (name) tactics.add(name);
    }
  }
  return { techniques: techniques.slice(0, 64), tactics: [...tactics].slice(0, 32) };
}

function hostOf(e: OcsfEvent): { id: string; name?: string; addresses: string[]; os?: string } | undefined {
  const d = e.device ?? e.evidences?.find((x) => x.device)?.device;
  const res = e.resources?.find((r) => str(r.uid) ?? str(r.name));
  const id = str(d?.uid) ?? str(d?.hostname) ?? str(d?.name) ?? str(d?.ip) ?? str(res?.uid) ?? str(res?.name);
  if (!id) return undefined;
  const name = str(d?.hostname) ?? str(d?.name) ?? str(res?.name);
  const ip = str(d?.ip);
  return compact({
    id: id.slice(0, 255),
    name: name?.slice(0, 255),
    addresses: ip ? [ip] : [],
    os: str(d?.os?.name) ?? str(d?.os?.type),
  });
}

export const ocsfAdapter: SourceAdapter = {
  name: 'ocsf',
  description: 'OCSF 1.x Detection Finding (class 2004) and Process Activity (class 1007) events',
  parse(raw, ctx) {
    if (!isRecord(raw)) return { ok: false, issues: ['(root): expected an OCSF event object'] };
    if (typeof raw.class_uid === 'number' && CLASSES[raw.class_uid] === undefined) {
      return {
        ok: false,
        issues: [
          `class_uid: ${raw.class_uid} is not supported; the ocsf adapter reads Detection Finding (2004) and Process Activity (1007)`,
        ],
      };
    }
    const parsed = OcsfEvent.safeParse(raw);
    if (!parsed.success) return { ok: false, issues: formatIssues(parsed.error) };
    const e = parsed.data;
    const finding = e.class_uid === 2004;

    if (e.is_alert === false) {
      return { ok: true, events: [], skipped: { count: 1, reason: 'OCSF event with is_alert: false' } };
    }
    if (finding && e.activity_id === 3) {
      return {
        ok: true,
        events: [],
        skipped: { count: 1, reason: 'OCSF Detection Finding Close (activity_id 3) is not a new detection' },
      };
    }

    const issues: string[] = [];
    const observedAt = e.time !== undefined ? timestampToIso(e.time) : timestampToIso(e.time_dt);
    if (!observedAt) {
      issues.push(
        e.time === undefined && e.time_dt === undefined
          ? 'time: missing (epoch milliseconds)'
          : 'time: not epoch milliseconds or an ISO-8601 time',
      );
    }
    const host = hostOf(e);
    if (!host) issues.push('device: give device.uid, device.hostname or device.name (the OCSF Host profile)');

    // The process and its lineage.
    const evidence = e.evidences ?? [];
    const evProcIndex = evidence.findIndex((x) => x.process);
    let proc: OcsfProcess | undefined;
    let procPath = 'process';
    if (finding && evProcIndex >= 0) {
      proc = evidence[evProcIndex]!.process;
      procPath = `evidences.${evProcIndex}.process`;
    } else if (e.process) {
      proc = e.process;
    } else if (finding && e.actor?.process) {
      proc = e.actor.process;
      procPath = 'actor.process';
    }
    if (!finding && !proc) issues.push('process: required for Process Activity (class_uid 1007)');
    let ancestors: ProcessRef[] = [];
    if (proc?.parent_process !== undefined && proc.parent_process !== null) {
      ancestors = lineage(proc.parent_process, `${procPath}.parent_process`, issues);
    } else if (!finding && e.activity_id === 1 && e.actor?.process) {
      // A Launch's actor is the process that started `process`: its parent (other activities' actors are not).
      ancestors = lineage(e.actor.process, 'actor.process', issues);
    }

    // The rule.
    const fi = e.finding_info;
    const activity = str(e.activity_name) ?? PROCESS_ACTIVITIES[e.activity_id] ?? `activity ${e.activity_id}`;
    const attack = [...(fi?.attacks ?? []), ...(e.attacks ?? [])].find((a) => a.sub_technique ?? a.technique);
    const technique = str(attack?.sub_technique?.uid) ? attack?.sub_technique : attack?.technique;
    const label = [str(technique?.uid), str(technique?.name)].filter((x) => x !== undefined).join(' ');
    const activityRule = `Process Activity: ${activity}${label ? ` (${label})` : ''}`;
    const ruleId = finding
      ? (str(fi?.analytic?.uid) ?? str(fi?.analytic?.name) ?? str(fi?.title) ?? str(fi?.uid))
      : (str(e.policy?.uid) ??
        str(e.policy?.name) ??
        str(fi?.analytic?.uid) ??
        str(fi?.analytic?.name) ??
        str(fi?.title) ??
        activityRule);
    const ruleName = finding
      ? (str(fi?.analytic?.name) ?? str(fi?.title) ?? ruleId)
      : (str(e.policy?.name) ?? str(fi?.analytic?.name) ?? str(fi?.title) ?? ruleId);
    if (finding && !fi) issues.push('finding_info: required for a Detection Finding (class_uid 2004)');
    else if (!ruleId) issues.push('finding_info: give an analytic, a title or a uid (what was found)');
    if (issues.length) return { ok: false, issues };

    const evUser = evidence.find((x) => x.user)?.user;
    const evActor = evidence.find((x) => x.actor)?.actor;
    const user = userRef(proc?.user) ?? userRef(evUser) ?? userRef(evActor?.user) ?? userRef(e.actor?.user);
    const evFile = evidence.find((x) => x.file?.path)?.file;
    const net = evidence.find((x) => x.src_endpoint ?? x.dst_endpoint);
    const dirId = net?.connection_info?.direction_id;
    const direction = dirId === 1 ? 'inbound' : dirId === 2 ? 'outbound' : ('unknown' as const);
    const [local, remote] =
      direction === 'inbound'
        ? [net?.dst_endpoint, net?.src_endpoint]
        : [net?.src_endpoint, net?.dst_endpoint];
    const hash = proc ? sha256Of(proc.file) : undefined;
    const { techniques, tactics } = attacksOf(e);

    const candidate = {
      schemaVersion: 1,
      id: ctx.id,
      source: 'ocsf',
      observedAt,
      receivedAt: ctx.receivedAt,
      host,
      process: proc
        ? compact({
            ...processRef(proc),
            ppid: ancestors[0]?.pid,
            startTime: timestampToIso(proc.created_time) ?? timestampToIso(proc.created_time_dt),
            hash: hash ? { sha256: hash } : undefined,
            user: userRef(proc.user),
            cwd: str(proc.working_directory),
            ancestors,
          })
        : undefined,
      user,
      file: evFile?.path ? compact({ path: evFile.path, sha256: sha256Of(evFile) }) : undefined,
      network: net
        ? compact({
            direction,
            protocol: str(net.connection_info?.protocol_name)?.toLowerCase(),
            localAddress: str(local?.ip),
            localPort: port(local?.port),
            remoteAddress: str(remote?.ip),
            remotePort: port(remote?.port),
          })
        : undefined,
      detection: {
        ruleId: ruleId!.slice(0, 512),
        ruleName: ruleName!.slice(0, 512),
        severity: severityOf(e),
        techniques,
        tactics,
        tags: [...(fi?.types ?? []), ...(e.metadata?.labels ?? [])].slice(0, 128),
        message: (str(e.message) ?? str(fi?.desc) ?? str(fi?.title))?.slice(0, 8192),
      },
      raw,
    };
    const ev = DetectionEvent.safeParse(candidate);
    return ev.success ? { ok: true, events: [ev.data] } : { ok: false, issues: formatIssues(ev.error) };
  },
};
