/**
 * A self-contained evidence bundle for one incident: its entries, an RFC 6962 inclusion proof of each up to
 * the signed checkpoint that seals it, those checkpoints, the key rotations and the public keys. It is
 * verified without the server or the full log: every entry hash is recomputed and proven into a checkpoint
 * root signed by a pinned key (or a key a pinned key endorsed through a dual-signed rotation).
 */
import { z } from 'zod';
import { jsonText } from './canonical.js';
import {
  AuditEntry,
  CheckpointPayload,
  entryHash,
  KeyRotatedPayload,
  signedStatement,
  type AuditEntry as Entry,
} from './entry.js';
import { fingerprintOfB64, normalizeFingerprint, verifySignature } from './keys.js';
import type { AuditLog } from './log.js';
import { inclusionProof, verifyInclusion } from './merkle.js';
import { checkRecord, type BadEntry } from './verify.js';

export const BUNDLE_FORMAT = 'vigil-audit-bundle/1';

const Hex64 = z.string().regex(/^[0-9a-f]{64}$/);

export const AuditBundle = z.strictObject({
  format: z.literal(BUNDLE_FORMAT),
  incidentId: z.string().min(1),
  createdAt: z.iso.datetime(),
  keys: z.array(z.strictObject({ fingerprint: Hex64, publicKey: z.string() })),
  rotations: z.array(AuditEntry),
  checkpoints: z.array(AuditEntry),
  entries: z.array(
    z.strictObject({ entry: AuditEntry, checkpointSeq: z.number().int().positive(), proof: z.array(Hex64) }),
  ),
});
export interface AuditBundle {
  format: typeof BUNDLE_FORMAT;
  incidentId: string;
  createdAt: string;
  keys: { fingerprint: string; publicKey: string }[];
  rotations: Entry[];
  checkpoints: Entry[];
  entries: { entry: Entry; checkpointSeq: number; proof: string[] }[];
}

export class NotSealed extends Error {
  override readonly name = 'NotSealed';
}

/** Build the bundle of `incidentId` from the log; every entry of it must be sealed by a checkpoint. */
export function exportBundle(log: AuditLog, incidentId: string, now = new Date()): AuditBundle {
  const entries = log.entriesOf(incidentId);
  if (!entries.length) throw new NotSealed(`the audit log has no entries for ${incidentId}`);
  const checkpoints = new Map<number, { entry: Entry; leaves: Buffer[]; from: number }>();
  const out: AuditBundle['entries'] = [];
  let unsealed = 0;
  for (const e of entries) {
    const cp = log.coveringCheckpoint(e.seq);
    if (!cp) {
      unsealed += 1;
      continue;
    }
    let c = checkpoints.get(cp.seq);
    if (!c) {
      const p = CheckpointPayload.parse(cp.payload);
      c = { entry: cp, leaves: log.leaves(p.from, p.to), from: p.from };
      checkpoints.set(cp.seq, c);
    }
    out.push({
      entry: e,
      checkpointSeq: cp.seq,
      proof: inclusionProof(c.leaves, e.seq - c.from).map((b) => b.toString('hex')),
    });
  }
  if (unsealed)
    throw new NotSealed(
      `${unsealed} of the ${entries.length} entries of ${incidentId} are not sealed by a checkpoint yet ` +
        '(the exporter seals every VIGIL_AUDIT_CHECKPOINT_INTERVAL; or run: vigil audit seal)',
    );
  const rotations = log.rotations();
  const keys = new Map<string, string>();
  for (const c of checkpoints.values()) {
    const p = CheckpointPayload.parse(c.entry.payload);
    keys.set(p.keyFingerprint, p.publicKey);
  }
  for (const r of rotations) {
    const p = KeyRotatedPayload.parse(r.payload);
    keys.set(p.oldFingerprint, p.oldPublicKey);
    keys.set(p.newFingerprint, p.newPublicKey);
  }
  return {
    format: BUNDLE_FORMAT,
    incidentId,
    createdAt: now.toISOString(),
    keys: [...keys].map(([fingerprint, publicKey]) => ({ fingerprint, publicKey })),
    rotations,
    checkpoints: [...checkpoints.values()].map((c) => c.entry),
    entries: out,
  };
}

export interface BundleReport {
  ok: boolean;
  incidentId?: string;
  entries: number;
  runs: number;
  checkpoints: number;
  keys: { fingerprint: string; trusted: boolean }[];
  firstBad?: BadEntry;
  problems: BadEntry[];
}

const short = (fp: string) => fp.slice(0, 16);

