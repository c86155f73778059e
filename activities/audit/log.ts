/**
 * The append-only audit log (JSON Lines, hash-chained, sealed by signed checkpoints; format in README.md)
 * and its writer. Appends happen under the index's write lock, are fsync'd before the index records them,
 * and are idempotent on each record's export key, so a crash between the write and the index update
 * neither loses nor duplicates anything: the next open re-reads the log tail and indexes what is there.
 * With a signing key, each write is first announced in a signed intent (intent.ts), and an unindexed tail
 * that the intent does not announce exactly is cut (and recorded), never adopted and sealed.
 */
import {
  closeSync,
  fstatSync,
  fsyncSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readSync,
  writeSync,
} from 'node:fs';
import { createHash } from 'node:crypto';
import { dirname, join } from 'node:path';
import { sha256Hex, toJson, type Json } from './canonical.js';
import {
  AuditEntry,
  CheckpointPayload,
  encodeEntry,
  entryHash,
  exportKey,
  GENESIS_HASH,
  KeyRotatedPayload,
  LOG_VERSION,
  signedStatement,
  type AuditKind,
  type UnhashedEntry,
} from './entry.js';
import { AuditIndex, type IndexedEntry } from './index-db.js';
import { intentMatches, writeIntent } from './intent.js';
import type { Signer } from './keys.js';
import { merkleRoot } from './merkle.js';

export class AuditLogError extends Error {
  override readonly name = 'AuditLogError';
}

/** A reader found the log does not match the index beside it (it then reads with a private index). */
class IndexMismatch extends Error {}

export interface AuditLogOptions {
  logPath: string;
  /** Default: audit-index.db beside the log. */
  indexPath?: string;
  /** Needed to seal (checkpoint) and rotate; readers leave it out. */
  signer?: Signer;
  /** Seal after this many unsealed entries (0: only when asked). */
  checkpointEvery?: number;
  /** A reader never repairs the log; a writer cuts a torn last line (and records that it did). */
  mode?: 'writer' | 'reader';
  clock?: () => Date;
  /** Called after entries reached the file (fsync'd) and before the index records them (crash tests). */
  onAppended?: (entries: AuditEntry[]) => void;
}

export interface NewRecord {
  kind: AuditKind;
  payload: Record<string, unknown>;
}

export interface LogStatus {
  lastSeq: number;
  lastHash: string;
  lastCheckpointSeq: number;
  unsealed: number;
  /** Time of the oldest entry after the last checkpoint. */
  oldestUnsealed?: string;
  activeKey?: { fingerprint: string; publicKey: string };
  /** Set when a reader found the log did not match its index (rebuilt) or stopped at a bad entry. */
  warning?: string;
}

const KEY_FP = 'key.fingerprint';
const KEY_PUB = 'key.publicKey';

export const defaultIndexPath = (logPath: string) => join(dirname(logPath), 'audit-index.db');

export class AuditLog {
  private index: AuditIndex;
  private readonly fd: number;
  private signer?: Signer;
  private readonly every: number;
  private readonly clock: () => Date;
  private warning?: string;

  private constructor(private readonly opts: AuditLogOptions) {
    mkdirSync(dirname(opts.logPath), { recursive: true, mode: 0o700 });
    this.fd = openSync(opts.logPath, opts.mode === 'reader' ? 'r' : 'a+', 0o600);
    this.index = new AuditIndex(opts.indexPath ?? defaultIndexPath(opts.logPath));
    this.signer = opts.signer;
    this.every = opts.checkpointEvery ?? 0;
    this.clock = opts.clock ?? (() => new Date());
  }

  static open(opts: AuditLogOptions): AuditLog {
    const log = new AuditLog(opts);
    try {
      try {
        log.index.locked(() => log.sync());
      } catch (e) {
        if (!(e instanceof IndexMismatch)) throw e;
        // Rebuilding the shared index from the altered log would let the writer continue (and sign) it:
        // leave that index as it is and read the log through a private one.
        log.index.close();
        log.index = new AuditIndex(':memory:');
        log.warning = `${e.message}; read from the log with a private index (the one beside it is left as it is, and the exporter refuses the log)`;
        log.index.locked(() => log.sync());
      }
    } catch (e) {
      log.close();
      throw e;
    }
    return log;
  }

