/**
 * The dead-letter store: every authenticated request we could not turn into an incident, with its raw
 * bytes and the reason, in SQLite (WAL, synchronous=FULL: the 4xx answer is sent after the row is on disk).
 */
import { createHash } from 'node:crypto';
import type Database from 'better-sqlite3';
import { openSqlite } from './sqlite.js';
import { openBytes, sealBytes, type AesGcmCodec } from '../src/codec/aes-gcm.js';

export type DeadLetterReason =
  'unknown-source' | 'malformed-json' | 'invalid-event' | 'source-not-allowed' | 'host-not-allowed';

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

const COLUMNS =
  'id, received_at, source, key_id, reason, issues, content_type, sha256, size, state, attempts, resolved_at, incident_id';

export class DeadLetterStore {
  private readonly db: Database.Database;
  private readonly insert: Database.Statement;

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
    this.insert = this.db.prepare(
      `INSERT INTO dead_letters (received_at, source, key_id, reason, issues, content_type, body, sha256, size, body_key_id)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
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
    const sealed = this.sealer ? sealBytes(this.sealer.activeKey, d.body) : { data: d.body, keyId: null };
    const r = this.insert.run(
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
    );
    return Number(r.lastInsertRowid);
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
    this.db.close();
  }
}
