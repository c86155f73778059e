import { deflateRawSync, deflateSync, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { contentCoding, decodeBody } from './content-encoding.js';

describe('content codings', () => {
  it.each([
    [undefined, 'identity'],
    ['', 'identity'],
    ['identity', 'identity'],
    ['gzip', 'gzip'],
    [' GZIP ', 'gzip'],
    ['x-gzip', 'gzip'],
    ['deflate', 'deflate'],
    ['identity, gzip', 'gzip'],
  ])('reads Content-Encoding %j as %s', (header, coding) => {
    expect(contentCoding(header)).toEqual({ ok: true, coding });
  });

  it.each(['br', 'zstd', 'compress', 'gzip, gzip', 'deflate, gzip'])('does not read %j', (header) => {
    const r = contentCoding(header);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.reason).toMatch(/not supported: send one of gzip, deflate/);
  });
});

describe('decodeBody', () => {
  const doc = Buffer.from('{"a":1}');

  it('inflates gzip, zlib-wrapped deflate and raw deflate', async () => {
    for (const [sent, coding] of [
      [gzipSync(doc), 'gzip'],
      [deflateSync(doc), 'deflate'],
      [deflateRawSync(doc), 'deflate'],
    ] as const) {
      const r = await decodeBody(sent, coding, 1024);
      expect(r.ok && r.body.equals(doc)).toBe(true);
    }
  });

  it('accepts exactly the limit and refuses one byte more', async () => {
    const sent = gzipSync(Buffer.alloc(1000, 'x'));
    expect((await decodeBody(sent, 'gzip', 1000)).ok).toBe(true);
    expect(await decodeBody(sent, 'gzip', 999)).toMatchObject({ ok: false, status: 413 });
  });

  it('stops inflating a zip bomb once past the limit: most of the compressed input is never read', async () => {
    const bomb = gzipSync(Buffer.alloc(50 * 1024 * 1024), { level: 9 });
    const r = await decodeBody(bomb, 'gzip', 1024 * 1024);
    expect(r).toMatchObject({ ok: false, status: 413 });
    // 1 MB of zeros is about 1/50 of the stream; inflating all of it would read every byte.
    expect(!r.ok && r.read).toBeLessThan(bomb.length / 10);
  });

  it('refuses a corrupt, truncated or empty-but-claimed stream with 400', async () => {
    const whole = gzipSync(doc);
    for (const sent of [
      Buffer.from('plain text'),
      whole.subarray(0, whole.length - 4),
      Buffer.from([0x1f]),
    ]) {
      const r = await decodeBody(sent, 'gzip', 1024);
      expect(r).toMatchObject({ ok: false, status: 400 });
      expect(!r.ok && r.issues[0]).toMatch(/^body is not valid gzip: /);
    }
  });
});