  get path(): string {
    return this.opts.logPath;
  }

  close(): void {
    this.index.close();
    closeSync(this.fd);
  }

  /**
   * Append records; those whose export key is already in the log are skipped. Seals when
   * `checkpointEvery` unsealed entries have accumulated. Returns what was written (incl. checkpoints).
   */
  append(records: NewRecord[]): AuditEntry[] {
    return this.index.locked(() => {
      this.sync();
      if (this.signer) this.assertActiveSigner(this.signer);
      const fresh: NewRecord[] = [];
      const keys = new Set<string>();
      for (const r of records) {
        const payload = toJson(r.payload) as Record<string, Json>;
        const key = exportKey(r.kind, payload);
        if (key && (this.index.hasExportKey(key) || keys.has(key))) continue;
        if (key) keys.add(key);
        fresh.push({ kind: r.kind, payload });
      }
      const written = this.write(fresh);
      if (this.signer && this.every > 0 && this.status().unsealed >= this.every) {
        const cp = this.sealLocked();
        if (cp) written.push(cp);
      }
      return written;
    });
  }

  /** Write a checkpoint over everything since the last one (nothing when there is nothing new). */
  checkpoint(): AuditEntry | undefined {
    return this.index.locked(() => {
      this.sync();
      return this.sealLocked();
    });
  }

  /** Seal when the oldest unsealed entry is at least `maxAgeMs` old. */
  sealIfOlderThan(maxAgeMs: number): AuditEntry | undefined {
    return this.index.locked(() => {
      this.sync();
      const s = this.status();
      if (!s.unsealed || !s.oldestUnsealed) return undefined;
      if (this.clock().getTime() - Date.parse(s.oldestUnsealed) < maxAgeMs) return undefined;
      return this.sealLocked();
    });
  }

  /**
   * Hand over to a new signing key: seal with the old key, then a key.rotated entry signed by both.
   * From then on only the new key may sign checkpoints; every older entry stays verifiable.
   */
  rotateKey(next: Signer, reason?: string): AuditEntry[] {
    const old = this.signer;
    if (!old) throw new AuditLogError('rotating the key needs the current signing key');
    if (old.fingerprint === next.fingerprint) throw new AuditLogError('the new key is the current key');
    return this.index.locked(() => {
      this.sync();
      this.assertActiveSigner(old);
      const out: AuditEntry[] = [];
      const cp = this.sealLocked();
      if (cp) out.push(cp);
      const payload: Record<string, Json> = {
        alg: 'ed25519',
        oldFingerprint: old.fingerprint,
        oldPublicKey: old.publicKey,
        newFingerprint: next.fingerprint,
        newPublicKey: next.publicKey,
        ...(reason ? { reason } : {}),
      };
      const [e] = this.writeSigned('key.rotated', payload, (stmt) => ({
        signature: old.sign(stmt),
        newKeySignature: next.sign(stmt),
      }));
      if (e) out.push(e);
      this.signer = next;
      return out;
    });
  }

  status(): LogStatus {
    const last = this.index.last();
    const cp = this.index.lastOfKind('checkpoint');
    const cpSeq = cp?.seq ?? 0;
    const firstUnsealed = last && last.seq > cpSeq ? this.index.bySeq(cpSeq + 1) : undefined;
    const fp = this.index.meta(KEY_FP);
    const pub = this.index.meta(KEY_PUB);
    return {
      lastSeq: last?.seq ?? 0,
      lastHash: last?.hash ?? GENESIS_HASH,
      lastCheckpointSeq: cpSeq,
      unsealed: (last?.seq ?? 0) - cpSeq,
      ...(firstUnsealed ? { oldestUnsealed: firstUnsealed.time } : {}),
      ...(fp && pub ? { activeKey: { fingerprint: fp, publicKey: pub } } : {}),
      ...(this.warning ? { warning: this.warning } : {}),
    };
  }

  hasRecord(key: string): boolean {
    return this.index.hasExportKey(key);
  }

  /** Re-read the log tail into the index (another writer may have appended). */
  refresh(): void {
    this.index.locked(() => this.sync());
  }

