/**
 * The dead-letter store: every authenticated request we could not turn into an incident, with its raw
 * bytes and the reason, in SQLite (WAL, synchronous=FULL: the 4xx answer is sent after the row is on disk).
 * The intake writes through `addDurably`: rows go to a writer thread that commits what arrived together in
 * one transaction, so the commit's fsync (tens of ms on a busy disk) does not stall the intake's event loop.
 */
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type Database from 'better-sqlite3';
import { openSqlite } from './sqlite.js';
import { openBytes, sealBytes, type AesGcmCodec } from '../src/codec/aes-gcm.js';

export type DeadLetterReason =
  | 'unknown-source'
  | 'malformed-encoding'
  | 'malformed-json'
  | 'invalid-event'
  | 'source-not-allowed'
  | 'host-not-allowed';

export interface DeadLetter {
  id: number;
  receivedAt: string;
  source: string;
  keyId: string | null;
  reason: DeadLetterReason;
  issues: string[];
  contentType: string | null;
  sha256: string;
  size: number;
  state: 'pending' | 'resubmitted';
  attempts: number;
  resolvedAt: string | null;
  incidentId: string | null;
}

interface Row {
  id: number;
  received_at: string;
  source: string;
  key_id: string | null;
  reason: DeadLetterReason;
  issues: string;
  content_type: string | null;
  sha256: string;
  size: number;
  state: 'pending' | 'resubmitted';
  attempts: number;
  resolved_at: string | null;
  incident_id: string | null;
  body?: Buffer;
  body_key_id?: string | null;
}

const toDeadLetter = (r: Row): DeadLetter => ({
  id: r.id,
  receivedAt: r.received_at,
  source: r.source,
  keyId: r.key_id,
  reason: r.reason,
  issues: JSON.parse(r.issues) as string[],
  contentType: r.content_type,
  sha256: r.sha256,
  size: r.size,
  state: r.state,
  attempts: r.attempts,
  resolvedAt: r.resolved_at,
  incidentId: r.incident_id,
});

const INSERT = `INSERT INTO dead_letters (received_at, source, key_id, reason, issues, content_type, body, sha256, size, body_key_id)
   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`;

/**
 * The writer thread (CommonJS, evaluated): its own connection to the same file (WAL: readers on the main
 * connection see a row once it is committed). Rows that arrive in one turn share a transaction.
 */
