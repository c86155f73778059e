/**
 * The agent's SQLite store (better-sqlite3, WAL). Records of actions whose effect outlives a reboot
 * (quarantine, account lock) and every effect and vault record are written with synchronous=FULL: on disk
 * before the effect they announce. The records of actions whose effect a reboot ends anyway (a stopped
 * or killed process, nftables rules, cgroup moves) are written with synchronous=NORMAL: in the WAL before
 * the effect, so they survive the agent's own crash (kill -9), which is what a retry must reconcile; an
 * operating-system crash may lose the newest of them together with the effects they describe, and a retry
 * then checks the host afresh (a reused pid is refused by its start time). That saves an fsync per write
 * on the automated path. Three tables:
 * - `actions`: one row per idempotency key, `started` -> `done` (with the answer). A `started` row left by
 *   a crash is reconciled on retry by checking the action's post-condition.
 * - `effects`: the facts an undo needs (original cgroups, previous account expiry, ...), one active row
 *   per subject (`block:<pid>@<start>`, `account:<name>`, `host`).
 * - `vault`: every quarantined file with its origin, sha256, owner, mode and times.
 */
import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { ResponseResult } from '../../../src/contracts/response.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS actions (
  key         TEXT PRIMARY KEY,
  fingerprint TEXT NOT NULL,
  action      TEXT NOT NULL,
  op          TEXT NOT NULL,
  state       TEXT NOT NULL CHECK (state IN ('started', 'done')),
  journal     TEXT NOT NULL DEFAULT '{}',
  result      TEXT,
  started_at  TEXT NOT NULL,
  done_at     TEXT
);
CREATE TABLE IF NOT EXISTS effects (
  subject   TEXT NOT NULL,
  action    TEXT NOT NULL,
  key       TEXT NOT NULL,
  state     TEXT NOT NULL CHECK (state IN ('active', 'undone')),
  facts     TEXT NOT NULL,
  at        TEXT NOT NULL,
  undone_at TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS effects_active ON effects(subject) WHERE state = 'active';
CREATE TABLE IF NOT EXISTS vault (
  id             TEXT PRIMARY KEY,
  origin         TEXT NOT NULL,
  sha256         TEXT NOT NULL,
  size           INTEGER NOT NULL,
  uid            INTEGER NOT NULL,
  gid            INTEGER NOT NULL,
  mode           INTEGER NOT NULL,
  mtime_ns       TEXT NOT NULL,
  atime_ns       TEXT NOT NULL,
  key            TEXT NOT NULL,
  state          TEXT NOT NULL CHECK (state IN ('quarantined', 'restored')),
  quarantined_at TEXT NOT NULL,
  restored_at    TEXT
);
CREATE INDEX IF NOT EXISTS vault_origin ON vault(origin, state);
`;

export interface ActionRecord {
  key: string;
  fingerprint: string;
  action: string;
  op: string;
  state: 'started' | 'done';
  journal: Record<string, unknown>;
  result?: ResponseResult;
}

export interface VaultRecord {
  id: string;
  origin: string;
  sha256: string;
  size: number;
  uid: number;
  gid: number;
  mode: number;
  mtimeNs: string;
  atimeNs: string;
  key: string;
  state: 'quarantined' | 'restored';
  quarantinedAt: string;
}

interface ActionRow {
  key: string;
  fingerprint: string;
  action: string;
  op: string;
  state: 'started' | 'done';
  journal: string;
  result: string | null;
}

interface VaultRow {
  id: string;
  origin: string;
  sha256: string;
  size: number;
  uid: number;
  gid: number;
  mode: number;
  mtime_ns: string;
  atime_ns: string;
  key: string;
  state: 'quarantined' | 'restored';
  quarantined_at: string;
}

/** Same action, op and parameters <=> same fingerprint (key order does not matter). */
export function fingerprint(action: string, op: string, params: unknown): string {
  return createHash('sha256')
    .update(JSON.stringify([action, op, canonical(params)]))
    .digest('hex');
}

function canonical(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canonical);
  if (v && typeof v === 'object') {
    return Object.fromEntries(
      Object.keys(v)
        .sort()
        .map((k) => [k, canonical((v as Record<string, unknown>)[k])]),
    );
  }
  return v;
}

export type ResponderStore = ReturnType<typeof openResponderStore>;

export function openResponderStore(file: string) {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.pragma('busy_timeout = 5000');
  db.exec(SCHEMA);

  const getAction = db.prepare<[string], ActionRow>('SELECT * FROM actions WHERE key = ?');
  const insert = db.prepare(
    `INSERT INTO actions (key, fingerprint, action, op, state, started_at) VALUES (?, ?, ?, ?, 'started', ?)`,
  );
  const setJournal = db.prepare(`UPDATE actions SET journal = ? WHERE key = ? AND state = 'started'`);
  const setDone = db.prepare(`UPDATE actions SET state = 'done', result = ?, done_at = ? WHERE key = ?`);
  const forget = db.prepare(`DELETE FROM actions WHERE key = ? AND state = 'started'`);
  // The connection stays at FULL; a write for an action whose effect a reboot ends runs at NORMAL. All of
  // it is synchronous (better-sqlite3), so no other write can run between the switch and its restore.
  const synced = <T>(durable: boolean, write: () => T): T => {
    if (durable) return write();
    db.pragma('synchronous = NORMAL');
    try {
      return write();
    } finally {
      db.pragma('synchronous = FULL');
    }
  };
  const toRecord = (r: ActionRow): ActionRecord => ({
    key: r.key,
    fingerprint: r.fingerprint,
    action: r.action,
    op: r.op,
    state: r.state,
    journal: JSON.parse(r.journal) as Record<string, unknown>,
    ...(r.result ? { result: JSON.parse(r.result) as ResponseResult } : {}),
  });
  const toVault = (r: VaultRow): VaultRecord => ({
    id: r.id,
    origin: r.origin,
    sha256: r.sha256,
    size: r.size,
    uid: r.uid,
    gid: r.gid,
    mode: r.mode,
    mtimeNs: r.mtime_ns,
    atimeNs: r.atime_ns,
    key: r.key,
    state: r.state,
    quarantinedAt: r.quarantined_at,
  });

  return {
    db,
    getAction(key: string): ActionRecord | undefined {
      const r = getAction.get(key);
      return r ? toRecord(r) : undefined;
    },
    /**
     * Insert a `started` row; returns the existing row instead when the key is known. `durable`: the
     * action's effect outlives a reboot (synchronous=FULL for this row's writes, see above).
     */
    begin(key: string, fp: string, action: string, op: string, durable = true): { existing?: ActionRecord } {
      return synced(durable, () =>
        db.transaction(() => {
          const r = getAction.get(key);
          if (r) return { existing: toRecord(r) };
          insert.run(key, fp, action, op, new Date().toISOString());
          return {};
        })(),
      );
    },
    /** Persist facts about an effect in progress (before the irreversible step). */
    journal(key: string, facts: Record<string, unknown>, durable = true): void {
      const r = getAction.get(key);
      const merged = { ...(r ? (JSON.parse(r.journal) as Record<string, unknown>) : {}), ...facts };
      synced(durable, () => setJournal.run(JSON.stringify(merged), key));
    },
    finish(key: string, result: ResponseResult, durable = true): void {
      synced(durable, () => setDone.run(JSON.stringify(result), new Date().toISOString(), key));
    },
    /** Forget a `started` row whose action refused before doing anything (a later retry starts afresh). */
    abandon(key: string, durable = true): void {
      synced(durable, () => forget.run(key));
    },

    activeEffect(
      subject: string,
    ): { key: string; action: string; facts: Record<string, unknown> } | undefined {
      const r = db
        .prepare<[string], { key: string; action: string; facts: string }>(
          `SELECT key, action, facts FROM effects WHERE subject = ? AND state = 'active'`,
        )
        .get(subject);
      return r
        ? { key: r.key, action: r.action, facts: JSON.parse(r.facts) as Record<string, unknown> }
        : undefined;
    },
    /** Record (or extend) the active effect on `subject`. */
    putEffect(subject: string, action: string, key: string, facts: Record<string, unknown>): void {
      db.transaction(() => {
        const cur = db
          .prepare<[string], { facts: string }>(
            `SELECT facts FROM effects WHERE subject = ? AND state = 'active'`,
          )
          .get(subject);
        if (cur) {
          const merged = { ...(JSON.parse(cur.facts) as Record<string, unknown>), ...facts };
          db.prepare(`UPDATE effects SET facts = ? WHERE subject = ? AND state = 'active'`).run(
            JSON.stringify(merged),
            subject,
          );
        } else {
          db.prepare(
            `INSERT INTO effects (subject, action, key, state, facts, at) VALUES (?, ?, ?, 'active', ?, ?)`,
          ).run(subject, action, key, JSON.stringify(facts), new Date().toISOString());
        }
      })();
    },
    endEffect(subject: string): void {
      db.prepare(
        `UPDATE effects SET state = 'undone', undone_at = ? WHERE subject = ? AND state = 'active'`,
      ).run(new Date().toISOString(), subject);
    },

    putVault(v: Omit<VaultRecord, 'state' | 'quarantinedAt'>): void {
      db.prepare(
        `INSERT OR REPLACE INTO vault (id, origin, sha256, size, uid, gid, mode, mtime_ns, atime_ns, key, state, quarantined_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'quarantined', ?)`,
      ).run(
        v.id,
        v.origin,
        v.sha256,
        v.size,
        v.uid,
        v.gid,
        v.mode,
        v.mtimeNs,
        v.atimeNs,
        v.key,
        new Date().toISOString(),
      );
    },
    vault(id: string): VaultRecord | undefined {
      const r = db.prepare<[string], VaultRow>('SELECT * FROM vault WHERE id = ?').get(id);
      return r ? toVault(r) : undefined;
    },
    /** The latest file still quarantined from `origin`. */
    quarantinedFrom(origin: string): VaultRecord | undefined {
      const r = db
        .prepare<[string], VaultRow>(
          `SELECT * FROM vault WHERE origin = ? AND state = 'quarantined' ORDER BY quarantined_at DESC, rowid DESC LIMIT 1`,
        )
        .get(origin);
      return r ? toVault(r) : undefined;
    },
    markRestored(id: string): void {
      db.prepare(`UPDATE vault SET state = 'restored', restored_at = ? WHERE id = ?`).run(
        new Date().toISOString(),
        id,
      );
    },
    close(): void {
      db.close();
    },
  };
}