  /** The entry at `seq`, read from the log and checked against the index's hash. */
  entry(seq: number): AuditEntry {
    const ix = this.index.bySeq(seq);
    if (!ix) throw new AuditLogError(`no entry ${seq}`);
    return this.readIndexed(ix);
  }

  entriesOf(incidentId: string): AuditEntry[] {
    return this.index.ofIncident(incidentId).map((ix) => this.readIndexed(ix));
  }

  incidents() {
    return this.index.incidents();
  }

  /** Raw hashes of seq from..to (Merkle leaves). */
  leaves(from: number, to: number): Buffer[] {
    return this.index.range(from, to).map((e) => Buffer.from(e.hash, 'hex'));
  }

  /** The checkpoint that seals `seq` (the first checkpoint after it), if any yet. */
  coveringCheckpoint(seq: number): AuditEntry | undefined {
    const [cp] = this.index.ofKindAfter('checkpoint', seq);
    return cp ? this.readIndexed(cp) : undefined;
  }

  /** Every entry of one kind, in log order (e.g. `incident.closed` for reports). */
  entriesOfKind(kind: AuditKind): AuditEntry[] {
    return this.index.ofKindAfter(kind, 0).map((ix) => this.readIndexed(ix));
  }

  rotations(): AuditEntry[] {
    return this.index.ofKindAfter('key.rotated', 0).map((ix) => this.readIndexed(ix));
  }

  lastCheckpoint(): AuditEntry | undefined {
    const cp = this.index.lastOfKind('checkpoint');
    return cp ? this.readIndexed(cp) : undefined;
  }

  cursor(name: string): string | undefined {
    return this.index.cursor(name);
  }

  setCursor(name: string, value: string): void {
    this.index.setCursor(name, value);
  }

  // --- internals ---------------------------------------------------------------------------------------

  private assertActiveSigner(s: Signer): void {
    const active = this.index.meta(KEY_FP);
    if (active && active !== s.fingerprint)
      throw new AuditLogError(
        `this process signs with key ${s.fingerprint.slice(0, 16)} but the log's active key is ${active.slice(0, 16)} ` +
          '(rotated?): set VIGIL_AUDIT_SIGNING_KEY to the active key',
      );
  }

  private sealLocked(): AuditEntry | undefined {
    const s = this.status();
    if (s.unsealed === 0) return undefined;
    const signer = this.signer;
    if (!signer) throw new AuditLogError('sealing needs the signing key (VIGIL_AUDIT_SIGNING_KEY)');
    this.assertActiveSigner(signer);
    const from = s.lastCheckpointSeq + 1;
    const payload: Record<string, Json> = {
      alg: 'ed25519',
      keyFingerprint: signer.fingerprint,
      publicKey: signer.publicKey,
      from,
      to: s.lastSeq,
      size: s.lastSeq - from + 1,
      root: merkleRoot(this.leaves(from, s.lastSeq)).toString('hex'),
      head: s.lastHash,
    };
    return this.writeSigned('checkpoint', payload, (stmt) => ({ signature: signer.sign(stmt) }))[0];
  }

  private writeSigned(
    kind: AuditKind,
    payload: Record<string, Json>,
    signatures: (statement: Buffer) => Record<string, string>,
  ): AuditEntry[] {
    const last = this.index.last();
    const unhashed: UnhashedEntry = {
      v: LOG_VERSION,
      seq: (last?.seq ?? 0) + 1,
      time: this.clock().toISOString(),
      kind,
      payload,
      prevHash: last?.hash ?? GENESIS_HASH,
    };
    const signed = { ...unhashed, payload: { ...payload, ...signatures(signedStatement(unhashed)) } };
    return this.writeEntries([{ ...signed, hash: entryHash(signed) }]);
  }

  private write(records: NewRecord[]): AuditEntry[] {
    if (!records.length) return [];
    const last = this.index.last();
    let seq = last?.seq ?? 0;
    let prev = last?.hash ?? GENESIS_HASH;
    const time = this.clock().toISOString();
    const entries = records.map((r) => {
      const u: UnhashedEntry = {
        v: LOG_VERSION,
        seq: ++seq,
        time,
        kind: r.kind,
        payload: r.payload as Record<string, Json>,
        prevHash: prev,
      };
      const e: AuditEntry = { ...u, hash: entryHash(u) };
      prev = e.hash;
      return e;
    });
    return this.writeEntries(entries);
  }

