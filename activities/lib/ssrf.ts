/**
 * The outbound URL guard every connector uses (ticketing, webhooks, ...): a destination is refused when it is
 * internal, unless the operator allowed it. "Internal" covers private, shared (CGNAT), loopback, link-local
 * (cloud metadata 169.254.169.254), unspecified, multicast, reserved and documentation ranges, IPv6 ULA and
 * link/site-local, and IPv6 forms that embed an IPv4 address (mapped, compatible, NAT64, 6to4). Odd IPv4
 * spellings (2130706433, 0x7f.1, 0177.0.0.1) are normalized before the check.
 *
 * Names are checked where they are resolved: the HTTP agents get a `lookup` hook that resolves the name,
 * checks EVERY address, and hands exactly the checked addresses to the socket, so a DNS answer cannot change
 * between the check and the connect (DNS rebinding). IP literals never reach `lookup`, so they are checked
 * before the request. Redirects are not followed unless asked; when they are, every hop goes through the same
 * checks. Environment proxies are ignored (a proxy would make the socket's peer the proxy, not the target).
 */
import { lookup as dnsLookup } from 'node:dns/promises';
import http from 'node:http';
import https from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { ApplicationFailure } from '@temporalio/common';
import axios, { AxiosError, type AxiosInstance, type AxiosResponseHeaders } from 'axios';
import { z } from 'zod';
import { Bool, CsvList, type Env, parseEnv } from '../../src/config.js';
import { ErrorType } from '../../src/errors.js';
import { failure, httpFailure } from './failures.js';

export type ResolvedAddress = { address: string; family: 4 | 6 };
/** Name -> addresses. Injectable so tests can resolve names without DNS. */
export type Resolver = (hostname: string) => Promise<ResolvedAddress[]>;

export interface OutboundPolicy {
  /** Allow private, shared, loopback and ULA destinations (an on-premises ticketing server). Link-local
   * (cloud metadata), unspecified, multicast and reserved addresses still need an explicit CIDR in `allow`. */
  allowInternal?: boolean;
  /** Host names (`tickets.corp.example`, `*.corp.example`) and IPs/CIDRs (`10.1.2.0/24`, `fd00::/8`) that
   * may be reached even though they are internal. */
  allow?: readonly string[];
  resolver?: Resolver;
}

