/**
 * The generic JSON shape, for any sender without an adapter of its own (documented in the README).
 * Required: time, host, rule, severity. Unknown keys are allowed and kept in `raw`.
 */
import { z } from 'zod';
import {
  ContainerInfo,
  FileInfo,
  NetworkInfo,
  DetectionEvent,
  IsoTime,
  ProcessRef,
  Severity,
  TechniqueId,
  UserRef,
} from '../detection-event.js';
import { formatIssues, type SourceAdapter } from './types.js';

const Host = z.union([
  z
    .string()
    .min(1)
    .max(255)
    .transform((id) => ({ id, name: id, addresses: [] as string[] })),
  z.object({
    id: z.string().min(1).max(255).optional(),
    name: z.string().min(1).max(255).optional(),
    addresses: z.array(z.string()).max(64).default([]),
    os: z.string().optional(),
  }),
]);

const Rule = z.union([
  z
    .string()
    .min(1)
    .max(512)
    .transform((name) => ({ id: name, name })),
  z.object({ id: z.string().min(1).max(512).optional(), name: z.string().min(1).max(512) }),
]);

/** Numeric severities (0-100, as many SIEMs score) are bucketed. */
const Sev = z.union([
  Severity,
  z
    .number()
    .min(0)
    .max(100)
    .transform((n): Severity =>
      n >= 90 ? 'critical' : n >= 70 ? 'high' : n >= 40 ? 'medium' : n >= 20 ? 'low' : 'info',
    ),
]);

export const GenericEvent = z.object({
  time: IsoTime,
  host: Host,
  rule: Rule,
  severity: Sev,
  message: z.string().max(8192).optional(),
  techniques: z.array(TechniqueId).max(64).default([]),
  tactics: z.array(z.string()).max(32).default([]),
  tags: z.array(z.string()).max(128).default([]),
  process: ProcessRef.extend({
    ppid: z.number().int().nonnegative().optional(),
    startTime: IsoTime.optional(),
    sha256: z
      .string()
      .regex(/^[0-9a-f]{64}$/i)
      .optional(),
    user: UserRef.optional(),
    ancestors: z.array(ProcessRef).max(64).default([]),
  }).optional(),
  user: UserRef.optional(),
  container: ContainerInfo.optional(),
  file: FileInfo.optional(),
  network: NetworkInfo.optional(),
  syscalls: z.array(z.string().max(64)).max(100_000).optional(),
});
export type GenericEvent = z.input<typeof GenericEvent>;

export const genericAdapter: SourceAdapter = {
  name: 'generic',
  description: 'The documented generic JSON shape (see README: "The generic event shape")',
  parse(raw, ctx) {
    const parsed = GenericEvent.safeParse(raw);
    if (!parsed.success) return { ok: false, issues: formatIssues(parsed.error) };
    const g = parsed.data;
    const hostId = g.host.id ?? g.host.name;
    if (!hostId) return { ok: false, issues: ['host: give an id or a name'] };
    const { sha256, ...proc } = g.process ?? { ancestors: [] };
    const ev = DetectionEvent.safeParse({
      schemaVersion: 1,
      id: ctx.id,
      source: 'generic',
      observedAt: g.time,
      receivedAt: ctx.receivedAt,
      host: { ...g.host, id: hostId },
      process: g.process ? { ...proc, ...(sha256 ? { hash: { sha256 } } : {}) } : undefined,
      user: g.user ?? g.process?.user,
      container: g.container,
      file: g.file,
      network: g.network,
      detection: {
        ruleId: g.rule.id ?? g.rule.name,
        ruleName: g.rule.name,
        severity: g.severity,
        techniques: g.techniques,
        tactics: g.tactics,
        tags: g.tags,
        message: g.message,
      },
      telemetry: g.syscalls ? { syscalls: g.syscalls } : undefined,
      raw,
    });
    return ev.success ? { ok: true, events: [ev.data] } : { ok: false, issues: formatIssues(ev.error) };
  },
};
