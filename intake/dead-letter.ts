/**
 * The dead-letter store: every authenticated request we could not turn into an incident, with its raw
 * bytes and the reason, in SQLite (WAL, synchronous=FULL: the 4xx answer is sent after the row is on disk).
 */
import { createHash } from 'node:crypto';
import type Database from 'better-sqlite3';
import { openSqlite } from './sqlite.js';

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

  constructor(readonly file: string) {
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
    const r = this.db
      .prepare(
        `INSERT INTO dead_letters (received_at, source, key_id, reason, issues, content_type, body, sha256, size)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        d.receivedAt ?? new Date().toISOString(),
        d.source.slice(0, 128),
        d.keyId ?? null,
        d.reason,
        JSON.stringify(d.issues.slice(0, 100)),
        d.contentType?.slice(0, 255) ?? null,
        d.body,
        createHash('sha256').update(d.body).digest('hex'),
        d.body.length,
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
    const r = this.db.prepare(`SELECT ${COLUMNS}, body FROM dead_letters WHERE id = ?`).get(id) as
      Row | undefined;
    return r ? { ...toDeadLetter(r), body: r.body ?? Buffer.alloc(0) } : undefined;
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
