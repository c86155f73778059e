/**
 * DetectionEvent: the one normalized shape every source adapter produces and every playbook reads.
 * Payloads cross Temporal as plain JSON: times are ISO-8601 strings, no transforms.
 */
import { z } from 'zod';
import { SEVERITIES, SEVERITY_RANK } from './severity.js';

export const Severity = z.enum(SEVERITIES);
export type Severity = z.infer<typeof Severity>;
export { SEVERITY_RANK };

/** ISO-8601 instant with an offset or Z, any sub-second precision (Falco gives nanoseconds). */
export const IsoTime = z.iso.datetime({ offset: true });

/** ATT&CK technique or sub-technique id. */
export const TechniqueId = z
  .string()
  .regex(/^T\d{4}(\.\d{3})?$/, 'expected an ATT&CK technique id like T1059.004');

export const UserRef = z.object({
  name: z.string().min(1).optional(),
  uid: z.number().int().optional(),
  loginUid: z.number().int().optional(),
  domain: z.string().optional(),
});
export type UserRef = z.infer<typeof UserRef>;

/** One process in a lineage; only what the source knew. */
export const ProcessRef = z.object({
  pid: z.number().int().nonnegative().optional(),
  name: z.string().min(1).optional(),
  executable: z.string().min(1).optional(),
  commandLine: z.string().optional(),
});
export type ProcessRef = z.infer<typeof ProcessRef>;

export const ProcessInfo = ProcessRef.extend({
  ppid: z.number().int().nonnegative().optional(),
  /** Process start time: with pid and executable it names the process so a reused pid is never hit. */
  startTime: IsoTime.optional(),
  hash: z
    .object({
      sha256: z
        .string()
        .regex(/^[0-9a-f]{64}$/i)
        .optional(),
    })
    .optional(),
  user: UserRef.optional(),
  tty: z.number().int().optional(),
  cwd: z.string().optional(),
  /** Parent chain, nearest first: [parent, grandparent, ...]. */
  ancestors: z.array(ProcessRef).max(64).default([]),
});
export type ProcessInfo = z.infer<typeof ProcessInfo>;

export const HostInfo = z.object({
  /** Stable host id (agent id, machine id, or the hostname when the source has nothing better). */
  id: z.string().min(1).max(255),
  name: z.string().min(1).max(255).optional(),
  addresses: z.array(z.string()).max(64).default([]),
  os: z.string().optional(),
});
export type HostInfo = z.infer<typeof HostInfo>;

export const Detection = z.object({
  ruleId: z.string().min(1).max(512),
  ruleName: z.string().min(1).max(512),
  severity: Severity,
  /** ATT&CK technique ids as the source gave them (validated form; known-ness is checked at enrichment). */
  techniques: z.array(TechniqueId).max(64).default([]),
  tactics: z.array(z.string()).max(32).default([]),
  tags: z.array(z.string()).max(128).default([]),
  /** The source's own one-line description of what happened. */
  message: z.string().max(8192).optional(),
});
export type Detection = z.infer<typeof Detection>;

export const ContainerInfo = z.object({
  id: z.string().optional(),
  name: z.string().optional(),
  image: z.string().optional(),
});
export const FileInfo = z.object({ path: z.string(), sha256: z.string().optional() });
export const NetworkInfo = z.object({
  direction: z.enum(['inbound', 'outbound', 'unknown']).default('unknown'),
  protocol: z.string().optional(),
  localAddress: z.string().optional(),
  localPort: z.number().int().min(0).max(65535).optional(),
  remoteAddress: z.string().optional(),
  remotePort: z.number().int().min(0).max(65535).optional(),
});

export const DetectionEvent = z.object({
  schemaVersion: z.literal(1),
  /** Deterministic id (sha256 over source and raw bytes): the same delivery twice is the same event. */
  id: z.string().min(8).max(128),
  /** Adapter name: falco, generic, ... */
  source: z.string().min(1).max(64),
  observedAt: IsoTime,
  receivedAt: IsoTime,
  host: HostInfo,
  process: ProcessInfo.optional(),
  user: UserRef.optional(),
  container: ContainerInfo.optional(),
  file: FileInfo.optional(),
  network: NetworkInfo.optional(),
  detection: Detection,
  /** Optional telemetry windows, e.g. the syscall names seen around the detection (for scoring). */
  telemetry: z.object({ syscalls: z.array(z.string().max(64)).max(100_000).optional() }).optional(),
  /** The original event object, as received. */
  raw: z.unknown(),
});
export type DetectionEvent = z.infer<typeof DetectionEvent>;
