/**
 * The HTTP plumbing the three vendor clients share (no vendor knowledge here): one axios instance per
 * vendor with a timeout, bearer-token caching with refresh shortly before expiry, one refresh-and-retry
 * on 401, and every error turned into our failure types through activities/lib/failures.ts, with the
 * configured secrets scrubbed from whatever text the vendor sent back. axios errors themselves never
 * escape: they carry the request's headers and body, i.e. the bearer token and the client secret.
 */
import axios, { type AxiosInstance, type AxiosResponse, type Method } from 'axios';
import type { ApplicationFailure } from '@temporalio/common';
import { ErrorType } from '../../../src/errors.js';
import { failure, httpFailure, rateLimitDelayMs } from '../../lib/failures.js';
import type { EdrVendor } from './config.js';

export interface VendorRequest {
  method: Method;
  /** Path below the base URL, or an absolute URL (the Microsoft login host). */
  url: string;
  params?: Record<string, string | number>;
  /** JSON body. */
  json?: unknown;
  /** application/x-www-form-urlencoded body. */
  form?: Record<string, string>;
  headers?: Record<string, string>;
}

export interface VendorResponse<T = unknown> {
  status: number;
  data: T;
  header(name: string): string | undefined;
}

/** Replace every configured secret (and its URL-encoded form) in `text`. */
export function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) {
    if (s.length < 4) continue;
    for (const form of new Set([s, encodeURIComponent(s)])) out = out.split(form).join('[redacted]');
  }
  return out;
}

export interface HttpOptions {
  vendor: EdrVendor;
  baseURL: string;
  timeoutMs: number;
  /** Strings that must never appear in a failure message (client secret, API token, current bearer). */
  secrets: () => readonly string[];
  /** The vendor's own reason text from an error body. */
  reasonOf: (status: number, body: unknown) => string;
}

export class VendorHttp {
  private readonly ax: AxiosInstance;
  constructor(readonly opts: HttpOptions) {
    this.ax = axios.create({
      baseURL: opts.baseURL,
      timeout: opts.timeoutMs,
      // Every status comes back as a response; we decide what it means (one mapping, below).
      validateStatus: () => true,
      maxRedirects: 0,
      // Never let axios pick up HTTP(S)_PROXY silently for security calls; set a proxy explicitly if needed.
      proxy: false,
      headers: { Accept: 'application/json', 'User-Agent': 'vigil-edr/0.1' },
    });
  }

  /** Send one request; only network-level problems throw (as a retryable Unavailable failure). */
  async send<T = unknown>(req: VendorRequest): Promise<VendorResponse<T>> {
    let res: AxiosResponse<unknown>;
    try {
      res = await this.ax.request({
        method: req.method,
        url: req.url,
        params: req.params,
        data: req.form ? new URLSearchParams(req.form).toString() : req.json,
        headers: {
          ...(req.form ? { 'Content-Type': 'application/x-www-form-urlencoded' } : {}),
          ...(req.json !== undefined ? { 'Content-Type': 'application/json' } : {}),
          ...req.headers,
        },
      });
    } catch (e) {
      // Only the error code: the message and config of an axios error may hold the request's secrets.
      const code = (e as { code?: unknown }).code;
      throw failure(
        ErrorType.Unavailable,
        `${this.opts.vendor} unreachable (${typeof code === 'string' ? code : 'network error'}) on ${req.method} ${pathOf(req.url)}`,
      );
    }
    return {
      status: res.status,
      data: res.data as T,
      header: (name) => {
        const v: unknown = res.headers[name.toLowerCase()];
        return typeof v === 'string' ? v : Array.isArray(v) ? String(v[0]) : undefined;
      },
    };
  }

  /** The failure for a non-2xx response: status -> type in httpFailure, the vendor's reason scrubbed. */
  failureFor(res: VendorResponse, what: string): ApplicationFailure {
    const reason = redact(`${what}: ${this.opts.reasonOf(res.status, res.data)}`, this.opts.secrets());
    const delay = res.status === 429 ? rateLimitDelayMs((n) => res.header(n)) : undefined;
    return httpFailure(
      res.status,
      `${this.opts.vendor} ${reason}`,
      delay === undefined ? null : { ms: delay },
    );
  }
}

function pathOf(url: string): string {
  return url.replace(/^https?:\/\/[^/]+/, '').split('?')[0] ?? url;
}

export interface Token {
  token: string;
  /** Seconds from issue, as the vendor's `expires_in` says. */
  expiresInS: number;
}

/**
 * One bearer token shared by concurrent calls (single flight), reused until shortly before it expires:
 * 60 s early, or a tenth of its lifetime for short-lived tokens.
 */
export class TokenCache {
  private current: { token: string; refreshAt: number } | undefined;
  private inflight: Promise<string> | undefined;
  constructor(
    private readonly fetchToken: () => Promise<Token>,
    private readonly now: () => number = Date.now,
  ) {}

  get token(): string | undefined {
    return this.current?.token;
  }

  async get(): Promise<string> {
    if (this.current && this.now() < this.current.refreshAt) return this.current.token;
    this.inflight ??= this.fetchToken()
      .then((t) => {
        const early = Math.min(60, t.expiresInS / 10);
        this.current = { token: t.token, refreshAt: this.now() + (t.expiresInS - early) * 1000 };
        return t.token;
      })
      .finally(() => {
        this.inflight = undefined;
      });
    return this.inflight;
  }

  /** Forget `token` (the API refused it); the next get() fetches a new one. */
  invalidate(token: string): void {
    if (this.current?.token === token) this.current = undefined;
  }
}

/**
 * A request with a bearer token: on 401 the token is dropped, a new one fetched and the request sent
 * once more (the only retry inside the client; everything else is Temporal's to retry).
 */
export async function sendWithBearer<T>(
  http: VendorHttp,
  tokens: TokenCache,
  req: VendorRequest,
  scheme = 'Bearer',
): Promise<VendorResponse<T>> {
  for (let attempt = 0; ; attempt++) {
    const token = await tokens.get();
    const res = await http.send<T>({
      ...req,
      headers: { ...req.headers, Authorization: `${scheme} ${token}` },
    });
    if (res.status !== 401 || attempt >= 1) return res;
    tokens.invalidate(token);
  }
}

export function isOk(res: VendorResponse): boolean {
  return res.status >= 200 && res.status < 300;
}

/** Poll `probe` every `intervalMs` until it returns a value or `timeoutMs` passes (then undefined). */
export async function pollUntil<T>(
  probe: () => Promise<T | undefined>,
  timeoutMs: number,
  intervalMs: number,
): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() + intervalMs > deadline) return undefined;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Hostnames we look up at a vendor: no quotes or operators can reach an FQL or OData filter. */
export const HOSTNAME_RE = /^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,252})$/;