/** Verify a bundle offline against pinned key fingerprints. */
export function verifyBundle(json: unknown, trustedFingerprints: readonly string[]): BundleReport {
  const pinned = new Set(trustedFingerprints.map((f) => normalizeFingerprint(f) ?? f));
  const parsed = AuditBundle.safeParse(json);
  if (!parsed.success) {
    const i = parsed.error.issues[0];
    const bad = {
      seq: 0,
      line: 0,
      reason: `not a valid bundle (${i ? `${i.path.join('.')}: ${i.message}` : ''})`,
    };
    return { ok: false, entries: 0, runs: 0, checkpoints: 0, keys: [], firstBad: bad, problems: [bad] };
  }
  const b = parsed.data;
  const problems: BadEntry[] = [];
  const bad = (seq: number, reason: string) => problems.push({ seq, line: 0, reason });
  const intact = (e: Entry, what: string) => {
    if (entryHash(e) === e.hash) return true;
    bad(e.seq, `${what} ${e.seq}: hash does not match the entry (its contents were altered)`);
    return false;
  };

  // The key chain: K0 -rot-> K1 -rot-> ...; each key signs from its rotation on (K0 until the first one).
  const chain: { fingerprint: string; publicKey: string; untilSeq: number }[] = [];
  /** handovers[i] hands over from chain[i] to chain[i + 1]. */
  const handovers: Entry[] = [];
  const rotations = [...b.rotations].sort((x, y) => x.seq - y.seq);
  for (const r of rotations) {
    if (!intact(r, 'key rotation')) continue;
    const p = KeyRotatedPayload.safeParse(r.payload);
    if (r.kind !== 'key.rotated' || !p.success) {
      bad(r.seq, `entry ${r.seq} is not a well-formed key.rotated`);
      continue;
    }
    const k = p.data;
    const stmt = signedStatement(r);
    if (
      fingerprintOfB64(k.oldPublicKey) !== k.oldFingerprint ||
      fingerprintOfB64(k.newPublicKey) !== k.newFingerprint
    )
      bad(r.seq, `key rotation ${r.seq}: fingerprints do not match its public keys`);
    else if (
      !verifySignature(k.oldPublicKey, stmt, k.signature) ||
      !verifySignature(k.newPublicKey, stmt, k.newKeySignature)
    )
      bad(r.seq, `key rotation ${r.seq} is not signed by both keys`);
    else if (chain.length && chain[chain.length - 1]?.fingerprint !== k.oldFingerprint)
      bad(r.seq, `key rotation ${r.seq} does not continue from the previous rotation's key`);
    else {
      if (!chain.length)
        chain.push({ fingerprint: k.oldFingerprint, publicKey: k.oldPublicKey, untilSeq: r.seq });
      else (chain[chain.length - 1] as { untilSeq: number }).untilSeq = r.seq;
      chain.push({ fingerprint: k.newFingerprint, publicKey: k.newPublicKey, untilSeq: Infinity });
      handovers.push(r);
    }
  }
  // With rotations, each checkpoint must be signed by the key active at its seq; without any, every
  // checkpoint's key must itself be pinned. A pinned key vouches for the keys after it (it signed each
  // handover). It does not vouch for the keys before it: in the log, the rotation's prevHash links the new
  // key's signature to all the history before it, but a bundle lacks the entries between an older checkpoint
  // and the rotation, so a leaked retired key could sign a forged one. Only a checkpoint the rotation (or a
  // run of back-to-back rotations) directly follows is linked within the bundle.
  const chainTrusted = chain.some((k) => pinned.has(k.fingerprint));
  const firstPinned = chain.findIndex((k) => pinned.has(k.fingerprint));
  const keyIndexAt = (seq: number) => chain.findIndex((k) => seq <= k.untilSeq);
  const keyAt = (seq: number) => chain[keyIndexAt(seq)]?.fingerprint;
  const vouched = (cp: Entry, fingerprint: string): boolean => {
    if (pinned.has(fingerprint)) return true;
    if (firstPinned < 0) return false;
    const i = keyIndexAt(cp.seq);
    if (i >= firstPinned) return true;
    let prev = cp;
    for (let j = i; j < firstPinned; j++) {
      const h = handovers[j];
      if (!h || h.seq !== prev.seq + 1 || h.prevHash !== prev.hash) return false;
      prev = h;
    }
    return true;
  };

  const roots = new Map<number, { root: Buffer; from: number; to: number }>();
  const given = new Set(b.checkpoints.map((c) => c.seq));
  const signers = new Set<string>();
  for (const cp of b.checkpoints) {
    if (!intact(cp, 'checkpoint')) continue;
    const p = CheckpointPayload.safeParse(cp.payload);
    if (cp.kind !== 'checkpoint' || !p.success) {
      bad(cp.seq, `entry ${cp.seq} is not a well-formed checkpoint`);
      continue;
    }
    const c = p.data;
    if (fingerprintOfB64(c.publicKey) !== c.keyFingerprint)
      bad(cp.seq, `checkpoint ${cp.seq}: keyFingerprint is not its public key's`);
    else if (!verifySignature(c.publicKey, signedStatement(cp), c.signature))
      bad(cp.seq, `checkpoint ${cp.seq}: signature is not valid for key ${short(c.keyFingerprint)}`);
    else if (chain.length && keyAt(cp.seq) !== c.keyFingerprint)
      bad(
        cp.seq,
        `checkpoint ${cp.seq} is signed by ${short(c.keyFingerprint)}, not by the key active at that seq`,
      );
    else if (chainTrusted && !vouched(cp, c.keyFingerprint))
      bad(
        cp.seq,
        `checkpoint ${cp.seq} is signed by key ${short(c.keyFingerprint)}, retired before the pinned key ${short(chain[firstPinned]?.fingerprint ?? '')} took over; a bundle cannot link it to that rotation: pin ${short(c.keyFingerprint)} too, or verify the full log`,
      );
    else if (!vouched(cp, c.keyFingerprint))
      bad(
        cp.seq,
        `checkpoint ${cp.seq} is signed by key ${short(c.keyFingerprint)} which is not pinned (VIGIL_AUDIT_TRUSTED_KEYS) nor endorsed by a pinned key`,
      );
    else if (c.to !== cp.seq - 1 || c.size !== c.to - c.from + 1)
      bad(cp.seq, `checkpoint ${cp.seq}: inconsistent range`);
    else {
      roots.set(cp.seq, { root: Buffer.from(c.root, 'hex'), from: c.from, to: c.to });
      signers.add(c.keyFingerprint);
    }
  }
  const chainKeys = chain.length ? chain.map((k) => k.fingerprint) : [...signers];
  const isTrusted = (fp: string, i: number) =>
    pinned.has(fp) || signers.has(fp) || (firstPinned >= 0 && i >= firstPinned);

  const runs = new Map<string, { decisions: Set<number>; history: number; closed?: Entry; seq: number }>();
  const seen = new Set<number>();
  for (const { entry: e, checkpointSeq, proof } of b.entries) {
    if (seen.has(e.seq)) bad(e.seq, `entry ${e.seq} appears twice`);
    seen.add(e.seq);
    if (!intact(e, 'entry')) continue;
    if (e.payload.incidentId !== b.incidentId) {
      bad(e.seq, `entry ${e.seq} belongs to another incident`);
      continue;
    }
    const r = roots.get(checkpointSeq);
    if (!r) {
      // A checkpoint that is there but not valid was reported above; one that is not there, here.
      if (!given.has(checkpointSeq))
        bad(e.seq, `entry ${e.seq}: its checkpoint ${checkpointSeq} is not in the bundle`);
      continue;
    }
    if (
      e.seq < r.from ||
      e.seq > r.to ||
      !verifyInclusion(
        Buffer.from(e.hash, 'hex'),
        e.seq - r.from,
        r.to - r.from + 1,
        proof.map((h) => Buffer.from(h, 'hex')),
        r.root,
      )
    ) {
      bad(
        e.seq,
        `entry ${e.seq}: its inclusion proof does not lead to checkpoint ${checkpointSeq}'s signed root`,
      );
      continue;
    }
    try {
      checkRecord(e);
    } catch (err) {
      bad(e.seq, `entry ${e.seq}: ${err instanceof Error ? err.message : String(err)}`);
      continue;
    }
    const key = `${jsonText(e.payload.workflowId)}/${jsonText(e.payload.runId)}`;
    const run = runs.get(key) ?? { decisions: new Set<number>(), history: 0, seq: e.seq };
    runs.set(key, run);
    if (e.kind === 'history') run.history += 1;
    if (e.kind === 'decision') run.decisions.add(e.payload.index as number);
    if (e.kind === 'incident.closed') run.closed = e;
  }
  // Per run: the closing record says how many decisions there were; it, all of them and the history must be
  // here (a bundle without the closing record would hide how many decisions to expect).
  for (const [key, run] of runs) {
    const closed = run.closed;
    if (!closed) {
      bad(
        run.seq,
        `run ${key} is incomplete in the bundle (no incident.closed: its decisions cannot be counted)`,
      );
      continue;
    }
    const n = Number(closed.payload.decisionCount ?? 0);
    const missing = [...Array(n).keys()].filter((i) => !run.decisions.has(i));
    if (run.history !== 1 || missing.length)
      bad(
        closed.seq,
        `run ${key} is incomplete in the bundle (history ${run.history}, missing decisions ${missing.join(',') || 'none'})`,
      );
  }
  problems.sort((x, y) => x.seq - y.seq);
  return {
    ok: problems.length === 0 && b.entries.length > 0,
    incidentId: b.incidentId,
    entries: b.entries.length,
    runs: runs.size,
    checkpoints: b.checkpoints.length,
    keys: chainKeys.map((fingerprint, i) => ({ fingerprint, trusted: isTrusted(fingerprint, i) })),
    ...(problems[0]
      ? { firstBad: problems[0] }
      : b.entries.length
        ? {}
        : { firstBad: { seq: 0, line: 0, reason: 'the bundle has no entries' } }),
    problems,
  };
}