const WRITER = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.file);
db.pragma('journal_mode = WAL');
db.pragma('synchronous = FULL');
db.pragma('busy_timeout = 5000');
const insert = db.prepare(workerData.sql);
const insertAll = db.transaction((rows) => rows.map((r) => Number(insert.run(...r).lastInsertRowid)));
let queue = [];
const flush = () => {
  const batch = queue;
  queue = [];
  try {
    const ids = insertAll(batch.map((m) => m.row.map((v) => (v instanceof Uint8Array ? Buffer.from(v.buffer, v.byteOffset, v.byteLength) : v))));
    parentPort.postMessage(batch.map((m, i) => ({ seq: m.seq, id: ids[i] })));
  } catch (e) {
    parentPort.postMessage(batch.map((m) => ({ seq: m.seq, error: String(e && e.message || e) })));
  }
};
parentPort.on('message', (m) => {
  queue.push(m);
  if (queue.length === 1) setImmediate(flush);
});
`;

type Pending = Map<number, { resolve: (id: number) => void; reject: (e: Error) => void }>;

const COLUMNS =
  'id, received_at, source, key_id, reason, issues, content_type, sha256, size, state, attempts, resolved_at, incident_id';

export class DeadLetterStore {
  private readonly db: Database.Database;
  private readonly insert: Database.Statement;
  private writer?: { worker: Worker; pending: Pending };
  private seq = 0;

  /**
   * @param sealer when given (a payload codec), raw bodies are encrypted at rest with its active key
   * (AES-256-GCM) and the key id is kept beside them; without it they are stored as received.
   */
  constructor(
    readonly file: string,
    private readonly sealer?: AesGcmCodec,
  ) {
    this.db = openSqlite(file, {
      durable: true,
      schema: `CREATE TABLE IF NOT EXISTS dead_letters (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      received_at TEXT NOT NULL,
      source TEXT NOT NULL,
      key_id TEXT,
      reason TEXT NOT NULL,
      issues TEXT NOT NULL,
      content_type TEXT,
      body BLOB NOT NULL,
      sha256 TEXT NOT NULL,
      size INTEGER NOT NULL,
      state TEXT NOT NULL DEFAULT 'pending',
      attempts INTEGER NOT NULL DEFAULT 0,
      resolved_at TEXT,
      incident_id TEXT
    );
    CREATE INDEX IF NOT EXISTS dead_letters_state ON dead_letters(state, id);`,
    });
    const cols = this.db.prepare('PRAGMA table_info(dead_letters)').all() as { name: string }[];
    if (!cols.some((c) => c.name === 'body_key_id'))
      this.db.exec('ALTER TABLE dead_letters ADD COLUMN body_key_id TEXT');
    // Prepared once: a storm of bad events should not compile the same statement for every row.
    this.insert = this.db.prepare(INSERT);
  }

  add(d: {
    source: string;
    keyId?: string;
    reason: DeadLetterReason;
    issues: string[];
    contentType?: string;
    body: Buffer;
    receivedAt?: string;
  }): number {
    return Number(this.insert.run(...this.row(d)).lastInsertRowid);
  }

  /** As `add`, resolved once the row is on disk, without blocking the event loop on the commit. */
  addDurably(d: Parameters<DeadLetterStore['add']>[0]): Promise<number> {
    const row = this.row(d);
    const w = this.startWriter();
    const seq = ++this.seq;
    return new Promise<number>((resolve, reject) => {
      w.pending.set(seq, { resolve, reject });
      w.worker.postMessage({ seq, row });
    });
  }

  private row(d: Parameters<DeadLetterStore['add']>[0]) {
    const sealed = this.sealer ? sealBytes(this.sealer.activeKey, d.body) : { data: d.body, keyId: null };
    return [
      d.receivedAt ?? new Date().toISOString(),
      d.source.slice(0, 128),
      d.keyId ?? null,
      d.reason,
      JSON.stringify(d.issues.slice(0, 100)),
      d.contentType?.slice(0, 255) ?? null,
      sealed.data,
      createHash('sha256').update(d.body).digest('hex'),
      d.body.length,
      sealed.keyId,
    ] as const;
  }

  private startWriter(): NonNullable<DeadLetterStore['writer']> {
    if (this.writer) return this.writer;
    const worker = new Worker(WRITER, {
      eval: true,
      workerData: {
        file: this.file,
        sql: INSERT,
        driver: createRequire(import.meta.url).resolve('better-sqlite3'),
      },
    });
    worker.unref(); // a pending write keeps a promise, not the process, alive; close() ends it
    const pending: Pending = new Map();
    const w = { worker, pending };
    worker.on('message', (results: { seq: number; id?: number; error?: string }[]) => {
      for (const r of results) {
        const p = pending.get(r.seq);
        pending.delete(r.seq);
        if (r.error !== undefined || r.id === undefined)
          p?.reject(new Error(`dead letter not stored: ${r.error ?? 'no id'}`));
        else p?.resolve(r.id);
      }
    });
    const fail = (e: Error) => {
      if (this.writer === w) this.writer = undefined;
      for (const p of pending.values()) p.reject(e);
      pending.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`the dead-letter writer exited (code ${code})`)));
    this.writer = w;
    return w;
  }

  list(opts: { state?: DeadLetter['state']; limit?: number; afterId?: number } = {}): DeadLetter[] {
    const rows = this.db
      .prepare(
        `SELECT ${COLUMNS} FROM dead_letters WHERE (? IS NULL OR state = ?) AND id > ? ORDER BY id LIMIT ?`,
      )
      .all(
        opts.state ?? null,
        opts.state ?? null,
        opts.afterId ?? 0,
        Math.min(opts.limit ?? 100, 1000),
      ) as Row[];
    return rows.map(toDeadLetter);
  }

  get(id: number): (DeadLetter & { body: Buffer }) | undefined {
    const r = this.db
      .prepare(`SELECT ${COLUMNS}, body, body_key_id FROM dead_letters WHERE id = ?`)
      .get(id) as Row | undefined;
    if (!r) return undefined;
    let body = r.body ?? Buffer.alloc(0);
    if (r.body_key_id) {
      const key = this.sealer?.keyFor(r.body_key_id);
      if (!key)
        throw new Error(`dead letter ${id} is sealed with key ${r.body_key_id}, which is not configured`);
      body = openBytes(key, body);
    }
    return { ...toDeadLetter(r), body };
  }

  markResubmitted(id: number, incidentId: string): void {
    this.db
      .prepare(
        `UPDATE dead_letters SET state = 'resubmitted', attempts = attempts + 1, resolved_at = ?, incident_id = ? WHERE id = ?`,
      )
      .run(new Date().toISOString(), incidentId, id);
  }

  markFailedRetry(id: number, reason: DeadLetterReason, issues: string[]): void {
    this.db
      .prepare(`UPDATE dead_letters SET attempts = attempts + 1, reason = ?, issues = ? WHERE id = ?`)
      .run(reason, JSON.stringify(issues.slice(0, 100)), id);
  }

  counts(): { pending: number; resubmitted: number } {
    const rows = this.db.prepare(`SELECT state, COUNT(*) AS n FROM dead_letters GROUP BY state`).all() as {
      state: string;
      n: number;
    }[];
    const get = (s: string) => rows.find((r) => r.state === s)?.n ?? 0;
    return { pending: get('pending'), resubmitted: get('resubmitted') };
  }

  close(): void {
    if (this.writer) void this.writer.worker.terminate();
    this.writer = undefined;
    this.db.close();
  }
}
