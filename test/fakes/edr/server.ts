/**
 * The plumbing the three EDR fakes share: a node:http server on 127.0.0.1:0, a log of every request
 * received (method, path, query, body, Authorization), and faults on demand (rate limiting in the vendor's
 * shape, injected 5xx). Each vendor fake implements its documented endpoints on top.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface LoggedRequest {
  method: string;
  path: string;
  query: Record<string, string[]>;
  body: unknown;
  authorization: string | undefined;
}

export interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

interface Fault {
  kind: 'rate-limit' | 'status';
  status: number;
  times: number;
  path?: RegExp;
  retryAfterS?: number;
}

export abstract class FakeEdrServer {
  readonly requests: LoggedRequest[] = [];
  private server: Server | undefined;
  private faults: Fault[] = [];
  url = '';

  protected abstract route(req: LoggedRequest): Reply | Promise<Reply>;
  /** The vendor's 429 (status, body, rate-limit headers). */
  protected abstract rateLimited(retryAfterS: number): Reply;
  /** The vendor's body for an injected server error. */
  protected abstract serverError(status: number): Reply;

  async start(): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  /** The next `times` requests (to paths matching `path`) get the vendor's 429 with this Retry-After. */
  rateLimit(times: number, retryAfterS: number, path?: RegExp): void {
    this.faults.push({ kind: 'rate-limit', status: 429, times, retryAfterS, path });
  }

  /** The next `times` requests (to paths matching `path`) fail with `status`. */
  fail(status: number, times: number, path?: RegExp): void {
    this.faults.push({ kind: 'status', status, times, path });
  }

  /** Requests that match a method and a path pattern. */
  calls(method: string, path: RegExp | string): LoggedRequest[] {
    return this.requests.filter(
      (r) => r.method === method && (typeof path === 'string' ? r.path === path : path.test(r.path)),
    );
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const u = new URL(req.url ?? '/', 'http://fake');
    const query: Record<string, string[]> = {};
    for (const [k, v] of u.searchParams) (query[k] ??= []).push(v);
    const type = req.headers['content-type'] ?? '';
    let body: unknown = raw;
    if (raw && type.includes('application/json')) {
      try {
        body = JSON.parse(raw);
      } catch {
        body = { unparsable: raw };
      }
    } else if (raw && type.includes('application/x-www-form-urlencoded')) {
      body = Object.fromEntries(new URLSearchParams(raw));
    }
    const logged: LoggedRequest = {
      method: req.method ?? 'GET',
      path: u.pathname,
      query,
      body,
      authorization: req.headers.authorization,
    };
    this.requests.push(logged);

    let reply: Reply;
    const fault = this.faults.find((f) => f.times > 0 && (!f.path || f.path.test(u.pathname)));
    if (fault) {
      fault.times--;
      reply =
        fault.kind === 'rate-limit'
          ? this.rateLimited(fault.retryAfterS ?? 1)
          : this.serverError(fault.status);
    } else {
      try {
        reply = await this.route(logged);
      } catch (e) {
        reply = this.serverError(500);
        process.stderr.write(`fake EDR route error: ${String(e)}\n`);
      }
    }
    res.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers });
    res.end(reply.body === undefined ? '' : JSON.stringify(reply.body));
  }
}

export function first(q: Record<string, string[]>, key: string): string | undefined {
  return q[key]?.[0];
}

export function randomToken(prefix: string): string {
  return `${prefix}${Math.random().toString(36).slice(2)}${Date.now().toString(36)}`;
}