  /** One write + fsync for the batch, then the index rows (in the caller's transaction). */
  private writeEntries(entries: AuditEntry[]): AuditEntry[] {
    if (this.opts.mode === 'reader') throw new AuditLogError('this log was opened for reading');
    let offset = fstatSync(this.fd).size;
    const lines = entries.map((e) => Buffer.from(encodeEntry(e), 'utf8'));
    const buf = Buffer.concat(lines);
    // Announce the write, signed, so the next open adopts these bytes after a crash and nothing else.
    if (this.signer)
      writeIntent(
        this.opts.logPath,
        {
          offset,
          length: buf.length,
          sha256: sha256Hex(buf),
          firstSeq: entries[0]?.seq ?? 0,
          lastSeq: entries[entries.length - 1]?.seq ?? 0,
        },
        this.signer,
      );
    let done = 0;
    while (done < buf.length) done += writeSync(this.fd, buf, done, buf.length - done);
    fsyncSync(this.fd);
    this.opts.onAppended?.(entries);
    entries.forEach((e, i) => {
      const length = (lines[i] as Buffer).length;
      this.indexEntry(e, offset, length);
      offset += length;
    });
    return entries;
  }

  private indexEntry(e: AuditEntry, offset: number, length: number): void {
    const incident = e.payload.incidentId;
    this.index.insert({
      seq: e.seq,
      offset,
      length,
      hash: e.hash,
      kind: e.kind,
      time: e.time,
      incidentId: typeof incident === 'string' ? incident : null,
      exportKey: exportKey(e.kind, e.payload) ?? null,
    });
    if (e.kind === 'checkpoint' && !this.index.meta(KEY_FP)) {
      const p = CheckpointPayload.safeParse(e.payload);
      if (p.success) {
        this.index.setMeta(KEY_FP, p.data.keyFingerprint);
        this.index.setMeta(KEY_PUB, p.data.publicKey);
      }
    }
    if (e.kind === 'key.rotated') {
      const p = KeyRotatedPayload.safeParse(e.payload);
      if (p.success) {
        this.index.setMeta(KEY_FP, p.data.newFingerprint);
        this.index.setMeta(KEY_PUB, p.data.newPublicKey);
      }
    }
  }

  private readAt(offset: number, length: number): Buffer {
    const buf = Buffer.alloc(length);
    let got = 0;
    while (got < length) {
      const n = readSync(this.fd, buf, got, length - got, offset + got);
      if (n === 0) break;
      got += n;
    }
    return buf.subarray(0, got);
  }

  private readIndexed(ix: IndexedEntry): AuditEntry {
    const raw = this.readAt(ix.offset, ix.length).toString('utf8').replace(/\n$/, '');
    let e: AuditEntry;
    try {
      e = AuditEntry.parse(JSON.parse(raw));
    } catch {
      throw new AuditLogError(`entry ${ix.seq} cannot be read from the log: run vigil audit verify`);
    }
    if (e.seq !== ix.seq || e.hash !== ix.hash || entryHash(e) !== e.hash)
      throw new AuditLogError(`entry ${ix.seq} in the log does not match its index: run vigil audit verify`);
    return e;
  }

