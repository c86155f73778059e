/**
 * RPA bots: machine identities created by an admin (`vigil rpa bot add <name> --queues q1,q2`), never
 * self-declared. A token (`vbot_<name>.<secret>`) is shown once; only a scrypt hash of the secret is
 * stored. A bot may claim and report jobs only of the queues it was given. Bots poll, so a verified token
 * is remembered (by its sha256, in memory, for a minute) instead of paying scrypt on every request; every
 * use of a remembered token re-reads the bot's row, so a disabled bot or a rotated token (by `vigil rpa`
 * in another process, which this cache never hears of) is refused at once.
 */
import { createHash, randomBytes, scryptSync, timingSafeEqual } from 'node:crypto';
import type Database from 'better-sqlite3';
import { RPA_QUEUE_PATTERN } from '../src/contracts/rpa-queue.js';
import { openSqlite } from './sqlite.js';

export interface RpaBot {
  name: string;
  queues: string[];
  createdAt: string;
  disabled: boolean;
}

const SCRYPT = { N: 16384, r: 8, p: 1 } as const;
const NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;
const TOKEN = /^vbot_([a-z0-9][a-z0-9._-]{0,63})\.([A-Za-z0-9_-]{20,100})$/;
const CACHE_MS = 60_000;
const CACHE_MAX = 1000;

interface Row {
  name: string;
  queues: string;
  created_at: string;
  disabled: number;
  salt: Buffer;
  hash: Buffer;
}

const toBot = (r: Row): RpaBot => ({
  name: r.name,
  queues: JSON.parse(r.queues) as string[],
  createdAt: r.created_at,
  disabled: r.disabled === 1,
});

export class RpaBotStore {
  private readonly db: Database.Database;
  /** sha256(token) -> the bot and the stored hash the token was verified against */
  private readonly cache = new Map<string, { name: string; hash: Buffer; until: number }>();

  constructor(file: string) {
    this.db = openSqlite(file, {
      durable: true,
      schema: `CREATE TABLE IF NOT EXISTS rpa_bots (
      name TEXT PRIMARY KEY, queues TEXT NOT NULL, salt BLOB NOT NULL, hash BLOB NOT NULL,
      created_at TEXT NOT NULL, disabled INTEGER NOT NULL DEFAULT 0)`,
    });
  }

  /** Create a bot (or rotate its token and replace its queues); returns the token, which is never stored. */
  add(name: string, queues: string[]): { bot: RpaBot; token: string } {
    if (!NAME.test(name))
      throw new Error('bot name: lowercase letters, digits, dot, dash, underscore (max 64)');
    const qs = [...new Set(queues.map((q) => q.trim()).filter(Boolean))];
    if (!qs.length) throw new Error('queues: name at least one queue the bot may work on');
    const bad = qs.filter((q) => !RPA_QUEUE_PATTERN.test(q));
    if (bad.length)
      throw new Error(
        `queues: ${bad.map((q) => JSON.stringify(q.slice(0, 64))).join(', ')} not a queue name (a-z, 0-9, -)`,
      );
    const secret = randomBytes(32).toString('base64url');
    const salt = randomBytes(16);
    const hash = scryptSync(secret, salt, 32, SCRYPT);
    this.db
      .prepare(
        `INSERT INTO rpa_bots (name, queues, salt, hash, created_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT(name) DO UPDATE SET queues = excluded.queues, salt = excluded.salt, hash = excluded.hash, disabled = 0`,
      )
      .run(name, JSON.stringify(qs), salt, hash, new Date().toISOString());
    this.forget(name);
    return { bot: this.get(name) as RpaBot, token: `vbot_${name}.${secret}` };
  }

  get(name: string): RpaBot | undefined {
    const r = this.row(name);
    return r ? toBot(r) : undefined;
  }

  private row(name: string): Row | undefined {
    return this.db
      .prepare('SELECT name, queues, created_at, disabled, salt, hash FROM rpa_bots WHERE name = ?')
      .get(name) as Row | undefined;
  }

  list(): RpaBot[] {
    return (this.db.prepare('SELECT name FROM rpa_bots ORDER BY name').all() as { name: string }[]).map(
      (r) => this.get(r.name) as RpaBot,
    );
  }

  disable(name: string): boolean {
    this.forget(name);
    return this.db.prepare('UPDATE rpa_bots SET disabled = 1 WHERE name = ?').run(name).changes > 0;
  }

  /** Is this a well-formed token we may have seen? (Cheap; the caller rate-limits what is not.) */
  cached(token: string): RpaBot | undefined {
    const key = createHash('sha256').update(token).digest('hex');
    const hit = this.cache.get(key);
    if (!hit || hit.until <= Date.now()) return undefined;
    const row = this.row(hit.name);
    // Rotated (another secret's hash) or disabled since it was verified: not this token any more.
    if (!row || row.disabled || !row.hash.equals(hit.hash)) {
      this.cache.delete(key);
      return undefined;
    }
    return toBot(row);
  }

  /** The enabled bot a token names, if the token is right. */
  authenticate(token: string): RpaBot | undefined {
    const hit = this.cached(token);
    if (hit) return hit;
    const m = TOKEN.exec(token);
    if (!m) return undefined;
    const name = m[1] ?? '';
    const row = this.row(name);
    if (!row || row.disabled) return undefined;
    if (!timingSafeEqual(scryptSync(m[2] ?? '', row.salt, 32, SCRYPT), row.hash)) return undefined;
    if (this.cache.size >= CACHE_MAX) this.cache.clear();
    this.cache.set(createHash('sha256').update(token).digest('hex'), {
      name,
      hash: row.hash,
      until: Date.now() + CACHE_MS,
    });
    return toBot(row);
  }

  private forget(name: string): void {
    for (const [k, v] of this.cache) if (v.name === name) this.cache.delete(k);
  }

  close(): void {
    this.db.close();
  }
}
