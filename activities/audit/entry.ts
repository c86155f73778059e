/**
 * One audit log entry and the rules every entry obeys (the format is documented in README.md):
 *   line      = canonicalJson(entry) + "\n"                    (JSON Lines, one entry per line, UTF-8)
 *   entry     = { v: 1, seq, time, kind, payload, prevHash, hash }
 *   hash      = hex SHA-256 of canonicalJson(entry without `hash`)
 *   prevHash  = the previous entry's hash; 64 zeros for seq 1; seq counts 1, 2, 3, ... without gaps
 * Checkpoints and key rotations carry Ed25519 signatures over their *statement*:
 *   statement = "vigil-audit/v1 " + kind + "\n" + canonicalJson(entry without `hash`, payload without its
 *               signature members)
 */
import { z } from 'zod';
import { canonicalJson, jsonText, sha256Hex, type Json } from './canonical.js';

export const LOG_VERSION = 1;
export const GENESIS_HASH = '0'.repeat(64);

export const AUDIT_KINDS = [
  'history',
  'decision',
  'incident.closed',
  'checkpoint',
  'key.rotated',
  'log.recovered',
] as const;
export type AuditKind = (typeof AUDIT_KINDS)[number];
/** The kinds that record an incident run (exported from Temporal), keyed by workflow and run id. */
export const RECORD_KINDS: readonly AuditKind[] = ['history', 'decision', 'incident.closed'];

const Hex64 = z.string().regex(/^[0-9a-f]{64}$/, 'expected 64 lowercase hex digits');
const B64 = (bytes: number) =>
  z
    .string()
    .refine(
      (s) => Buffer.from(s, 'base64').length === bytes && Buffer.from(s, 'base64').toString('base64') === s,
      `expected ${bytes} bytes in canonical base64`,
    );

/** A JSON value exactly as JSON.parse made it: plain objects, arrays, strings, finite numbers, booleans, null. */
function isJson(v: unknown): boolean {
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return true;
  if (typeof v === 'number') return Number.isFinite(v);
  if (Array.isArray(v)) return v.every(isJson);
  if (typeof v !== 'object') return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return (proto === Object.prototype || proto === null) && Object.values(v).every(isJson);
}

/**
 * The payload is checked, never copied: a copy made by assignment (z.record, z.json) drops a member named
 * `__proto__`, which JSON.parse keeps (and the writer writes), so the entry read back would not be the one
 * that was hashed.
 */
const JsonObject = z.custom<{ [key: string]: Json }>(
  (v) => typeof v === 'object' && v !== null && !Array.isArray(v) && isJson(v),
  'expected a JSON object',
);

export const AuditEntry = z.strictObject({
  v: z.literal(LOG_VERSION),
  seq: z.number().int().positive(),
  time: z.iso.datetime(),
  kind: z.enum(AUDIT_KINDS),
  payload: JsonObject,
  prevHash: Hex64,
  hash: Hex64,
});
export interface AuditEntry {
  v: typeof LOG_VERSION;
  seq: number;
  time: string;
  kind: AuditKind;
  payload: { [key: string]: Json };
  prevHash: string;
  hash: string;
}
export type UnhashedEntry = Omit<AuditEntry, 'hash'>;

export const CheckpointPayload = z.strictObject({
  alg: z.literal('ed25519'),
  keyFingerprint: Hex64,
  publicKey: B64(32),
  /** The covered range: every entry after the previous checkpoint, up to the one before this. */
  from: z.number().int().positive(),
  to: z.number().int().positive(),
  size: z.number().int().positive(),
  /** RFC 6962 Merkle root (hex) over the entry hashes of seq from..to. */
  root: Hex64,
  /** The chain head: the hash of entry `to` (= this entry's prevHash). */
  head: Hex64,
  signature: B64(64),
});
export type CheckpointPayload = z.infer<typeof CheckpointPayload>;

export const KeyRotatedPayload = z.strictObject({
  alg: z.literal('ed25519'),
  oldFingerprint: Hex64,
  oldPublicKey: B64(32),
  newFingerprint: Hex64,
  newPublicKey: B64(32),
  reason: z.string().max(500).optional(),
  /** By the old key: it hands over. */
  signature: B64(64),
  /** By the new key: proof of possession, and its endorsement of the history before it. */
  newKeySignature: B64(64),
});
export type KeyRotatedPayload = z.infer<typeof KeyRotatedPayload>;

export const RecordPayload = z.looseObject({
  workflowId: z.string().min(1),
  runId: z.string().min(1),
  incidentId: z.string().min(1),
});

export const LogRecoveredPayload = z.strictObject({
  /** Bytes the writer cut before appending again: a torn last line, or a tail its intent did not announce. */
  droppedBytes: z.number().int().positive(),
  droppedSha256: Hex64,
  offset: z.number().int().nonnegative(),
});

const SIGNATURE_MEMBERS = new Set(['signature', 'newKeySignature']);

export function entryHash(e: UnhashedEntry): string {
  return sha256Hex(
    canonicalJson({
      v: e.v,
      seq: e.seq,
      time: e.time,
      kind: e.kind,
      payload: e.payload,
      prevHash: e.prevHash,
    }),
  );
}

export function encodeEntry(e: AuditEntry): string {
  return `${canonicalJson(e)}\n`;
}

/** What checkpoint and key-rotation signatures sign. */
export function signedStatement(e: UnhashedEntry): Buffer {
  const payload = Object.fromEntries(Object.entries(e.payload).filter(([k]) => !SIGNATURE_MEMBERS.has(k)));
  const body = canonicalJson({
    v: e.v,
    seq: e.seq,
    time: e.time,
    kind: e.kind,
    payload,
    prevHash: e.prevHash,
  });
  return Buffer.from(`vigil-audit/v${LOG_VERSION} ${e.kind}\n${body}`, 'utf8');
}

/** The idempotency key of an exported record: one per (kind, workflow id, run id[, decision index]). */
export function exportKey(kind: AuditKind, payload: Record<string, Json>): string | undefined {
  if (!RECORD_KINDS.includes(kind)) return undefined;
  const r = RecordPayload.safeParse(payload);
  if (!r.success) return undefined;
  const idx = kind === 'decision' ? `:${jsonText(payload.index)}` : '';
  return `${kind}:${r.data.workflowId}:${r.data.runId}${idx}`;
}
