/**
 * Offline verification of an audit log: every hash, chain link and seq, every checkpoint's range, Merkle
 * root, chain head and signature, every key rotation, and that the signing keys are pinned (or endorsed by
 * a pinned key through a dual-signed rotation). Names the FIRST bad entry. With a kept head it also proves
 * the log was not cut back (tail truncation) or rewritten before that head.
 */
import { closeSync, createReadStream, openSync, readSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { canonicalJson, sha256Hex } from './canonical.js';
import {
  AuditEntry,
  CheckpointPayload,
  entryHash,
  GENESIS_HASH,
  KeyRotatedPayload,
  LogRecoveredPayload,
  RecordPayload,
  signedStatement,
  type AuditKind,
} from './entry.js';
import { AuditHead } from './head.js';
import { fingerprintOfB64, normalizeFingerprint, verifySignature } from './keys.js';
import { merkleRoot } from './merkle.js';

export interface BadEntry {
  /** The seq the bad entry has (or should have had at that position). */
  seq: number;
  /** 1-based line number in the file. */
  line: number;
  reason: string;
}

export interface KeyInfo {
  fingerprint: string;
  publicKey: string;
  /** First seq signed by this key. */
  fromSeq: number;
  trusted: boolean;
}

export interface VerifyReport {
  ok: boolean;
  entries: number;
  lastSeq: number;
  lastHash: string;
  checkpoints: number;
  lastCheckpoint?: { seq: number; hash: string; time: string; keyFingerprint: string };
  kinds: Partial<Record<AuditKind, number>>;
  keys: KeyInfo[];
  /** Entries after the last checkpoint: not signed yet. Informational unless a kept head says they existed. */
  unsealedTail: number;
  head?: { checkpointSeq: number; tailSeq: number; ok: boolean };
  firstBad?: BadEntry;
  notes: string[];
}

export interface VerifyOptions {
  trustedFingerprints: readonly string[];
  /** A head kept from `vigil audit head`: the log must still contain it and extend it. */
  head?: AuditHead;
}

class Bad extends Error {
  constructor(
    readonly seq: number,
    readonly reason: string,
  ) {
    super(reason);
  }
}

const short = (fp: string) => fp.slice(0, 16);

/** Feeds on complete lines (without their newline) in order. */
export class LogVerifier {
  private expectedSeq = 1;
  private prevHash = GENESIS_HASH;
  private lineNo = 0;
  private lastCheckpointSeq = 0;
  private pending: Buffer[] = [];
  private readonly keys: KeyInfo[] = [];
  private firstSigned?: { seq: number; line: number };
  private bad?: BadEntry;
  private checkpoints = 0;
  private lastCheckpoint?: VerifyReport['lastCheckpoint'];
  private readonly kinds: Partial<Record<AuditKind, number>> = {};
  private readonly watched = new Map<number, string>();
  private readonly trusted: Set<string>;
  // ignoreBOM keeps a byte order mark in the text (the default drops it), so a line behind one is not canonical.
  private readonly decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

  constructor(private readonly opts: VerifyOptions) {
    this.trusted = new Set(opts.trustedFingerprints.map((f) => normalizeFingerprint(f) ?? f));
    if (opts.head) {
      this.watched.set(opts.head.checkpoint.seq, '');
      this.watched.set(opts.head.tail.seq, '');
    }
  }

  get failed(): boolean {
    return this.bad !== undefined;
  }

  pushLine(bytes: Buffer): void {
    if (this.bad) return;
    this.lineNo += 1;
    try {
      this.check(bytes);
    } catch (e) {
      if (!(e instanceof Bad)) throw e;
      this.bad = { seq: e.seq, line: this.lineNo, reason: e.reason };
    }
  }

  private check(bytes: Buffer): void {
    const seq = this.expectedSeq;
    let text: string;
    try {
      text = this.decoder.decode(bytes);
    } catch {
      throw new Bad(seq, 'not valid UTF-8');
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new Bad(seq, text.length ? 'not valid JSON' : 'empty line');
    }
    const r = AuditEntry.safeParse(parsed);
    if (!r.success) {
      const i = r.error.issues[0];
      throw new Bad(
        seq,
        `not an audit entry (${i ? `${i.path.join('.') || '(root)'}: ${i.message}` : 'invalid'})`,
      );
    }
    const e = r.data;
    if (canonicalJson(e) !== text) throw new Bad(seq, 'not in canonical form (the bytes were altered)');
    if (e.seq !== seq)
      throw new Bad(seq, `expected seq ${seq}, found seq ${e.seq} (an entry is missing, moved or inserted)`);
    if (e.prevHash !== this.prevHash)
      throw new Bad(seq, `prevHash does not link to the hash of entry ${seq - 1}`);
    // The line is canonical and "hash" sorts first, so the hashed encoding (the entry without `hash`) is
    // the line without its first member: the same bytes entryHash(e) would encode, without encoding again.
    const prefix = `{"hash":"${e.hash}",`;
    if (!text.startsWith(prefix) || sha256Hex(`{${text.slice(prefix.length)}`) !== e.hash)
      throw new Bad(seq, 'hash does not match the entry (its contents were altered)');
    this.kinds[e.kind] = (this.kinds[e.kind] ?? 0) + 1;
    switch (e.kind) {
      case 'checkpoint':
        this.checkCheckpoint(e);
        break;
      case 'key.rotated':
        this.checkRotation(e);
        break;
      case 'log.recovered':
        if (!LogRecoveredPayload.safeParse(e.payload).success)
          throw new Bad(seq, 'malformed log.recovered payload');
        break;
      default:
        checkRecord(e);
    }
    if (e.kind !== 'checkpoint') this.pending.push(Buffer.from(e.hash, 'hex'));
    if (this.watched.has(seq)) this.watched.set(seq, e.hash);
    this.prevHash = e.hash;
    this.expectedSeq += 1;
  }

  private activeKey(): KeyInfo | undefined {
    return this.keys[this.keys.length - 1];
  }

  private checkCheckpoint(e: AuditEntry): void {
    const r = CheckpointPayload.safeParse(e.payload);
    if (!r.success) throw new Bad(e.seq, `malformed checkpoint (${r.error.issues[0]?.path.join('.') ?? ''})`);
    const p = r.data;
    if (p.from !== this.lastCheckpointSeq + 1 || p.to !== e.seq - 1 || p.size !== p.to - p.from + 1)
      throw new Bad(
        e.seq,
        `checkpoint covers ${p.from}..${p.to} but must cover ${this.lastCheckpointSeq + 1}..${e.seq - 1}`,
      );
    if (p.head !== e.prevHash) throw new Bad(e.seq, 'checkpoint head is not the chain head');
    if (merkleRoot(this.pending).toString('hex') !== p.root)
      throw new Bad(e.seq, `checkpoint Merkle root does not match entries ${p.from}..${p.to}`);
    if (fingerprintOfB64(p.publicKey) !== p.keyFingerprint)
      throw new Bad(e.seq, 'checkpoint keyFingerprint is not the fingerprint of its public key');
    if (!verifySignature(p.publicKey, signedStatement(e), p.signature))
      throw new Bad(e.seq, `checkpoint signature is not valid for key ${short(p.keyFingerprint)}`);
    const active = this.activeKey();
    if (!active) this.addKey(p.keyFingerprint, p.publicKey, e.seq);
    else if (active.fingerprint !== p.keyFingerprint)
      throw new Bad(
        e.seq,
        `checkpoint signed by key ${short(p.keyFingerprint)} but the active key since seq ${active.fromSeq} is ${short(active.fingerprint)}`,
      );
    this.checkpoints += 1;
    this.lastCheckpoint = { seq: e.seq, hash: e.hash, time: e.time, keyFingerprint: p.keyFingerprint };
    this.lastCheckpointSeq = e.seq;
    this.pending = [];
  }

  private checkRotation(e: AuditEntry): void {
    const r = KeyRotatedPayload.safeParse(e.payload);
    if (!r.success)
      throw new Bad(e.seq, `malformed key.rotated (${r.error.issues[0]?.path.join('.') ?? ''})`);
    const p = r.data;
    if (
      fingerprintOfB64(p.oldPublicKey) !== p.oldFingerprint ||
      fingerprintOfB64(p.newPublicKey) !== p.newFingerprint
    )
      throw new Bad(e.seq, 'key.rotated fingerprints do not match its public keys');
    if (p.oldFingerprint === p.newFingerprint) throw new Bad(e.seq, 'key.rotated to the same key');
    const active = this.activeKey();
    if (active && active.fingerprint !== p.oldFingerprint)
      throw new Bad(
        e.seq,
        `key.rotated from ${short(p.oldFingerprint)} but the active key is ${short(active.fingerprint)}`,
      );
    const statement = signedStatement(e);
    if (!verifySignature(p.oldPublicKey, statement, p.signature))
      throw new Bad(e.seq, `key.rotated is not signed by the old key ${short(p.oldFingerprint)}`);
    if (!verifySignature(p.newPublicKey, statement, p.newKeySignature))
      throw new Bad(e.seq, `key.rotated is not signed by the new key ${short(p.newFingerprint)}`);
    if (this.keys.some((k) => k.fingerprint === p.newFingerprint))
      throw new Bad(e.seq, `key.rotated back to the retired key ${short(p.newFingerprint)}`);
    if (!active) this.addKey(p.oldFingerprint, p.oldPublicKey, e.seq);
    this.addKey(p.newFingerprint, p.newPublicKey, e.seq + 1);
  }

  private addKey(fingerprint: string, publicKey: string, fromSeq: number): void {
    if (!this.firstSigned) this.firstSigned = { seq: fromSeq, line: this.lineNo };
    this.keys.push({ fingerprint, publicKey, fromSeq, trusted: false });
  }

  /** Call once at the end; `partial` is any trailing bytes without a newline. */
  finish(partial?: Buffer): VerifyReport {
    const notes: string[] = [];
    if (!this.bad && partial && partial.length)
      this.bad = {
        seq: this.expectedSeq,
        line: this.lineNo + 1,
        reason: `incomplete last line (${partial.length} bytes without a newline): a torn write or a truncation`,
      };
    // Every key of the chain is endorsed by its neighbours (rotations are signed by both keys), so the
    // chain is trusted when any key of it is pinned.
    const chainTrusted = this.keys.some((k) => this.trusted.has(k.fingerprint));
    for (const k of this.keys) k.trusted = chainTrusted;
    if (this.keys.length && !chainTrusted && this.firstSigned) {
      const reason = `signed by key ${short(this.keys[0]?.fingerprint ?? '')} which is not pinned (VIGIL_AUDIT_TRUSTED_KEYS) nor endorsed by a pinned key`;
      if (!this.bad) this.bad = { ...this.firstSigned, reason };
      else notes.push(`also: the keys seen before the bad entry are not trusted (${reason})`);
    }
    if (!this.keys.length && !this.bad && this.expectedSeq > 1)
      notes.push('no checkpoint yet: nothing in this log is signed');
    let head: VerifyReport['head'];
    if (this.opts.head) head = this.checkHead(this.opts.head, chainTrusted);
    const lastSeq = this.expectedSeq - 1;
    const unsealed = this.bad ? 0 : this.pending.length;
    if (unsealed)
      notes.push(
        `unsealed tail: ${unsealed} entries after the last checkpoint${this.lastCheckpoint ? ` (seq ${this.lastCheckpoint.seq})` : ''} are not signed yet`,
      );
    return {
      ok: !this.bad,
      entries: lastSeq,
      lastSeq,
      lastHash: this.prevHash,
      checkpoints: this.checkpoints,
      ...(this.lastCheckpoint ? { lastCheckpoint: this.lastCheckpoint } : {}),
      kinds: this.kinds,
      keys: this.keys,
      unsealedTail: unsealed,
      ...(head ? { head } : {}),
      ...(this.bad ? { firstBad: this.bad } : {}),
      notes,
    };
  }

  private checkHead(h: AuditHead, chainTrusted: boolean): VerifyReport['head'] {
    const cp = h.checkpoint;
    const res = { checkpointSeq: cp.seq, tailSeq: h.tail.seq, ok: false };
    const headProblem = checkHeadSelf(
      h,
      this.trusted,
      chainTrusted ? this.keys.map((k) => k.fingerprint) : [],
    );
    const lastSeq = this.expectedSeq - 1;
    const fail = (seq: number, reason: string) => {
      if (!this.bad || this.bad.seq > seq) this.bad = { seq, line: seq, reason };
    };
    if (headProblem) {
      fail(cp.seq, `the kept head is not valid: ${headProblem}`);
      return res;
    }
    if (this.bad) return res;
    for (const [seq, hash, what] of [
      [cp.seq, cp.hash, 'signed checkpoint'],
      [h.tail.seq, h.tail.hash, 'tail entry'],
    ] as const) {
      if (lastSeq < seq) {
        fail(
          lastSeq + 1,
          `truncated: the log ends at seq ${lastSeq} but the kept head's ${what} is seq ${seq}`,
        );
        return res;
      }
      if (this.watched.get(seq) !== hash) {
        fail(seq, `entry ${seq} is not the kept head's ${what} (the log was rewritten)`);
        return res;
      }
    }
    res.ok = true;
    return res;
  }
}

/** Shape checks of exported records (the hash already proves they are unchanged since written). */
export function checkRecord(e: AuditEntry): void {
  const r = RecordPayload.safeParse(e.payload);
  if (!r.success) throw new Bad(e.seq, `malformed ${e.kind} payload`);
  if (e.kind === 'decision' && !Number.isInteger(e.payload.index))
    throw new Bad(e.seq, 'decision without an integer index');
  if (e.kind === 'history') {
    const { encoding, data, sha256 } = e.payload;
    if (encoding !== 'gzip+base64' || typeof data !== 'string' || typeof sha256 !== 'string')
      throw new Bad(e.seq, 'history without gzip+base64 data and its sha256');
    let json: Buffer;
    try {
      json = gunzipSync(Buffer.from(data, 'base64'));
    } catch {
      throw new Bad(e.seq, 'history data is not gzip');
    }
    if (sha256Hex(json) !== sha256) throw new Bad(e.seq, 'history data does not match its sha256');
  }
}

/** The head itself: a well-formed, correctly hashed, validly signed checkpoint by a trusted key. */
export function checkHeadSelf(
  h: AuditHead,
  pinned: Set<string>,
  endorsed: readonly string[],
): string | undefined {
  const cp = h.checkpoint;
  if (cp.kind !== 'checkpoint') return 'its checkpoint is not a checkpoint entry';
  if (entryHash(cp) !== cp.hash) return 'its checkpoint hash does not match';
  const p = CheckpointPayload.safeParse(cp.payload);
  if (!p.success) return 'its checkpoint payload is malformed';
  if (fingerprintOfB64(p.data.publicKey) !== p.data.keyFingerprint)
    return 'its key fingerprint does not match';
  if (!verifySignature(p.data.publicKey, signedStatement(cp), p.data.signature))
    return 'its signature is not valid';
  if (!pinned.has(p.data.keyFingerprint) && !endorsed.includes(p.data.keyFingerprint))
    return `it is signed by key ${short(p.data.keyFingerprint)} which is not trusted`;
  if (h.tail.seq < cp.seq) return 'its tail is before its checkpoint';
  return undefined;
}

/** Split a byte stream into lines; returns what is left after the last newline. */
function feed(v: LogVerifier, carry: Buffer, chunk: Buffer): Buffer {
  let buf = carry.length ? Buffer.concat([carry, chunk]) : chunk;
  let nl: number;
  while ((nl = buf.indexOf(0x0a)) !== -1) {
    v.pushLine(buf.subarray(0, nl));
    buf = buf.subarray(nl + 1);
    if (v.failed) return Buffer.alloc(0);
  }
  return Buffer.from(buf);
}

/** Verify a whole log held in memory. */
export function verifyLogBuffer(data: Buffer | string, opts: VerifyOptions): VerifyReport {
  const v = new LogVerifier(opts);
  const rest = feed(v, Buffer.alloc(0), Buffer.isBuffer(data) ? data : Buffer.from(data, 'utf8'));
  return v.finish(rest);
}

/** How long `verifyLog` waits for an incomplete last line to be completed by a live writer (ms). */
export const DEFAULT_SETTLE_MS = 2000;

/**
 * Verify the log file at `path`, streaming (constant memory in the size of the log). A live log may end in
 * a line the exporter is still writing (a reader can see a write half done): an incomplete last line is
 * re-read until it is complete (then verified with whatever followed) or `settleMs` pass without progress;
 * only then is it reported as a torn write or a truncation.
 */
export async function verifyLog(
  path: string,
  opts: VerifyOptions & { settleMs?: number },
): Promise<VerifyReport> {
  const v = new LogVerifier(opts);
  let carry: Buffer = Buffer.alloc(0);
  let pos = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
    pos += (chunk as Buffer).length;
    carry = feed(v, carry, chunk as Buffer);
    if (v.failed) break;
  }
  const settleMs = opts.settleMs ?? DEFAULT_SETTLE_MS;
  let waited = false;
  if (carry.length && !v.failed && settleMs > 0) {
    waited = true;
    const fd = openSync(path, 'r');
    try {
      const buf = Buffer.alloc(1 << 20);
      let quietSince = Date.now();
      const giveUp = Date.now() + settleMs * 10; // a writer that never stops cannot hold us forever
      while (carry.length && !v.failed && Date.now() - quietSince < settleMs && Date.now() < giveUp) {
        await new Promise((r) => setTimeout(r, 20));
        let n: number;
        while ((n = readSync(fd, buf, 0, buf.length, pos)) > 0) {
          pos += n;
          quietSince = Date.now();
          carry = feed(v, carry, buf.subarray(0, n));
          if (v.failed) break;
        }
      }
    } finally {
      closeSync(fd);
    }
  }
  const report = v.finish(carry);
  if (waited && report.firstBad?.reason.startsWith('incomplete last line'))
    report.firstBad.reason += ` (still incomplete after waiting ${settleMs} ms for a writer)`;
  else if (waited)
    report.notes.push('a write was in progress at the end of the log: re-read until it was complete');
  return report;
}
