import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RpaBotStore } from './rpa-bots.js';

let dir: string;
let store: RpaBotStore;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'vigil-bots-'));
  store = new RpaBotStore(join(dir, 'intake.db'));
});
afterEach(() => {
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('RPA bot credentials', () => {
  it('authenticates a bot by the token shown once, and stores only a hash', () => {
    const { bot, token } = store.add('evidence-bot', ['evidence', 'evidence', 'forensics']);
    expect(bot.queues).toEqual(['evidence', 'forensics']);
    expect(token).toMatch(/^vbot_evidence-bot\./);
    expect(store.authenticate(token)?.name).toBe('evidence-bot');
    store.close();
    const secret = token.split('.')[1] as string;
    const files = readdirSync(dir).filter((f) => f.startsWith('intake.db'));
    expect(files).toContain('intake.db');
    for (const f of files) expect(readFileSync(join(dir, f)).includes(Buffer.from(secret))).toBe(false);
    store = new RpaBotStore(join(dir, 'intake.db'));
  });

  it('refuses a wrong secret, another bot name and a malformed token', () => {
    const { token } = store.add('a-bot', ['q1']);
    store.add('b-bot', ['q1']);
    const secret = token.split('.')[1] as string;
    expect(store.authenticate(`vbot_a-bot.${secret.slice(0, -2)}xx`)).toBeUndefined();
    expect(store.authenticate(`vbot_b-bot.${secret}`)).toBeUndefined();
    expect(store.authenticate(secret)).toBeUndefined();
    expect(store.authenticate('')).toBeUndefined();
  });

  it('refuses a disabled bot at once, and a rotated token replaces the old one', () => {
    const { token } = store.add('a-bot', ['q1']);
    expect(store.authenticate(token)).toBeDefined();
    expect(store.disable('a-bot')).toBe(true);
    expect(store.authenticate(token)).toBeUndefined();
    const rotated = store.add('a-bot', ['q2']);
    expect(store.authenticate(token)).toBeUndefined();
    expect(store.authenticate(rotated.token)?.queues).toEqual(['q2']);
  });

  it('refuses a token rotated or a bot disabled by another process at once, though it was remembered', () => {
    // The intake's store remembers a verified token; the CLI (another process, its own store) rotates it.
    const { token: old } = store.add('evidence-bot', ['evidence']);
    expect(store.authenticate(old)?.name).toBe('evidence-bot');
    expect(store.cached(old)?.name).toBe('evidence-bot');
    const cli = new RpaBotStore(join(dir, 'intake.db'));
    try {
      const { token: fresh } = cli.add('evidence-bot', ['evidence']);
      expect(store.cached(old)).toBeUndefined();
      expect(store.authenticate(old)).toBeUndefined();
      expect(store.authenticate(fresh)?.name).toBe('evidence-bot');
      cli.disable('evidence-bot');
      expect(store.cached(fresh)).toBeUndefined();
      expect(store.authenticate(fresh)).toBeUndefined();
    } finally {
      cli.close();
    }
  });

  it('refuses bad bot and queue names, and a bot without queues', () => {
    expect(() => store.add('Bad Name', ['q'])).toThrow(/bot name/);
    expect(() => store.add('ok', [])).toThrow(/at least one queue/);
    expect(() => store.add('ok', ['*'])).toThrow(/not a queue name/);
  });
});
