/**
 * osquery TLS enrollment: a node proves the enroll secret once and gets a random node key, stored only
 * as its sha256 with the host identifier it enrolled as. The node key then authenticates its logs and
 * binds them to that host. Re-enrolling a host replaces its key.
 */
import { randomBytes } from 'node:crypto';
import type Database from 'better-sqlite3';
import { openSqlite } from './sqlite.js';
import { sha256 } from './auth.js';

export interface OsqueryNode {
  hostIdentifier: string;
  secretId: string;
  enrolledAt: string;
}

export class OsqueryNodeStore {
  private readonly db: Database.Database;

  constructor(file: string) {
    this.db = openSqlite(file, {
      durable: true,
      schema: `CREATE TABLE IF NOT EXISTS osquery_nodes (
      key_hash BLOB PRIMARY KEY,
      host_identifier TEXT NOT NULL UNIQUE,
      secret_id TEXT NOT NULL,
      enrolled_at TEXT NOT NULL,
      last_seen TEXT
    )`,
    });
  }

  enroll(hostIdentifier: string, secretId: string): string {
    const nodeKey = randomBytes(32).toString('base64url');
    this.db.transaction(() => {
      this.db.prepare('DELETE FROM osquery_nodes WHERE host_identifier = ?').run(hostIdentifier);
      this.db
        .prepare(
          'INSERT INTO osquery_nodes (key_hash, host_identifier, secret_id, enrolled_at) VALUES (?, ?, ?, ?)',
        )
        .run(sha256(nodeKey), hostIdentifier, secretId, new Date().toISOString());
    })();
    return nodeKey;
  }

  lookup(nodeKey: string): OsqueryNode | undefined {
    const r = this.db
      .prepare('SELECT host_identifier, secret_id, enrolled_at FROM osquery_nodes WHERE key_hash = ?')
      .get(sha256(nodeKey)) as
      { host_identifier: string; secret_id: string; enrolled_at: string } | undefined;
    return r
      ? { hostIdentifier: r.host_identifier, secretId: r.secret_id, enrolledAt: r.enrolled_at }
      : undefined;
  }

  count(): number {
    return (this.db.prepare('SELECT COUNT(*) AS n FROM osquery_nodes').get() as { n: number }).n;
  }

  close(): void {
    this.db.close();
  }
}
