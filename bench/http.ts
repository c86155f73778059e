/**
 * The benchmark's sender: signed POSTs to the intake over keep-alive HTTP/1.1 (node:http, loopback only),
 * retrying 429/503 after Retry-After like a real sender, with a bounded number of attempts.
 */
import { Agent, request } from 'node:http';
import { signedHeaders } from '../src/signing.js';
import { sleep } from './stats.js';

export interface Reply {
  status: number;
  retryAfter?: number;
  body: Record<string, unknown>;
}

export interface Sent extends Reply {
  /** Every status seen, the retried ones first. */
  statuses: number[];
  /** ms from the first attempt (or the scheduled send time) to the final answer. */
  ms: number;
}

export class IntakeClient {
  private readonly agent: Agent;
  private readonly host = '127.0.0.1';

  constructor(
    private readonly port: number,
    private readonly key: { id: string; secret: string },
    maxSockets: number,
  ) {
    this.agent = new Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets });
  }

  close(): void {
    this.agent.destroy();
  }

  /** One signed POST (or deliberately badly signed with `secret`). */
  post(path: string, body: string, o: { secret?: string; contentType?: string } = {}): Promise<Reply> {
    const headers = {
      'content-type': o.contentType ?? 'application/json',
      'content-length': String(Buffer.byteLength(body)),
      ...signedHeaders({ id: this.key.id, secret: o.secret ?? this.key.secret }, 'POST', path, body),
    };
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host: this.host,
          port: this.port,
          path,
          method: 'POST',
          headers,
          agent: this.agent,
          timeout: 30_000,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            let parsed: Record<string, unknown> = {};
            try {
              parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
            } catch {
              /* not JSON */
            }
            const ra = Number(res.headers['retry-after']);
            resolve({
              status: res.statusCode ?? 0,
              ...(Number.isFinite(ra) && ra > 0 ? { retryAfter: ra } : {}),
              body: parsed,
            });
          });
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error('request timed out after 30 s')));
      req.on('error', reject);
      req.end(body);
    });
  }

  /**
   * POST, and on 429/503 wait Retry-After (capped at 10 s) and send again, re-signed, at most `attempts`
   * times. Latency is measured from `since` (default: now), so open-loop senders pass their schedule.
   */
  async send(
    path: string,
    body: string,
    o: { secret?: string; since?: number; attempts?: number } = {},
  ): Promise<Sent> {
    const since = o.since ?? performance.now();
    const statuses: number[] = [];
    const attempts = o.attempts ?? 8;
    for (let i = 1; ; i++) {
      let r: Reply;
      try {
        r = await this.post(path, body, o.secret ? { secret: o.secret } : {});
      } catch (e) {
        r = { status: 0, body: { error: (e as Error).message } };
      }
      statuses.push(r.status);
      const retry = r.status === 429 || r.status === 503;
      if (!retry || i >= attempts) return { ...r, statuses, ms: performance.now() - since };
      await sleep(Math.min(10, r.retryAfter ?? 1) * 1000);
    }
  }

  async get(path: string, bearer?: string): Promise<{ status: number; text: string }> {
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host: this.host,
          port: this.port,
          path,
          method: 'GET',
          agent: this.agent,
          timeout: 10_000,
          headers: bearer ? { authorization: `Bearer ${bearer}` } : {},
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }),
          );
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error('GET timed out')));
      req.on('error', reject);
      req.end();
    });
  }

  /** vigil_intake_events_total summed by outcome. */
  async outcomes(): Promise<Record<string, number>> {
    const r = await this.get('/metrics');
    if (r.status !== 200) throw new Error(`GET /metrics answered ${r.status}`);
    const out: Record<string, number> = {};
    for (const line of r.text.split('\n')) {
      // signalWithStart calls (one per event, or one per group of events of an incident since group commit)
      const calls = /^vigil_intake_temporal_start_seconds_count\s+([0-9.eE+-]+)$/.exec(line);
      if (calls) out.signalWithStart_calls = Number(calls[1]);
      const m = /^vigil_intake_events_total\{([^}]*)\}\s+([0-9.eE+-]+)$/.exec(line);
      if (!m) continue;
      const outcome = /outcome="([^"]*)"/.exec(m[1] ?? '')?.[1] ?? '?';
      out[outcome] = (out[outcome] ?? 0) + Number(m[2]);
    }
    return out;
  }
}

export function delta(after: Record<string, number>, before: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of new Set([...Object.keys(after), ...Object.keys(before)])) {
    const d = (after[k] ?? 0) - (before[k] ?? 0);
    if (d) out[k] = d;
  }
  return out;
}
