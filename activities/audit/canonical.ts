/**
 * The canonical encoding every audit hash and signature is computed over (RFC 8785 JCS for the JSON we
 * write): UTF-8 JSON, no whitespace, object keys sorted by UTF-16 code units (Array.prototype.sort),
 * strings and numbers exactly as JSON.stringify writes them. Only plain objects, arrays, strings, finite
 * numbers, booleans and null are allowed; undefined values, NaN/Infinity, Dates, Buffers, Maps, ... are
 * refused, so what is hashed is exactly what a verifier parses back from the line.
 */
import { createHash } from 'node:crypto';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export class NotCanonical extends Error {
  override readonly name = 'NotCanonical';
}

export function canonicalJson(value: unknown): string {
  return encode(value, '$');
}

function encode(v: unknown, path: string): string {
  if (v === null) return 'null';
  switch (typeof v) {
    case 'boolean':
      return v ? 'true' : 'false';
    case 'string':
      return JSON.stringify(v);
    case 'number':
      if (!Number.isFinite(v)) throw new NotCanonical(`${path}: ${v} has no JSON encoding`);
      return JSON.stringify(v);
    case 'object': {
      if (Array.isArray(v)) return `[${v.map((x, i) => encode(x, `${path}[${i}]`)).join(',')}]`;
      const proto = Object.getPrototypeOf(v) as unknown;
      if (proto !== Object.prototype && proto !== null)
        throw new NotCanonical(`${path}: only plain objects are encoded (got ${describe(v)})`);
      const obj = v as Record<string, unknown>;
      const keys = Object.keys(obj).sort();
      return `{${keys
        .map((k) => {
          const x = obj[k];
          if (x === undefined) throw new NotCanonical(`${path}.${k}: undefined has no JSON encoding`);
          return `${JSON.stringify(k)}:${encode(x, `${path}.${k}`)}`;
        })
        .join(',')}}`;
    }
    default:
      throw new NotCanonical(`${path}: a ${typeof v} has no JSON encoding`);
  }
}

function describe(v: object): string {
  const c = (v as { constructor?: { name?: string } }).constructor;
  return c?.name ?? 'an exotic object';
}

/** Drop undefined members recursively (for payloads built from optional fields) so they can be encoded. */
export function toJson(value: unknown): Json {
  return JSON.parse(JSON.stringify(value)) as Json;
}

/** A JSON value as text: strings as they are, anything else in JSON (for messages and keys). */
export function jsonText(v: Json | undefined): string {
  return typeof v === 'string' ? v : v === undefined ? '' : JSON.stringify(v);
}

export function sha256(data: string | Uint8Array): Buffer {
  return createHash('sha256').update(data).digest();
}

export function sha256Hex(data: string | Uint8Array): string {
  return sha256(data).toString('hex');
}
