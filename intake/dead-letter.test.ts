/** The dead-letter store's off-thread durable writes against a real SQLite file. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AesGcmCodec, newCodecKey, parseCodecKeys } from '../src/codec/aes-gcm.js';
import { DeadLetterStore } from './dead-letter.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'vigil-dlq-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const letter = (i: number) => ({
  source: 'generic',
  keyId: 'k1',
  reason: 'invalid-event' as const,
  issues: [`issue ${i}`],
  contentType: 'application/json',
  body: Buffer.from(`{"n":${i}}`),
});

describe('dead-letter store', () => {
  it('stores concurrent writes through the writer thread, each with its own id and exact bytes', async () => {
    const store = new DeadLetterStore(join(dir, 'intake.db'));
    try {
      const ids = await Promise.all(Array.from({ length: 50 }, (_, i) => store.addDurably(letter(i))));
      expect(new Set(ids).size).toBe(50);
      expect(store.counts().pending).toBe(50);
      ids.forEach((id, i) => {
        const d = store.get(id);
        expect(d?.body.toString()).toBe(`{"n":${i}}`);
        expect(d?.issues).toEqual([`issue ${i}`]);
      });
      // The synchronous path and the writer thread share the file.
      const sync = store.add(letter(99));
      expect(sync).toBeGreaterThan(Math.max(...ids));
      expect(await store.addDurably(letter(100))).toBeGreaterThan(sync);
    } finally {
      store.close();
    }
  });

  it('seals bodies written off-thread with the codec key, and opens them again', async () => {
    const keys = parseCodecKeys(newCodecKey('dlk'));
    const store = new DeadLetterStore(join(dir, 'intake.db'), new AesGcmCodec(keys.active, keys.older));
    try {
      const id = await store.addDurably(letter(7));
      expect(store.get(id)?.body.toString()).toBe('{"n":7}');
      const again = new DeadLetterStore(join(dir, 'intake.db'));
      try {
        expect(() => again.get(id)).toThrow(/sealed with key dlk/);
      } finally {
        again.close();
      }
    } finally {
      store.close();
    }
  });
});