  /** Bring the index up to the log: verify the indexed tail still matches and index what follows. */
  private sync(): void {
    const size = fstatSync(this.fd).size;
    const last = this.index.last();
    const mismatch = this.indexMismatch(size, last);
    if (mismatch) {
      if (this.opts.mode === 'reader') throw new IndexMismatch(mismatch);
      throw new AuditLogError(`${mismatch}; the log may have been altered: run vigil audit verify`);
    }
    let offset = last ? last.offset + last.length : 0;
    if (last && size > offset && this.opts.mode !== 'reader' && this.signer) {
      const tail = this.unannouncedTail(offset, size);
      if (tail) {
        // Not what this writer (or another holder of the key) announced: someone else appended it.
        ftruncateSync(this.fd, offset);
        fsyncSync(this.fd);
        this.write([{ kind: 'log.recovered', payload: { ...tail, offset } }]);
        return;
      }
    }
    let seq = last?.seq ?? 0;
    let prev = last?.hash ?? GENESIS_HASH;
    let carry = Buffer.alloc(0);
    let carryAt = offset;
    const CHUNK = 1 << 20;
    for (let pos = offset; pos < size;) {
      const chunk = this.readAt(pos, Math.min(CHUNK, size - pos));
      if (!chunk.length) break;
      pos += chunk.length;
      let buf = carry.length ? Buffer.concat([carry, chunk]) : chunk;
      let nl: number;
      while ((nl = buf.indexOf(0x0a)) !== -1) {
        const line = buf.subarray(0, nl);
        const problem = this.indexLine(line, seq + 1, prev, carryAt, nl + 1);
        if (problem) {
          if (this.opts.mode !== 'reader')
            throw new AuditLogError(`entry ${seq + 1} (byte ${carryAt}) ${problem}: run vigil audit verify`);
          this.warning = `entry ${seq + 1} ${problem}; entries from there on are not indexed: run vigil audit verify`;
          return;
        }
        seq += 1;
        prev = this.index.last()?.hash ?? prev;
        carryAt += nl + 1;
        buf = buf.subarray(nl + 1);
      }
      carry = Buffer.from(buf);
    }
    offset = carryAt;
    if (carry.length && this.opts.mode !== 'reader') {
      // A torn write (crash mid-line): cut it and say so in the log itself.
      ftruncateSync(this.fd, offset);
      fsyncSync(this.fd);
      this.write([
        {
          kind: 'log.recovered',
          payload: { droppedBytes: carry.length, droppedSha256: sha256Hex(carry), offset },
        },
      ]);
    }
  }

  /**
   * Bytes after the indexed end are adopted only when the signed intent announced exactly them (the
   * writer's own crash between the write and the index update). Returns what to drop otherwise.
   */
  private unannouncedTail(
    offset: number,
    size: number,
  ): { droppedBytes: number; droppedSha256: string } | undefined {
    const signer = this.signer;
    if (!signer) return undefined;
    const h = createHash('sha256');
    for (let pos = offset; pos < size;) {
      const chunk = this.readAt(pos, Math.min(1 << 20, size - pos));
      if (!chunk.length) break;
      h.update(chunk);
      pos += chunk.length;
    }
    const tail = { offset, length: size - offset, sha256: h.digest('hex') };
    const fingerprint = this.index.meta(KEY_FP) ?? signer.fingerprint;
    const publicKey = this.index.meta(KEY_PUB) ?? signer.publicKey;
    if (intentMatches(this.opts.logPath, tail, { fingerprint, publicKey })) return undefined;
    return { droppedBytes: tail.length, droppedSha256: tail.sha256 };
  }

  private indexMismatch(size: number, last: IndexedEntry | undefined): string | undefined {
    if (!last) return undefined;
    const end = last.offset + last.length;
    if (size < end) return `the log is ${size} bytes but its index reaches byte ${end} (cut back?)`;
    const first = this.index.first();
    for (const ix of first && first.seq !== last.seq ? [first, last] : [last]) {
      const raw = this.readAt(ix.offset, ix.length);
      let hash: unknown;
      try {
        hash = (JSON.parse(raw.toString('utf8')) as { hash?: unknown }).hash;
      } catch {
        hash = undefined;
      }
      if (hash !== ix.hash || raw[raw.length - 1] !== 0x0a)
        return `entry ${ix.seq} in the log is not the one indexed`;
    }
    return undefined;
  }

  /** Index one complete line that should be entry `seq` linking to `prev`; returns a problem or undefined. */
  private indexLine(
    line: Buffer,
    seq: number,
    prev: string,
    offset: number,
    length: number,
  ): string | undefined {
    let e: AuditEntry;
    try {
      e = AuditEntry.parse(JSON.parse(line.toString('utf8')));
    } catch {
      return 'is not a valid entry';
    }
    if (e.seq !== seq || e.prevHash !== prev || entryHash(e) !== e.hash) return 'does not continue the chain';
    this.indexEntry(e, offset, length);
    return undefined;
  }
}