/** Why a destination was refused. Thrown by the guard; connectors turn it into a Forbidden failure. */
export class DestinationRefused extends Error {
  override readonly name = 'DestinationRefused';
  readonly code = 'EVIGIL_DESTINATION_REFUSED';
  constructor(
    readonly host: string,
    readonly reason: string,
  ) {
    super(`destination ${host} refused: ${reason}`);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Address parsing

/** IPv4 in any spelling inet_aton accepts (1-4 parts; decimal, 0-octal, 0x-hex) -> 32-bit number, or null. */
export function parseIPv4(s: string): number | null {
  const parts = s.split('.');
  if (parts.length < 1 || parts.length > 4) return null;
  const nums: number[] = [];
  for (const p of parts) {
    let n: number;
    if (/^0x[0-9a-f]*$/i.test(p)) n = p.length === 2 ? 0 : parseInt(p.slice(2), 16);
    else if (/^0[0-7]+$/.test(p)) n = parseInt(p.slice(1), 8);
    else if (/^(0|[1-9][0-9]*)$/.test(p)) n = Number(p);
    else return null;
    if (!Number.isFinite(n)) return null;
    nums.push(n);
  }
  const last = nums.pop() ?? 0;
  if (nums.some((n) => n > 255) || last >= 2 ** (8 * (4 - nums.length))) return null;
  return nums.reduce((acc, n, i) => acc + n * 2 ** (8 * (3 - i)), 0) + last;
}

/** IPv6 text (brackets and a zone id allowed, embedded dotted IPv4 allowed) -> 128-bit bigint, or null. */
export function parseIPv6(input: string): bigint | null {
  let s = input.startsWith('[') && input.endsWith(']') ? input.slice(1, -1) : input;
  const zone = s.indexOf('%');
  if (zone >= 0) s = s.slice(0, zone);
  if (!s.includes(':')) return null;
  const halves = s.split('::');
  if (halves.length > 2) return null;
  const groups = (h: string | undefined): number[] | null => {
    if (!h) return [];
    const out: number[] = [];
    const items = h.split(':');
    for (const [i, g] of items.entries()) {
      if (i === items.length - 1 && g.includes('.')) {
        if (!/^\d+\.\d+\.\d+\.\d+$/.test(g)) return null;
        const v4 = parseIPv4(g);
        if (v4 === null) return null;
        out.push(Math.floor(v4 / 65536), v4 % 65536);
      } else if (/^[0-9a-f]{1,4}$/i.test(g)) out.push(parseInt(g, 16));
      else return null;
    }
    return out;
  };
  const head = groups(halves[0]);
  const tail = groups(halves[1]);
  if (!head || !tail) return null;
  const fill = 8 - head.length - tail.length;
  if (halves.length === 2 ? fill < 1 : fill !== 0) return null;
  const all = [...head, ...Array<number>(halves.length === 2 ? fill : 0).fill(0), ...tail];
  return all.reduce((acc, g) => (acc << 16n) | BigInt(g), 0n);
}

type Ip = { v: 4; n: number } | { v: 6; n: bigint };

/** Parse a host that is an IP literal in any spelling; null for a name. */
export function parseIp(host: string): Ip | null {
  const h = host.replace(/\.$/, '');
  if (h.includes(':') || h.startsWith('[')) {
    const n = parseIPv6(h);
    return n === null ? null : { v: 6, n };
  }
  // A name whose labels are all numbers/hex is an IPv4 spelling (WHATWG does the same).
  const n = parseIPv4(h);
  return n === null ? null : { v: 4, n };
}

// ---------------------------------------------------------------------------------------------------------
// Classification

/** `internal` classes may be opened by allowInternal; the others only by an explicit CIDR. */
type Category = 'internal' | 'special';
type Range4 = [base: number, prefix: number, reason: string, cat: Category];
type Range6 = [base: bigint, prefix: number, reason: string, cat: Category];

const v4 = (s: string) => parseIPv4(s) ?? 0;
const v6 = (s: string) => parseIPv6(s) ?? 0n;

// IANA IPv4 Special-Purpose Address Registry (RFC 6890 and updates), plus multicast and reserved.
const RANGES4: Range4[] = [
  [v4('0.0.0.0'), 8, 'unspecified / "this network" (0.0.0.0/8)', 'special'],
  [v4('10.0.0.0'), 8, 'private (10.0.0.0/8)', 'internal'],
  [v4('100.64.0.0'), 10, 'shared address space (100.64.0.0/10)', 'internal'],
  [v4('127.0.0.0'), 8, 'loopback (127.0.0.0/8)', 'internal'],
  [v4('169.254.0.0'), 16, 'link-local / cloud metadata (169.254.0.0/16)', 'special'],
  [v4('172.16.0.0'), 12, 'private (172.16.0.0/12)', 'internal'],
  [v4('192.0.0.0'), 24, 'IETF protocol assignments (192.0.0.0/24)', 'special'],
  [v4('192.0.2.0'), 24, 'documentation (192.0.2.0/24)', 'special'],
  [v4('192.88.99.0'), 24, '6to4 relay anycast (192.88.99.0/24)', 'special'],
  [v4('192.168.0.0'), 16, 'private (192.168.0.0/16)', 'internal'],
  [v4('198.18.0.0'), 15, 'benchmarking (198.18.0.0/15)', 'special'],
  [v4('198.51.100.0'), 24, 'documentation (198.51.100.0/24)', 'special'],
  [v4('203.0.113.0'), 24, 'documentation (203.0.113.0/24)', 'special'],
  [v4('224.0.0.0'), 4, 'multicast (224.0.0.0/4)', 'special'],
  [v4('240.0.0.0'), 4, 'reserved / broadcast (240.0.0.0/4)', 'special'],
];

const RANGES6: Range6[] = [
  [v6('64:ff9b:1::'), 48, 'local-use NAT64 (64:ff9b:1::/48)', 'internal'],
  [v6('100::'), 64, 'discard-only (100::/64)', 'special'],
  [v6('2001::'), 23, 'IETF protocol assignments incl. Teredo (2001::/23)', 'special'],
  [v6('2001:db8::'), 32, 'documentation (2001:db8::/32)', 'special'],
  [v6('fc00::'), 7, 'unique local (fc00::/7)', 'internal'],
  [v6('fe80::'), 10, 'link-local (fe80::/10)', 'special'],
  [v6('fec0::'), 10, 'site-local (fec0::/10)', 'internal'],
  [v6('ff00::'), 8, 'multicast (ff00::/8)', 'special'],
];

const in4 = (n: number, base: number, prefix: number) =>
  prefix === 0 || n >>> (32 - prefix) === base >>> (32 - prefix);
const in6 = (n: bigint, base: bigint, prefix: number) =>
  prefix === 0 || n >> BigInt(128 - prefix) === base >> BigInt(128 - prefix);

export interface Classification {
  reason: string;
  category: Category;
}

/** Why an address is not a public destination, or null when it is one. */
export function classifyIp(ip: Ip): Classification | null {
  if (ip.v === 4) {
    const r = RANGES4.find(([b, p]) => in4(ip.n, b, p));
    return r ? { reason: r[2], category: r[3] } : null;
  }
  const n = ip.n;
  if (n === 0n) return { reason: 'unspecified (::)', category: 'special' };
  if (n === 1n) return { reason: 'loopback (::1)', category: 'internal' };
  const embedded = (prefix: string, low: bigint): Classification | null => {
    const inner = classifyIp({ v: 4, n: Number(low & 0xffffffffn) });
    return inner ? { reason: `${prefix} of ${inner.reason}`, category: inner.category } : null;
  };
  if (n >> 32n === 0xffffn) return embedded('IPv4-mapped IPv6', n);
  if (n >> 32n === 0n) return { reason: 'IPv4-compatible IPv6 (deprecated, ::/96)', category: 'special' };
  if (n >> 32n === v6('64:ff9b::') >> 32n) return embedded('NAT64 (64:ff9b::/96)', n);
  if (n >> 112n === 0x2002n) return embedded('6to4 (2002::/16)', n >> 80n);
  const r = RANGES6.find(([b, p]) => in6(n, b, p));
  if (r) return { reason: r[2], category: r[3] };
  return n >> 120n === 0n ? { reason: 'reserved (::/8)', category: 'special' } : null;
}

// ---------------------------------------------------------------------------------------------------------
// Policy

type Cidr = { v: 4; base: number; prefix: number } | { v: 6; base: bigint; prefix: number };

function parseCidr(entry: string): Cidr | null {
  const [addr = '', bits, ...rest] = entry.split('/');
  if (rest.length) return null;
  // Only canonical literals here: an allowlist entry must mean exactly what it says.
  if (isIP(addr) === 4) {
    const prefix = bits === undefined ? 32 : Number(bits);
    if (!Number.isInteger(prefix) || prefix < 0 || prefix > 32) return null;
    return { v: 4, base: parseIPv4(addr) ?? 0, prefix };
  }
  if (isIP(addr) === 6) {
    const prefix = bits === undefined ? 128 : Number(bits);
    if (!Number.isInteger(prefix) || prefix < 0 || prefix > 128) return null;
    return { v: 6, base: parseIPv6(addr) ?? 0n, prefix };
  }
  return null;
}

const HOST_RE = /^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

/** Check allowlist entries; returns the bad ones (for a ConfigError). */
export function invalidAllowEntries(entries: readonly string[]): string[] {
  return entries.filter((e) => !parseCidr(e) && !HOST_RE.test(e.toLowerCase().replace(/\.$/, '')));
}

export class OutboundGuard {
  private readonly cidrs: Cidr[] = [];
  private readonly hosts = new Set<string>();
  private readonly suffixes: string[] = [];
  readonly resolver: Resolver;

  constructor(readonly policy: OutboundPolicy = {}) {
    const bad = invalidAllowEntries(policy.allow ?? []);
    if (bad.length) throw new Error(`invalid outbound allowlist entries: ${bad.join(', ')}`);
    for (const e of policy.allow ?? []) {
      const c = parseCidr(e);
      if (c) this.cidrs.push(c);
      else {
        const h = e.toLowerCase().replace(/\.$/, '');
        if (h.startsWith('*.')) this.suffixes.push(h.slice(1));
        else this.hosts.add(h);
      }
    }
    this.resolver = policy.resolver ?? defaultResolver;
  }

  private hostAllowed(host: string): boolean {
    const h = host.toLowerCase().replace(/\.$/, '');
    return this.hosts.has(h) || this.suffixes.some((s) => h.endsWith(s));
  }

  private cidrAllowed(ip: Ip): boolean {
    // An IPv4-mapped address is the IPv4 address for the allowlist as well.
    const mapped = ip.v === 6 && ip.n >> 32n === 0xffffn ? Number(ip.n & 0xffffffffn) : undefined;
    return this.cidrs.some((c) =>
      c.v === 4
        ? (ip.v === 4 && in4(ip.n, c.base, c.prefix)) ||
          (mapped !== undefined && in4(mapped, c.base, c.prefix))
        : ip.v === 6 && in6(ip.n, c.base, c.prefix),
    );
  }

  /** Throw DestinationRefused unless `address` (what `host` resolved to, or the literal) may be reached. */
  checkAddress(host: string, address: string): void {
    const ip = parseIp(address);
    if (!ip) throw new DestinationRefused(host, `"${address}" is not an IP address`);
    if (this.cidrAllowed(ip)) return;
    const c = classifyIp(ip);
    if (!c) return;
    if (c.category === 'internal' && (this.policy.allowInternal || this.hostAllowed(host))) return;
    const hint =
      c.category === 'internal'
        ? 'add the host or its CIDR to VIGIL_OUTBOUND_ALLOW, or set VIGIL_OUTBOUND_ALLOW_INTERNAL=true'
        : 'only an explicit CIDR in VIGIL_OUTBOUND_ALLOW opens this range';
    throw new DestinationRefused(host, `${address} is ${c.reason}; ${hint}`);
  }

  /** Check what can be checked before connecting: scheme, credentials in the URL, IP literals. */
  checkUrl(raw: string | URL): URL {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw new DestinationRefused(String(raw).slice(0, 200), 'not a valid absolute URL');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
      throw new DestinationRefused(url.host || url.protocol, `scheme ${url.protocol} is not http(s)`);
    if (url.username || url.password)
      throw new DestinationRefused(url.host, 'credentials in the URL are not allowed');
    const host = url.hostname;
    const ip = parseIp(host);
    if (ip) this.checkAddress(host, host.replace(/^\[|\]$/g, ''));
    return url;
  }

  /** Resolve a name and check every address it has (for callers that connect by themselves). */
  async resolve(host: string): Promise<ResolvedAddress[]> {
    const bare = host.replace(/^\[|\]$/g, '');
    if (isIP(bare)) {
      this.checkAddress(host, bare);
      return [{ address: bare, family: isIP(bare) as 4 | 6 }];
    }
    const addrs = await this.resolver(host);
    if (addrs.length === 0) throw Object.assign(new Error(`${host} has no address`), { code: 'ENOTFOUND' });
    for (const a of addrs) this.checkAddress(host, a.address);
    return addrs;
  }

  /** A `lookup` for net/http agents: the socket connects only to addresses this guard checked. */
  lookup(): LookupFunction {
    return (hostname, options, callback) => {
      this.resolve(hostname).then(
        (all) => {
          const fam = options.family === 4 || options.family === 6 ? options.family : 0;
          const list = fam ? all.filter((a) => a.family === fam) : all;
          const first = list[0];
          if (!first) {
            const err = Object.assign(new Error(`${hostname} has no IPv${fam} address`), {
              code: 'ENOTFOUND',
            });
            callback(err, '', 0);
          } else if (options.all) callback(null, list);
          else callback(null, first.address, first.family);
        },
        (e: unknown) => callback(e as NodeJS.ErrnoException, '', 0),
      );
    };
  }
}

const defaultResolver: Resolver = async (hostname) =>
  (await dnsLookup(hostname, { all: true, verbatim: true })).map((a) => ({
    address: a.address,
    family: a.family === 6 ? 6 : 4,
  }));

// ---------------------------------------------------------------------------------------------------------
// Configuration shared by every outbound connector

export const OutboundConfig = z.object({
  VIGIL_OUTBOUND_ALLOW: CsvList.default([]).superRefine((list, ctx) => {
    const bad = invalidAllowEntries(list);
    if (bad.length)
      ctx.addIssue({
        code: 'custom',
        message: `not a host name, IP or CIDR: ${bad.join(', ')}`,
      });
  }),
  VIGIL_OUTBOUND_ALLOW_INTERNAL: Bool.default(false),
});
export type OutboundConfig = z.infer<typeof OutboundConfig>;

export function loadOutboundConfig(env: Env): OutboundConfig {
  return parseEnv(OutboundConfig, env, 'outbound connections');
}

export function outboundPolicy(c: OutboundConfig, resolver?: Resolver): OutboundPolicy {
  return { allow: c.VIGIL_OUTBOUND_ALLOW, allowInternal: c.VIGIL_OUTBOUND_ALLOW_INTERNAL, resolver };
}

// ---------------------------------------------------------------------------------------------------------
// The axios instance connectors share

export interface OutboundHttpOptions {
  policy: OutboundPolicy;
  /** Per-request deadline (connect + response), ms. */
  timeoutMs: number;
  baseURL?: string;
  headers?: Record<string, string>;
  /** 0 (default): redirects are not followed and a 3xx is a failure. >0: each hop is checked again. */
  maxRedirects?: number;
  /** Largest response body accepted, bytes. */
  maxResponseBytes?: number;
}

/** An axios instance whose every connection goes through the guard, with timeouts and no env proxies. */
export function createOutboundHttp(o: OutboundHttpOptions): AxiosInstance {
  const guard = new OutboundGuard(o.policy);
  const lookup = guard.lookup();
  const maxRedirects = o.maxRedirects ?? 0;
  const instance = axios.create({
    baseURL: o.baseURL,
    headers: o.headers,
    timeout: o.timeoutMs,
    proxy: false,
    maxRedirects,
    maxContentLength: o.maxResponseBytes ?? 10 * 1024 * 1024,
    maxBodyLength: 10 * 1024 * 1024,
    httpAgent: new http.Agent({ keepAlive: true, lookup, timeout: o.timeoutMs }),
    httpsAgent: new https.Agent({ keepAlive: true, lookup, timeout: o.timeoutMs }),
    // Every hop of a followed redirect: scheme and literal checks here, names through `lookup`.
    beforeRedirect: (opts: { protocol?: string; host?: string; hostname?: string; path?: string }) => {
      guard.checkUrl(`${opts.protocol ?? ''}//${opts.host ?? opts.hostname ?? ''}${opts.path ?? '/'}`);
    },
  });
  instance.interceptors.request.use((config) => {
    guard.checkUrl(instance.getUri(config));
    // An overall deadline on top of the socket timeout (axios' `timeout` is per socket inactivity).
    config.signal ??= AbortSignal.timeout(o.timeoutMs);
    return config;
  });
  return instance;
}

// ---------------------------------------------------------------------------------------------------------
// Errors -> failures (status mapping itself lives in failures.ts httpFailure)

/** Replace every secret in `text` (a vendor's message could echo a header back). */
export function redact(text: string, secrets: readonly (string | undefined)[]): string {
  let out = text;
  for (const s of secrets) if (s && s.length >= 4) out = out.split(s).join('[redacted]');
  return out;
}

function refusedIn(e: unknown): DestinationRefused | undefined {
  for (let cur: unknown = e, i = 0; cur && i < 5; i++) {
    if (cur instanceof DestinationRefused) return cur;
    cur = (cur as { cause?: unknown }).cause;
  }
  return undefined;
}

/** Retry-After as seconds (it may also be an HTTP date). */
function retryAfterSeconds(h: string | undefined): string | undefined {
  if (!h) return undefined;
  if (/^\d+$/.test(h.trim())) return h.trim();
  const at = Date.parse(h);
  return Number.isNaN(at) ? undefined : String(Math.max(1, Math.ceil((at - Date.now()) / 1000)));
}

/**
 * Turn anything a request threw into one of our failures: refused destination -> Forbidden; HTTP status ->
 * httpFailure (429 waits for Retry-After, other 4xx final with the vendor's reason, 5xx retryable); a 3xx
 * that was not followed -> UpstreamRejected; timeouts and network errors -> Unavailable (retryable).
 * Messages never carry request headers, and `secrets` are scrubbed from vendor text.
 */
export function outboundFailure(
  e: unknown,
  what: string,
  reasonOf: (data: unknown, status: number) => string | undefined = () => undefined,
  secrets: readonly (string | undefined)[] = [],
): ApplicationFailure {
  if (e instanceof ApplicationFailure) return e;
  const refused = refusedIn(e);
  if (refused) return failure(ErrorType.Forbidden, `${what}: outbound request refused: ${refused.message}`);
  if (e instanceof AxiosError && e.response) {
    const status = e.response.status;
    const data: unknown = e.response.data;
    const h = e.response.headers as AxiosResponseHeaders;
    if (status >= 300 && status < 400)
      return failure(ErrorType.UpstreamRejected, `${what}: redirect (${status}) not followed`, { status });
    let reason = '';
    try {
      reason = reasonOf(data, status) ?? '';
    } catch {
      reason = '';
    }
    if (!reason) reason = typeof data === 'string' ? data.slice(0, 300) : (e.response.statusText ?? '');
    const ra = h['retry-after'] as unknown;
    return httpFailure(
      status,
      `${what}: ${redact(reason.slice(0, 500), secrets) || `HTTP ${status}`}`,
      retryAfterSeconds(typeof ra === 'string' ? ra : undefined),
    );
  }
  if (e instanceof AxiosError) {
    const timedOut = e.code === 'ECONNABORTED' || e.code === 'ETIMEDOUT' || e.code === 'ERR_CANCELED';
    return failure(
      ErrorType.Unavailable,
      `${what}: ${timedOut ? 'timed out' : `network error (${e.code ?? 'unknown'})`}`,
    );
  }
  const err = e as { code?: string; message?: string };
  return failure(
    ErrorType.Unavailable,
    `${what}: ${err.code ?? 'error'}: ${redact(String(err.message), secrets)}`,
  );
}
