/**
 * The audit log's SQLite index (better-sqlite3, WAL), beside the log: where each entry sits in the file,
 * its hash and kind, which incident it belongs to, the exported records' idempotency keys, the active
 * signing key, and the exporter's cursors. The log is the source of truth: the index is rebuilt from it
 * when missing; when it does not match, the writer refuses the log and a reader reads it with a private
 * in-memory index, leaving this one as it is. Its write transaction (BEGIN IMMEDIATE) is also the writers'
 * lock: every append happens inside one, so two processes never interleave lines.
 */
import { chmodSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';

export interface IndexedEntry {
  seq: number;
  offset: number;
  length: number;
  hash: string;
  kind: string;
  time: string;
  incidentId: string | null;
  exportKey: string | null;
}

interface Row {
  seq: number;
  offset: number;
  length: number;
  hash: string;
  kind: string;
  time: string;
  incident_id: string | null;
  export_key: string | null;
}

const toEntry = (r: Row): IndexedEntry => ({
  seq: r.seq,
  offset: r.offset,
  length: r.length,
  hash: r.hash,
  kind: r.kind,
  time: r.time,
  incidentId: r.incident_id,
  exportKey: r.export_key,
});

export class AuditIndex {
  readonly db: Database.Database;
  private readonly q;

  /** `file` ':memory:' is a private index (a reader of a log that does not match the index beside it). */
  constructor(file: string) {
    const memory = file === ':memory:';
    if (!memory) mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    this.db = new Database(file);
    if (!memory) chmodSync(file, 0o600); // like the log: incident ids and times are nobody else's business
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    this.db.pragma('busy_timeout = 15000');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS entries (
        seq INTEGER PRIMARY KEY,
        offset INTEGER NOT NULL,
        length INTEGER NOT NULL,
        hash TEXT NOT NULL,
        kind TEXT NOT NULL,
        time TEXT NOT NULL,
        incident_id TEXT,
        export_key TEXT UNIQUE
      );
      CREATE INDEX IF NOT EXISTS entries_incident ON entries (incident_id, seq) WHERE incident_id IS NOT NULL;
      CREATE INDEX IF NOT EXISTS entries_kind ON entries (kind, seq);
      CREATE TABLE IF NOT EXISTS cursors (name TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at TEXT NOT NULL);
    `);
    this.q = {
      last: this.db.prepare<[], Row>('SELECT * FROM entries ORDER BY seq DESC LIMIT 1'),
      first: this.db.prepare<[], Row>('SELECT * FROM entries WHERE seq = 1'),
      bySeq: this.db.prepare<[number], Row>('SELECT * FROM entries WHERE seq = ?'),
      insert: this.db.prepare(
        `INSERT INTO entries (seq, offset, length, hash, kind, time, incident_id, export_key)
         VALUES (@seq, @offset, @length, @hash, @kind, @time, @incidentId, @exportKey)`,
      ),
      hasKey: this.db.prepare<[string], { seq: number }>('SELECT seq FROM entries WHERE export_key = ?'),
      lastOfKind: this.db.prepare<[string], Row>(
        'SELECT * FROM entries WHERE kind = ? ORDER BY seq DESC LIMIT 1',
      ),
      range: this.db.prepare<[number, number], Row>(
        'SELECT * FROM entries WHERE seq BETWEEN ? AND ? ORDER BY seq',
      ),
      ofIncident: this.db.prepare<[string], Row>('SELECT * FROM entries WHERE incident_id = ? ORDER BY seq'),
      ofKindAfter: this.db.prepare<[string, number], Row>(
        'SELECT * FROM entries WHERE kind = ? AND seq > ? ORDER BY seq',
      ),
      getMeta: this.db.prepare<[string], { v: string }>('SELECT v FROM meta WHERE k = ?'),
      setMeta: this.db.prepare(
        'INSERT INTO meta (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v',
      ),
      getCursor: this.db.prepare<[string], { value: string }>('SELECT value FROM cursors WHERE name = ?'),
      setCursor: this.db.prepare(
        `INSERT INTO cursors (name, value, updated_at) VALUES (?, ?, ?)
         ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
      ),
      count: this.db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM entries'),
      incidents: this.db.prepare<[], { incident_id: string; n: number; first: string; last: string }>(
        `SELECT incident_id, COUNT(*) AS n, MIN(time) AS first, MAX(time) AS last FROM entries
         WHERE incident_id IS NOT NULL GROUP BY incident_id ORDER BY MAX(seq) DESC`,
      ),
    };
  }

  /** Run `fn` holding the write lock (BEGIN IMMEDIATE); rolled back if it throws. */
  locked<T>(fn: () => T): T {
    return this.db.transaction(fn).immediate();
  }

  last(): IndexedEntry | undefined {
    const r = this.q.last.get();
    return r ? toEntry(r) : undefined;
  }
  first(): IndexedEntry | undefined {
    const r = this.q.first.get();
    return r ? toEntry(r) : undefined;
  }
  bySeq(seq: number): IndexedEntry | undefined {
    const r = this.q.bySeq.get(seq);
    return r ? toEntry(r) : undefined;
  }
  insert(e: IndexedEntry): void {
    this.q.insert.run(e);
  }
  hasExportKey(key: string): boolean {
    return this.q.hasKey.get(key) !== undefined;
  }
  lastOfKind(kind: string): IndexedEntry | undefined {
    const r = this.q.lastOfKind.get(kind);
    return r ? toEntry(r) : undefined;
  }
  range(from: number, to: number): IndexedEntry[] {
    return this.q.range.all(from, to).map(toEntry);
  }
  ofIncident(incidentId: string): IndexedEntry[] {
    return this.q.ofIncident.all(incidentId).map(toEntry);
  }
  ofKindAfter(kind: string, seq: number): IndexedEntry[] {
    return this.q.ofKindAfter.all(kind, seq).map(toEntry);
  }
  count(): number {
    return this.q.count.get()?.n ?? 0;
  }
  incidents(): { incidentId: string; entries: number; first: string; last: string }[] {
    return this.q.incidents
      .all()
      .map((r) => ({ incidentId: r.incident_id, entries: r.n, first: r.first, last: r.last }));
  }
  meta(k: string): string | undefined {
    return this.q.getMeta.get(k)?.v;
  }
  setMeta(k: string, v: string): void {
    this.q.setMeta.run(k, v);
  }
  cursor(name: string): string | undefined {
    return this.q.getCursor.get(name)?.value;
  }
  setCursor(name: string, value: string): void {
    this.q.setCursor.run(name, value, new Date().toISOString());
  }
  close(): void {
    this.db.close();
  }
}
