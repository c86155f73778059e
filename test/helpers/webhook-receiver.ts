/**
 * A webhook receiver that does what activities/notify/webhook.ts tells receivers to do, written
 * independently of the sender (Standard Webhooks 1.0, https://www.standardwebhooks.com/):
 * verify `v1,` HMAC-SHA256 over `${webhook-id}.${webhook-timestamp}.${rawBody}` in constant time with
 * base64-decode(secret minus `whsec_`), refuse timestamps more than 5 minutes off (401), and process each
 * webhook-id once (a repeat is acknowledged with 200 but not processed). Scripted answers let a test make
 * it fail (5xx, 4xx, 429, a redirect, a hang) before it verifies.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';

export interface ReceivedWebhook {
  id: string;
  timestamp: number;
  headers: IncomingMessage['headers'];
  raw: string;
  body: unknown;
}

export type Scripted = { status: number; headers?: Record<string, string>; body?: string } | 'hang';

export interface WebhookReceiver {
  url: string;
  port: number;
  /** Verified and processed, once per id. */
  processed: ReceivedWebhook[];
  /** Every request that reached the server, verified or not, in order: [id header, answer]. */
  log: { id: string | undefined; status: number; why: string }[];
  /** Answers used, one per request, before verification (then the receiver verifies normally). */
  script: Scripted[];
  close(): Promise<void>;
}

const TOLERANCE_S = 300;

export function verifyStandardWebhook(
  secret: string | undefined,
  headers: IncomingMessage['headers'],
  raw: string,
  nowS = Math.floor(Date.now() / 1000),
): { ok: true; id: string; timestamp: number } | { ok: false; why: string } {
  const id = headers['webhook-id'];
  const ts = headers['webhook-timestamp'];
  const sig = headers['webhook-signature'];
  if (typeof id !== 'string' || typeof ts !== 'string') return { ok: false, why: 'missing headers' };
  const timestamp = Number(ts);
  if (!Number.isInteger(timestamp) || Math.abs(nowS - timestamp) > TOLERANCE_S) {
    return { ok: false, why: 'timestamp outside tolerance' };
  }
  if (secret === undefined) return { ok: true, id, timestamp }; // an unsigned (chat) receiver
  if (typeof sig !== 'string') return { ok: false, why: 'missing signature' };
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  const expected = createHmac('sha256', key).update(`${id}.${ts}.${raw}`).digest();
  const match = sig.split(' ').some((s) => {
    const [version, b64] = s.split(',');
    if (version !== 'v1' || !b64) return false;
    const got = Buffer.from(b64, 'base64');
    return got.length === expected.length && timingSafeEqual(got, expected);
  });
  return match ? { ok: true, id, timestamp } : { ok: false, why: 'bad signature' };
}

export async function startWebhookReceiver(secret?: string): Promise<WebhookReceiver> {
  const r: WebhookReceiver = {
    url: '',
    port: 0,
    processed: [],
    log: [],
    script: [],
    close: async () => undefined,
  };
  const seen = new Set<string>();
  const hanging: (() => void)[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const hid = typeof req.headers['webhook-id'] === 'string' ? req.headers['webhook-id'] : undefined;
      const answer = (status: number, why: string, headers: Record<string, string> = {}, body = why) => {
        r.log.push({ id: hid, status, why });
        res.writeHead(status, { 'content-type': 'text/plain', ...headers }).end(body);
      };
      const s = r.script.shift();
      if (s === 'hang') {
        r.log.push({ id: hid, status: 0, why: 'hang' });
        hanging.push(() => res.destroy());
        return;
      }
      if (s) return answer(s.status, 'scripted', s.headers, s.body ?? 'scripted');
      if (req.method !== 'POST' || req.headers['content-type'] !== 'application/json') {
        return answer(415, 'expected POST application/json');
      }
      const v = verifyStandardWebhook(secret, req.headers, raw);
      if (!v.ok) return answer(401, v.why);
      if (seen.has(v.id)) return answer(200, 'duplicate id: acknowledged, not processed again');
      seen.add(v.id);
      r.processed.push({
        id: v.id,
        timestamp: v.timestamp,
        headers: req.headers,
        raw,
        body: JSON.parse(raw),
      });
      answer(200, 'ok');
    });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', () => ok()));
  const a = server.address();
  r.port = typeof a === 'object' && a ? a.port : 0;
  r.url = `http://127.0.0.1:${r.port}`;
  r.close = () =>
    new Promise<void>((ok) => {
      hanging.forEach((h) => h());
      server.closeAllConnections();
      server.close(() => ok());
    });
  return r;
}
