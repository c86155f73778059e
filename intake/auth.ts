/**
 * Who is posting: a principal authenticated by an HMAC signature (VIGIL_INTAKE_KEYS), by a static token
 * (VIGIL_INTAKE_TOKENS; `Authorization: Bearer`, `X-Api-Key` or `X-Vigil-Token`, as Falcosidekick's
 * custom headers send it), or by an osquery node key. Every principal is bound to sources and hosts.
 */
import { createHash, createSecretKey, timingSafeEqual } from 'node:crypto';
import { HEADER_KEY_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP, verify } from '../src/signing.js';
import type { IntakeKey, IntakeToken } from './config.js';

export interface Principal {
  /** The credential's id: names the sender in metrics, rate limits and dead letters. */
  id: string;
  method: 'hmac' | 'token' | 'osquery-node';
  sources: readonly string[];
  hosts: HostMatcher;
}

export type AuthResult = { ok: true; principal: Principal } | { ok: false; reason: string };

export interface HostMatcher {
  readonly patterns: readonly string[];
  allows(host: string): boolean;
}

/** Exact host ids, or patterns with `*` (e.g. `web-*`); `*` alone allows any host. */
export function hostMatcher(patterns: readonly string[]): HostMatcher {
  const any = patterns.includes('*');
  const exact = new Set(patterns.filter((p) => !p.includes('*')).map((p) => p.toLowerCase()));
  const globs = patterns
    .filter((p) => p.includes('*') && p !== '*')
    .map(
      (p) =>
        new RegExp(
          `^${p
            .toLowerCase()
            .split('*')
            .map((x) => x.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
            .join('.*')}$`,
        ),
    );
  return {
    patterns,
    allows: (host) => any || exact.has(host.toLowerCase()) || globs.some((g) => g.test(host.toLowerCase())),
  };
}

export function sourceAllowed(p: Principal, source: string): boolean {
  return p.sources.includes('*') || p.sources.includes(source);
}

export const sha256 = (s: string | Buffer) => createHash('sha256').update(s).digest();

type Headers = Record<string, string | string[] | undefined>;
const first = (h: Headers, name: string) => {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
};

export function createAuthenticator(
  keys: readonly IntakeKey[],
  tokens: readonly IntakeToken[],
  windowSeconds: number,
) {
  const byId = new Map(
    keys.map((k) => [
      k.id,
      {
        key: k,
        // Imported once: HMAC with a KeyObject skips the per-request key import.
        secret: createSecretKey(Buffer.from(k.secret, 'utf8')),
        principal: { id: k.id, method: 'hmac' as const, sources: k.sources, hosts: hostMatcher(k.hosts) },
      },
    ]),
  );
  const tokenPrincipals = tokens.map((t) => ({
    hash: Buffer.from(t.sha256, 'hex'),
    principal: { id: t.id, method: 'token' as const, sources: t.sources, hosts: hostMatcher(t.hosts) },
  }));

  return function authenticate(headers: Headers, method: string, url: string, body: Buffer): AuthResult {
    const keyId = first(headers, HEADER_KEY_ID);
    if (keyId !== undefined || first(headers, HEADER_SIGNATURE) !== undefined) {
      const k = keyId ? byId.get(keyId) : undefined;
      if (!k) return { ok: false, reason: keyId ? 'unknown key id' : `missing ${HEADER_KEY_ID} header` };
      const v = verify(
        k.secret,
        { timestamp: first(headers, HEADER_TIMESTAMP), signature: first(headers, HEADER_SIGNATURE) },
        method,
        url,
        body,
        windowSeconds,
      );
      return v.ok ? { ok: true, principal: k.principal } : { ok: false, reason: v.reason };
    }
    const auth = first(headers, 'authorization');
    const token = auth?.startsWith('Bearer ')
      ? auth.slice(7).trim()
      : (first(headers, 'x-api-key') ?? first(headers, 'x-vigil-token'));
    if (token) {
      const h = sha256(token);
      // Compare against every token (constant time each) so timing does not tell which ids exist.
      let found: Principal | undefined;
      for (const t of tokenPrincipals) if (timingSafeEqual(h, t.hash)) found = t.principal;
      return found ? { ok: true, principal: found } : { ok: false, reason: 'unknown token' };
    }
    return {
      ok: false,
      reason: `no credentials: sign the request (${HEADER_KEY_ID}, ${HEADER_TIMESTAMP}, ${HEADER_SIGNATURE}) or send a token`,
    };
  };
}
export type Authenticate = ReturnType<typeof createAuthenticator>;
