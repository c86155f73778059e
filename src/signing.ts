/**
 * The intake's request signature (documented in the README for other senders):
 *   X-Vigil-Key-Id:    the key's id
 *   X-Vigil-Timestamp: unix seconds when the request was signed
 *   X-Vigil-Signature: v1=<hex HMAC-SHA256(secret, "v1:" + timestamp + ":" + METHOD + ":" + path + ":" + body)>
 * The path (with any query string) is signed so a request for one source cannot be replayed to another;
 * the timestamp must be within the replay window in both directions. The body is the bytes as sent: a
 * compressed body (Content-Encoding) is signed compressed, as GitHub and Slack sign theirs, and checked
 * before it is inflated.
 */
import { createHmac, timingSafeEqual, type KeyObject } from 'node:crypto';

export const SIGNATURE_VERSION = 'v1';
export const HEADER_KEY_ID = 'x-vigil-key-id';
export const HEADER_TIMESTAMP = 'x-vigil-timestamp';
export const HEADER_SIGNATURE = 'x-vigil-signature';

export function signatureBase(
  timestamp: string,
  method: string,
  path: string,
  body: Buffer | string,
): Buffer {
  return Buffer.concat([
    Buffer.from(`${SIGNATURE_VERSION}:${timestamp}:${method.toUpperCase()}:${path}:`),
    Buffer.from(body),
  ]);
}

/** `secret` may be a KeyObject made once (createSecretKey) so a verifier does not import the key per request. */
export function sign(
  secret: string | KeyObject,
  timestamp: string,
  method: string,
  path: string,
  body: Buffer | string,
): string {
  // The same bytes as signatureBase(), fed in two parts so the body is not copied.
  return `${SIGNATURE_VERSION}=${createHmac('sha256', secret)
    .update(`${SIGNATURE_VERSION}:${timestamp}:${method.toUpperCase()}:${path}:`)
    .update(body)
    .digest('hex')}`;
}

export function signedHeaders(
  key: { id: string; secret: string },
  method: string,
  path: string,
  body: Buffer | string,
  nowMs = Date.now(),
): Record<string, string> {
  const ts = String(Math.floor(nowMs / 1000));
  return {
    [HEADER_KEY_ID]: key.id,
    [HEADER_TIMESTAMP]: ts,
    [HEADER_SIGNATURE]: sign(key.secret, ts, method, path, body),
  };
}

export type VerifyResult = { ok: true } | { ok: false; reason: string };

/** Constant-time check of a signature, with the replay window applied to the timestamp. */
export function verify(
  secret: string | KeyObject,
  headers: { timestamp?: string; signature?: string },
  method: string,
  path: string,
  body: Buffer,
  windowSeconds: number,
  nowMs = Date.now(),
): VerifyResult {
  const { timestamp, signature } = headers;
  if (!timestamp || !/^\d{1,12}$/.test(timestamp))
    return { ok: false, reason: 'missing or malformed timestamp' };
  const skew = Math.abs(nowMs / 1000 - Number(timestamp));
  if (skew > windowSeconds) return { ok: false, reason: `timestamp outside the ${windowSeconds}s window` };
  if (!signature || !signature.startsWith(`${SIGNATURE_VERSION}=`))
    return { ok: false, reason: 'missing or malformed signature' };
  const expected = Buffer.from(sign(secret, timestamp, method, path, body));
  const given = Buffer.from(signature);
  if (expected.length !== given.length || !timingSafeEqual(expected, given))
    return { ok: false, reason: 'signature mismatch' };
  return { ok: true };
}
