/**
 * Operators: the people who approve. Created by an admin (`vigil operator add`), never self-declared.
 * A token is shown once (`vop_<id>.<secret>`); only a scrypt hash of the secret is stored. Each operator
 * has a role (analyst, lead, admin) the policy reads, and may be mapped to a Slack user id.
 */
import { randomBytes, scryptSync, timingSafeEqual } from 'node:crypto';
import type Database from 'better-sqlite3';
import { openSqlite } from './sqlite.js';
import { OPERATOR_ROLES, type OperatorRole } from '../src/policy/actions.js';

export interface Operator {
  id: string;
  role: OperatorRole;
  slackUserId: string | null;
  createdAt: string;
  disabled: boolean;
}

const SCRYPT = { N: 16384, r: 8, p: 1 } as const;
const ID = /^[a-z0-9][a-z0-9._-]{0,63}$/;
/** A Slack user id: U... (workspace user) or W... (Enterprise Grid user). */
export const SLACK_USER_ID = /^[UW][A-Z0-9]{2,20}$/;

export class OperatorStore {
  private readonly db: Database.Database;

  constructor(file: string) {
    this.db = openSqlite(file, {
      durable: false,
      schema: `CREATE TABLE IF NOT EXISTS operators (
      id TEXT PRIMARY KEY, role TEXT NOT NULL, slack_user_id TEXT UNIQUE, salt BLOB NOT NULL, hash BLOB NOT NULL,
      created_at TEXT NOT NULL, disabled INTEGER NOT NULL DEFAULT 0)`,
    });
  }

  /** Create an operator (or rotate its token); returns the token, which is never stored. */
  add(id: string, role: OperatorRole, slackUserId?: string): { operator: Operator; token: string } {
    if (!ID.test(id))
      throw new Error('operator id: lowercase letters, digits, dot, dash, underscore (max 64)');
    if (!OPERATOR_ROLES.includes(role)) throw new Error(`role must be one of ${OPERATOR_ROLES.join(', ')}`);
    if (slackUserId !== undefined) this.checkSlackId(id, slackUserId);
    const secret = randomBytes(32).toString('base64url');
    const salt = randomBytes(16);
    const hash = scryptSync(secret, salt, 32, SCRYPT);
    this.db
      .prepare(
        `INSERT INTO operators (id, role, slack_user_id, salt, hash, created_at) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT(id) DO UPDATE SET role = excluded.role, slack_user_id = excluded.slack_user_id, salt = excluded.salt, hash = excluded.hash, disabled = 0`,
      )
      .run(id, role, slackUserId ?? null, salt, hash, new Date().toISOString());
    return { operator: this.get(id) as Operator, token: `vop_${id}.${secret}` };
  }

  get(id: string): Operator | undefined {
    const r = this.db
      .prepare('SELECT id, role, slack_user_id, created_at, disabled FROM operators WHERE id = ?')
      .get(id) as
      | { id: string; role: OperatorRole; slack_user_id: string | null; created_at: string; disabled: number }
      | undefined;
    return r
      ? {
          id: r.id,
          role: r.role,
          slackUserId: r.slack_user_id,
          createdAt: r.created_at,
          disabled: r.disabled === 1,
        }
      : undefined;
  }

  /**
   * Map (or, with null, unmap) an operator to a Slack user id without touching its token. One Slack user
   * maps to at most one operator: a Slack click then acts with exactly that operator's role.
   */
  linkSlack(id: string, slackUserId: string | null): Operator | undefined {
    if (slackUserId !== null) this.checkSlackId(id, slackUserId);
    const n = this.db
      .prepare('UPDATE operators SET slack_user_id = ? WHERE id = ?')
      .run(slackUserId, id).changes;
    return n > 0 ? this.get(id) : undefined;
  }

  private checkSlackId(id: string, slackUserId: string): void {
    if (!SLACK_USER_ID.test(slackUserId))
      throw new Error('slack user id: U or W followed by capital letters and digits (e.g. U012AB3CD)');
    const holder = this.bySlackUser(slackUserId);
    if (holder && holder.id !== id)
      throw new Error(`slack user ${slackUserId} is already linked to operator ${holder.id}`);
  }

  bySlackUser(slackUserId: string): Operator | undefined {
    const r = this.db.prepare('SELECT id FROM operators WHERE slack_user_id = ?').get(slackUserId) as
      { id: string } | undefined;
    return r ? this.get(r.id) : undefined;
  }

  list(): Operator[] {
    return (this.db.prepare('SELECT id FROM operators ORDER BY id').all() as { id: string }[]).map(
      (r) => this.get(r.id) as Operator,
    );
  }

  disable(id: string): boolean {
    return this.db.prepare('UPDATE operators SET disabled = 1 WHERE id = ?').run(id).changes > 0;
  }

  /** The operator a token names, if the token is right and the operator enabled. */
  authenticate(token: string): Operator | undefined {
    const m = /^vop_([a-z0-9][a-z0-9._-]{0,63})\.([A-Za-z0-9_-]{20,100})$/.exec(token);
    if (!m) return undefined;
    const row = this.db.prepare('SELECT salt, hash, disabled FROM operators WHERE id = ?').get(m[1]) as
      { salt: Buffer; hash: Buffer; disabled: number } | undefined;
    if (!row || row.disabled) return undefined;
    const h = scryptSync(m[2] ?? '', row.salt, 32, SCRYPT);
    return timingSafeEqual(h, row.hash) ? this.get(m[1] ?? '') : undefined;
  }

  close(): void {
    this.db.close();
  }
}
