/**
 * Compressed request bodies (`Content-Encoding: gzip` or `deflate`): osquery's TLS logger with
 * `--logger_tls_compress` gzips its log posts, and webhook senders may too. The intake keeps the bytes as
 * sent (a signature is over them) and inflates them only after authentication, stopping as soon as the
 * output passes the body limit: a small compressed body cannot make it hold more than VIGIL_BODY_LIMIT
 * bytes (a zip bomb is answered 413 after inflating about that much, not all of it).
 */
import { createGunzip, createInflate, createInflateRaw } from 'node:zlib';

export type ContentCoding = 'identity' | 'gzip' | 'deflate';

export type CodingResult = { ok: true; coding: ContentCoding } | { ok: false; reason: string };

export type Decoded =
  | { ok: true; body: Buffer }
  /** `read`: compressed bytes the inflater took in before it stopped. */
  | { ok: false; status: 400 | 413; issues: string[]; read: number };

export const ACCEPTED_CODINGS = 'gzip, deflate';
/** Output is taken in pieces of this size, so at most this much beyond the limit is ever inflated. */
const CHUNK = 64 * 1024;

/** The body's coding from a Content-Encoding header: none (identity), gzip (or x-gzip) or deflate; one at most. */
export function contentCoding(header: string | undefined): CodingResult {
  const codings = (header ?? '')
    .split(',')
    .map((c) => c.trim().toLowerCase())
    .filter((c) => c && c !== 'identity');
  const [only] = codings;
  if (only === undefined) return { ok: true, coding: 'identity' };
  if (codings.length === 1 && (only === 'gzip' || only === 'x-gzip')) return { ok: true, coding: 'gzip' };
  if (codings.length === 1 && only === 'deflate') return { ok: true, coding: 'deflate' };
  return {
    ok: false,
    reason: `Content-Encoding "${(header ?? '').slice(0, 64)}" is not supported: send one of ${ACCEPTED_CODINGS}, or an uncompressed body`,
  };
}

/**
 * The body as the sender meant it: inflated, at most `limit` bytes (413 beyond), or 400 for a stream that
 * is not valid in its coding (corrupt or truncated).
 */
export function decodeBody(body: Buffer, coding: ContentCoding, limit: number): Promise<Decoded> {
  if (coding === 'identity') return Promise.resolve({ ok: true, body });
  // HTTP's "deflate" is the zlib format (RFC 9110); some senders send raw deflate, told apart by the header.
  const [b0 = 0, b1 = 0] = body;
  const zlibHeader = (b0 & 0x0f) === 8 && ((b0 << 8) | b1) % 31 === 0;
  const z =
    coding === 'gzip'
      ? createGunzip({ chunkSize: CHUNK })
      : zlibHeader
        ? createInflate({ chunkSize: CHUNK })
        : createInflateRaw({ chunkSize: CHUNK });
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (r: Decoded) => {
      if (done) return;
      done = true;
      resolve(r);
    };
    z.on('data', (c: Buffer) => {
      if (done) return;
      size += c.length;
      if (size > limit) {
        finish({
          ok: false,
          status: 413,
          issues: [`the ${coding} body inflates to more than ${limit} bytes`],
          read: z.bytesWritten,
        });
        z.destroy();
        return;
      }
      chunks.push(c);
    });
    z.on('end', () => finish({ ok: true, body: Buffer.concat(chunks, size) }));
    z.on('error', (e) =>
      finish({
        ok: false,
        status: 400,
        issues: [`body is not valid ${coding}: ${e.message}`],
        read: z.bytesWritten,
      }),
    );
    z.end(body);
  });
}
