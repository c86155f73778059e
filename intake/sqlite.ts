import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';

/**
 * Open one of the intake's SQLite stores (WAL; several stores share intake.db). `durable` makes every
 * commit reach the disk before the caller answers (dead letters, enrolled nodes).
 */
export function openSqlite(file: string, opts: { durable?: boolean; schema: string }): Database.Database {
  mkdirSync(dirname(file), { recursive: true });
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${opts.durable ? 'FULL' : 'NORMAL'}`);
  db.pragma('busy_timeout = 5000');
  db.exec(opts.schema);
  return db;
}
