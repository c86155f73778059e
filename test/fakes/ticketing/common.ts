/**
 * A small HTTP server for vendor fakes: JSON bodies, the request log, vendor-shaped auth and error
 * replies, and injected faults (a 429 with Retry-After, a 5xx, a 4xx) for the next N requests.
 */
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  body: unknown;
}
export interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}
export interface FakeServer {
  url: string;
  port: number;
  requests: FakeRequest[];
  /** The next `times` requests get `status` with a vendor-shaped error body and these headers. */
  fail(status: number, message: string, headers?: Record<string, string>, times?: number): void;
  /** The next request matching `method path` is carried out, but its answer is lost (socket destroyed). */
  loseAnswer(method: string, pathRe: RegExp): void;
  close(): Promise<void>;
}

export async function startFake(o: {
  authorized: (r: FakeRequest) => boolean;
  errorBody: (status: number, message: string) => unknown;
  route: (r: FakeRequest) => Reply;
}): Promise<FakeServer> {
  const requests: FakeRequest[] = [];
  const faults: Reply[] = [];
  const lose: { method: string; pathRe: RegExp }[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const u = new URL(req.url ?? '/', 'http://fake');
      const raw = Buffer.concat(chunks).toString();
      let body: unknown = undefined;
      const send = (r: Reply) => {
        const payload = r.body === undefined ? '' : JSON.stringify(r.body);
        res.writeHead(r.status, {
          ...(payload ? { 'Content-Type': 'application/json;charset=UTF-8' } : {}),
          ...r.headers,
        });
        res.end(payload);
      };
      if (raw) {
        try {
          body = JSON.parse(raw);
        } catch {
          return send({ status: 400, body: o.errorBody(400, 'malformed JSON body') });
        }
      }
      const r: FakeRequest = {
        method: req.method ?? 'GET',
        path: u.pathname,
        query: u.searchParams,
        headers: req.headers,
        body,
      };
      requests.push(r);
      const fault = faults.shift();
      if (fault) return send(fault);
      if (!o.authorized(r)) return send({ status: 401, body: o.errorBody(401, 'authentication required') });
      try {
        const reply = o.route(r);
        const i = lose.findIndex((l) => l.method === r.method && l.pathRe.test(r.path));
        if (i >= 0) {
          lose.splice(i, 1);
          res.socket?.destroy();
          return;
        }
        send(reply);
      } catch (e) {
        send({ status: 500, body: o.errorBody(500, (e as Error).message) });
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    fail(status, message, headers = {}, times = 1) {
      for (let i = 0; i < times; i++) faults.push({ status, headers, body: o.errorBody(status, message) });
    },
    loseAnswer(method, pathRe) {
      lose.push({ method, pathRe });
    },
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

export const basic = (user: string, pass: string) =>
  `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;

/** The view every fake gives tests: what an analyst would see in the ticket. */
export interface FakeTicket {
  id: string;
  key: string;
  title: string;
  description: string;
  status: string;
  closed: boolean;
  notes: string[];
  /** Vendor closing fields (close_code/close_notes, summary, ...). */
  closing: Record<string, unknown>;
}
