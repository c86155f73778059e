/**
 * A local server speaking the Slack Web API methods Vigil calls, as Slack documents them
 * (https://docs.slack.dev/apis/web-api/): POST /api/<method> with a form-encoded body (arrays and objects
 * such as `blocks` and `metadata` arrive as JSON strings) or a JSON body, the bot token as
 * `Authorization: Bearer xoxb-...` (or a `token` field); answers are HTTP 200 JSON with `ok: true`, or
 * `{ok:false, error}` still with HTTP 200; a rate-limited call is HTTP 429 with `Retry-After` (seconds).
 * Methods: auth.test, chat.postMessage, chat.update, chat.postEphemeral, users.info, usergroups.users.list,
 * conversations.history (newest first, `oldest` exclusive, `include_all_metadata`, cursor pagination).
 * Blocks are checked against Block Kit limits (invalid_blocks), as Slack does. Every call is logged.
 *
 * Socket Mode (https://docs.slack.dev/apis/events-api/using-socket-mode), on the same port:
 * `apps.connections.open` takes the app-level token (`xapp-...`, as the bearer; a bot token is
 * `not_allowed_token_type`) and answers a single-use `ws://.../link/?ticket=...` URL. The WebSocket
 * (RFC 6455, written here: no WebSocket server package is installed) greets with `{"type":"hello",
 * "num_connections", "debug_info", "connection_info"}`, carries envelopes `{"envelope_id", "type":
 * "interactive", "accepts_response_payload", "payload"}` that the app acknowledges with `{"envelope_id"}`
 * (optionally a `payload`), answers pings with pongs and a close with a close, and can send
 * `{"type":"disconnect","reason":"warning"|"refresh_requested"}` after which the app opens a new connection.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';

export interface FakeUser {
  id: string;
  team_id?: string;
  name?: string;
  deleted?: boolean;
  is_bot?: boolean;
  is_app_user?: boolean;
  is_restricted?: boolean;
  is_ultra_restricted?: boolean;
}

export interface FakeMessage {
  channel: string;
  ts: string;
  text: string;
  blocks?: Record<string, unknown>[];
  thread_ts?: string;
  reply_broadcast?: boolean;
  metadata?: { event_type: string; event_payload: Record<string, unknown> };
  edited?: boolean;
}

export interface FakeCall {
  method: string;
  args: Record<string, unknown>;
  status: number;
  answer: Record<string, unknown>;
}

export interface FakeSocketMode {
  appToken: string;
  appId: string;
  /** Socket URLs handed out by apps.connections.open. */
  opens: number;
  /** WebSocket connections greeted with hello, ever. */
  connections: number;
  /** Connections open now. */
  openNow(): number;
  /** Acknowledgements received, in order. */
  acks: { envelopeId: string; payload?: unknown }[];
  /**
   * Send an `interactive` envelope (e.g. a block_actions click) on the newest open connection, waiting for
   * one to be open; `envelopeId` repeats an earlier envelope (a redelivery). Resolves to the envelope id.
   */
  deliver(payload: Record<string, unknown>, o?: { envelopeId?: string; type?: string }): Promise<string>;
  /** Slack's `disconnect` message on every open connection. */
  disconnect(reason: 'warning' | 'refresh_requested' | 'link_disabled'): void;
  /** Resolves once `envelopeId` was acknowledged. */
  acked(envelopeId: string, ms?: number): Promise<void>;
}

export interface FakeSlack {
  url: string;
  /** The base URL for the Web API client (`slackApiUrl`). */
  apiUrl: string;
  token: string;
  teamId: string;
  botUserId: string;
  users: Map<string, FakeUser>;
  groups: Map<string, string[]>;
  /** Channel id -> messages in posting order. */
  channels: Map<string, FakeMessage[]>;
  ephemerals: { channel: string; user: string; text: string }[];
  calls: FakeCall[];
  /** The next call of `method` fails: `{status: 429, retryAfter}` or `{error: 'internal_error'}`. */
  failNext(
    method: string,
    f: { status: 429; retryAfter: number } | { error: string } | { status: number },
  ): void;
  /** Calls of one method, in order. */
  callsOf(method: string): FakeCall[];
  socket: FakeSocketMode;
  close(): Promise<void>;
}

const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** One server-side frame (servers never mask). */
function wsFrame(opcode: number, payload: Buffer): Buffer {
  const n = payload.length;
  let head: Buffer;
  if (n < 126) head = Buffer.from([0x80 | opcode, n]);
  else if (n < 65536) {
    head = Buffer.alloc(4);
    head[0] = 0x80 | opcode;
    head[1] = 126;
    head.writeUInt16BE(n, 2);
  } else {
    head = Buffer.alloc(10);
    head[0] = 0x80 | opcode;
    head[1] = 127;
    head.writeBigUInt64BE(BigInt(n), 2);
  }
  return Buffer.concat([head, payload]);
}

/** The server end of one WebSocket: text messages in, text out, ping -> pong, close -> close. */
class WsConnection {
  private buf = Buffer.alloc(0);
  private parts: Buffer[] = [];
  closed = false;
  constructor(
    readonly socket: Duplex,
    private readonly onText: (text: string) => void,
    private readonly onClose: () => void,
  ) {
    socket.on('data', (c: Buffer) => this.feed(c));
    socket.on('close', () => this.end());
    socket.on('error', () => this.end());
  }
  send(text: string): void {
    if (!this.closed) this.socket.write(wsFrame(0x1, Buffer.from(text, 'utf8')));
  }
  close(code = 1000): void {
    if (this.closed) return;
    const p = Buffer.alloc(2);
    p.writeUInt16BE(code, 0);
    this.socket.write(wsFrame(0x8, p));
    this.end();
  }
  private end(): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.end();
    setTimeout(() => this.socket.destroy(), 200).unref();
    this.onClose();
  }
  private feed(chunk: Buffer): void {
    this.buf = Buffer.concat([this.buf, chunk]);
    for (;;) {
      if (this.buf.length < 2) return;
      const b0 = this.buf[0] ?? 0;
      const b1 = this.buf[1] ?? 0;
      let len = b1 & 0x7f;
      let at = 2;
      if (len === 126) {
        if (this.buf.length < 4) return;
        len = this.buf.readUInt16BE(2);
        at = 4;
      } else if (len === 127) {
        if (this.buf.length < 10) return;
        len = Number(this.buf.readBigUInt64BE(2));
        at = 10;
      }
      const masked = (b1 & 0x80) !== 0;
      const mask = masked ? this.buf.subarray(at, at + 4) : undefined;
      if (masked) at += 4;
      if (this.buf.length < at + len) return;
      const payload = Buffer.from(this.buf.subarray(at, at + len));
      if (mask) for (let i = 0; i < payload.length; i++) payload[i] = (payload[i] ?? 0) ^ (mask[i % 4] ?? 0);
      this.buf = this.buf.subarray(at + len);
      const op = b0 & 0x0f;
      const fin = (b0 & 0x80) !== 0;
      if (op === 0x1 || op === 0x0) {
        this.parts.push(payload);
        if (fin) {
          const text = Buffer.concat(this.parts).toString('utf8');
          this.parts = [];
          this.onText(text);
        }
      } else if (op === 0x8) {
        // The peer closes: answer with a close (the handshake Bolt's client waits for), then end.
        if (!this.closed) this.socket.write(wsFrame(0x8, payload.subarray(0, 2)));
        this.end();
        return;
      } else if (op === 0x9) {
        if (!this.closed) this.socket.write(wsFrame(0xa, payload));
      }
    }
  }
}

const LIMITS = { blocks: 50, header: 150, section: 3000, field: 2000, fields: 10, button: 75, value: 2000 };

/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-return, @typescript-eslint/no-unsafe-call -- Block Kit JSON is checked field by field */
function invalidBlocks(blocks: unknown): string | undefined {
  if (!Array.isArray(blocks)) return 'blocks must be an array';
  if (blocks.length > LIMITS.blocks) return `more than ${LIMITS.blocks} blocks`;
  for (const b of blocks as Record<string, any>[]) {
    const t = (x: any) => (typeof x?.text === 'string' ? x.text.length : 0);
    if (b.block_id !== undefined && String(b.block_id).length > 255) return 'block_id too long';
    switch (b.type) {
      case 'header':
        if (b.text?.type !== 'plain_text' || t(b.text) > LIMITS.header) return 'header text';
        break;
      case 'section':
        if (!b.text && !b.fields) return 'section needs text or fields';
        if (b.text && t(b.text) > LIMITS.section) return 'section text over 3000';
        if (b.fields && (b.fields.length > LIMITS.fields || b.fields.some((f: any) => t(f) > LIMITS.field)))
          return 'section fields';
        break;
      case 'context':
        if (!Array.isArray(b.elements) || b.elements.length > 10) return 'context elements';
        break;
      case 'actions':
        if (!Array.isArray(b.elements) || b.elements.length > 25) return 'actions elements';
        for (const e of b.elements) {
          if (e.type === 'button') {
            if (t(e.text) > LIMITS.button) return 'button text over 75';
            if (typeof e.value === 'string' && e.value.length > LIMITS.value) return 'button value over 2000';
            if (e.confirm && (t(e.confirm.title) > 100 || t(e.confirm.text) > 300)) return 'confirm text';
          }
        }
        break;
      case 'divider':
        break;
      default:
        return `unknown block type ${String(b.type)}`;
    }
  }
  return undefined;
}
/* eslint-enable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-return, @typescript-eslint/no-unsafe-call */

async function readBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const raw = Buffer.concat(chunks).toString('utf8');
  const type = req.headers['content-type'] ?? '';
  if (type.startsWith('application/json')) return raw ? (JSON.parse(raw) as Record<string, unknown>) : {};
  const out: Record<string, unknown> = {};
  for (const [k, v] of new URLSearchParams(raw)) {
    // Documented: complex arguments are sent JSON-encoded inside the form.
    out[k] = (k === 'blocks' || k === 'metadata' || k === 'attachments') && v ? JSON.parse(v) : v;
  }
  return out;
}

export async function startFakeSlack(
  o: {
    token?: string;
    teamId?: string;
    channels?: string[];
    users?: FakeUser[];
    groups?: Record<string, string[]>;
    appToken?: string;
    appId?: string;
  } = {},
): Promise<FakeSlack> {
  const token = o.token ?? 'xoxb-fake-0000000000-test';
  const teamId = o.teamId ?? 'T0VIGIL01';
  const appToken = o.appToken ?? 'xapp-1-A0VIGILAPP-0000000000-fake';
  const appId = o.appId ?? 'A0VIGILAPP';
  const tickets = new Set<string>();
  const conns: WsConnection[] = [];
  const fails = new Map<string, ({ status: number; retryAfter?: number } | { error: string })[]>();
  let seq = 0;
  const f: FakeSlack = {
    url: '',
    apiUrl: '',
    token,
    teamId,
    botUserId: 'U0VIGILBOT',
    users: new Map((o.users ?? []).map((u) => [u.id, { team_id: teamId, ...u }])),
    groups: new Map(Object.entries(o.groups ?? {})),
    channels: new Map((o.channels ?? ['C0SOC0001']).map((c) => [c, []])),
    ephemerals: [],
    calls: [],
    failNext(method, x) {
      fails.set(method, [...(fails.get(method) ?? []), x]);
    },
    callsOf(method) {
      return f.calls.filter((c) => c.method === method);
    },
    socket: {
      appToken,
      appId,
      opens: 0,
      connections: 0,
      openNow: () => conns.filter((c) => !c.closed).length,
      acks: [],
      async deliver(payload, d = {}) {
        const deadline = Date.now() + 20_000;
        let conn: WsConnection | undefined;
        while (!(conn = conns.filter((c) => !c.closed).at(-1))) {
          if (Date.now() > deadline) throw new Error('no Socket Mode connection to deliver on');
          await new Promise((r) => setTimeout(r, 20));
        }
        const envelopeId = d.envelopeId ?? randomUUID();
        conn.send(
          JSON.stringify({
            envelope_id: envelopeId,
            type: d.type ?? 'interactive',
            accepts_response_payload: false,
            payload,
          }),
        );
        return envelopeId;
      },
      disconnect(reason) {
        for (const c of conns.filter((x) => !x.closed))
          c.send(JSON.stringify({ type: 'disconnect', reason, debug_info: { host: 'applink-fake' } }));
      },
      async acked(envelopeId, ms = 10_000) {
        const deadline = Date.now() + ms;
        while (!f.socket.acks.some((a) => a.envelopeId === envelopeId)) {
          if (Date.now() > deadline) throw new Error(`envelope ${envelopeId} was not acknowledged`);
          await new Promise((r) => setTimeout(r, 20));
        }
      },
    },
    close: async () => undefined,
  };
  const nextTs = () => `${Math.floor(Date.now() / 1000)}.${String(++seq).padStart(6, '0')}`;
  const find = (channel: string, ts: string) => f.channels.get(channel)?.find((m) => m.ts === ts);
  const str = (v: unknown) => (typeof v === 'string' ? v : undefined);

  const handle = (method: string, a: Record<string, unknown>): Record<string, unknown> => {
    switch (method) {
      case 'apps.connections.open': {
        const ticket = randomUUID();
        tickets.add(ticket);
        f.socket.opens++;
        return {
          ok: true,
          url: `${f.url.replace(/^http/, 'ws')}/link/?ticket=${ticket}&app_id=${appId}`,
        };
      }
      case 'auth.test':
        return {
          ok: true,
          url: 'https://vigil-test.slack.com/',
          team: 'Vigil Test',
          user: 'vigil',
          team_id: teamId,
          user_id: f.botUserId,
          bot_id: 'B0VIGILBOT',
          is_enterprise_install: false,
        };
      case 'chat.postMessage': {
        const channel = str(a.channel) ?? '';
        const list = f.channels.get(channel);
        if (!list) return { ok: false, error: 'channel_not_found' };
        if (!str(a.text) && !a.blocks) return { ok: false, error: 'no_text' };
        if (a.blocks !== undefined) {
          const bad = invalidBlocks(a.blocks);
          if (bad) return { ok: false, error: 'invalid_blocks', errors: [bad] };
        }
        if ((str(a.text) ?? '').length > 40_000) return { ok: false, error: 'msg_too_long' };
        const threadTs = str(a.thread_ts);
        if (threadTs && !find(channel, threadTs)) return { ok: false, error: 'thread_not_found' };
        const m: FakeMessage = {
          channel,
          ts: nextTs(),
          text: str(a.text) ?? '',
          blocks: a.blocks as FakeMessage['blocks'],
          thread_ts: threadTs,
          reply_broadcast: a.reply_broadcast === 'true' || a.reply_broadcast === true,
          metadata: a.metadata as FakeMessage['metadata'],
        };
        list.push(m);
        return {
          ok: true,
          channel,
          ts: m.ts,
          message: { type: 'message', text: m.text, ts: m.ts, bot_id: 'B0VIGILBOT' },
        };
      }
      case 'chat.update': {
        const channel = str(a.channel) ?? '';
        if (!f.channels.has(channel)) return { ok: false, error: 'channel_not_found' };
        const m = find(channel, str(a.ts) ?? '');
        if (!m) return { ok: false, error: 'message_not_found' };
        if (a.blocks !== undefined) {
          const bad = invalidBlocks(a.blocks);
          if (bad) return { ok: false, error: 'invalid_blocks', errors: [bad] };
          m.blocks = a.blocks as FakeMessage['blocks'];
        }
        if (str(a.text) !== undefined) m.text = str(a.text) ?? '';
        m.edited = true;
        return { ok: true, channel, ts: m.ts, text: m.text };
      }
      case 'chat.postEphemeral': {
        const channel = str(a.channel) ?? '';
        if (!f.channels.has(channel)) return { ok: false, error: 'channel_not_found' };
        const user = str(a.user) ?? '';
        if (!f.users.has(user)) return { ok: false, error: 'user_not_in_channel' };
        f.ephemerals.push({ channel, user, text: str(a.text) ?? '' });
        return { ok: true, message_ts: nextTs() };
      }
      case 'users.info': {
        const u = f.users.get(str(a.user) ?? '');
        if (!u) return { ok: false, error: 'user_not_found' };
        return {
          ok: true,
          user: {
            name: u.id.toLowerCase(),
            deleted: false,
            is_bot: false,
            is_app_user: false,
            is_restricted: false,
            is_ultra_restricted: false,
            ...u,
          },
        };
      }
      case 'usergroups.users.list': {
        const g = f.groups.get(str(a.usergroup) ?? '');
        if (!g) return { ok: false, error: 'no_such_subteam' };
        return { ok: true, users: [...g] };
      }
      case 'conversations.history': {
        const channel = str(a.channel) ?? '';
        const list = f.channels.get(channel);
        if (!list) return { ok: false, error: 'channel_not_found' };
        const oldest = Number(str(a.oldest) ?? 0);
        const limit = Math.min(Number(str(a.limit) ?? 100) || 100, 999);
        const start = Number(str(a.cursor) ?? 0) || 0;
        const withMeta = a.include_all_metadata === 'true' || a.include_all_metadata === true;
        // Channel history holds top-level messages and broadcast thread replies, newest first.
        const all = list
          .filter((m) => (!m.thread_ts || m.reply_broadcast) && Number(m.ts) > oldest)
          .reverse();
        const page = all.slice(start, start + limit).map((m) => ({
          type: 'message',
          ts: m.ts,
          text: m.text,
          ...(m.thread_ts ? { thread_ts: m.thread_ts, subtype: 'thread_broadcast' } : {}),
          ...(withMeta && m.metadata ? { metadata: m.metadata } : {}),
        }));
        const more = start + limit < all.length;
        return {
          ok: true,
          messages: page,
          has_more: more,
          response_metadata: { next_cursor: more ? String(start + limit) : '' },
        };
      }
      default:
        return { ok: false, error: 'unknown_method' };
    }
  };

  const server: Server = createServer((req, res) => {
    void (async () => {
      const m = /^\/api\/([a-zA-Z.]+)$/.exec((req.url ?? '').split('?')[0] ?? '');
      const send = (
        status: number,
        answer: Record<string, unknown>,
        headers: Record<string, string> = {},
      ) => {
        res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
        res.end(JSON.stringify(answer));
      };
      if (!m || req.method !== 'POST') return send(404, { ok: false, error: 'unknown_method' });
      const method = m[1] ?? '';
      let args: Record<string, unknown>;
      try {
        args = await readBody(req);
      } catch {
        return send(200, { ok: false, error: 'invalid_form_data' });
      }
      const log = (status: number, answer: Record<string, unknown>) =>
        f.calls.push({ method, args, status, answer });
      const auth = req.headers.authorization;
      const given = auth?.startsWith('Bearer ') ? auth.slice(7) : str(args.token);
      if (!given) {
        const a = { ok: false, error: 'not_authed' };
        log(200, a);
        return send(200, a);
      }
      // apps.connections.open takes the app-level token, every other method the bot token.
      const wanted = method === 'apps.connections.open' ? appToken : token;
      if (given !== wanted) {
        const wrongKind = given === token || given === appToken;
        const a = { ok: false, error: wrongKind ? 'not_allowed_token_type' : 'invalid_auth' };
        log(200, a);
        return send(200, a);
      }
      const queued = fails.get(method);
      const fail = queued?.shift();
      if (fail) {
        if ('error' in fail) {
          const a = { ok: false, error: fail.error };
          log(200, a);
          return send(200, a);
        }
        if (fail.status === 429) {
          const a = { ok: false, error: 'ratelimited' };
          log(429, a);
          return send(429, a, { 'retry-after': String(fail.retryAfter ?? 1) });
        }
        const a = { ok: false, error: 'fatal_error' };
        log(fail.status, a);
        return send(fail.status, a);
      }
      const answer = handle(method, args);
      log(200, answer);
      send(200, answer);
    })();
  });
  // Socket Mode's WebSocket: a single-use ticket from apps.connections.open, then the RFC 6455 handshake.
  server.on('upgrade', (req: IncomingMessage, socket: Duplex) => {
    const u = new URL(req.url ?? '/', 'http://localhost');
    const ticket = u.searchParams.get('ticket') ?? '';
    const key = req.headers['sec-websocket-key'];
    if (u.pathname !== '/link/' || !tickets.delete(ticket) || typeof key !== 'string') {
      socket.end('HTTP/1.1 401 Unauthorized\r\nConnection: close\r\n\r\n');
      return;
    }
    const accept = createHash('sha1').update(`${key}${WS_GUID}`).digest('base64');
    socket.write(
      `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`,
    );
    const conn: WsConnection = new WsConnection(
      socket,
      (text) => {
        try {
          const m = JSON.parse(text) as { envelope_id?: unknown; payload?: unknown };
          if (typeof m.envelope_id === 'string')
            f.socket.acks.push({ envelopeId: m.envelope_id, payload: m.payload });
        } catch {
          /* not JSON: Slack ignores it too */
        }
      },
      () => undefined,
    );
    conns.push(conn);
    f.socket.connections++;
    conn.send(
      JSON.stringify({
        type: 'hello',
        num_connections: conns.filter((c) => !c.closed).length,
        debug_info: { host: 'applink-fake', build_number: 1, approximate_connection_time: 18060 },
        connection_info: { app_id: appId },
      }),
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  f.url = `http://127.0.0.1:${port}`;
  f.apiUrl = `${f.url}/api/`;
  f.close = () =>
    new Promise<void>((r) => {
      for (const c of conns) c.close(1001);
      server.closeAllConnections();
      server.close(() => r());
    });
  return f;
}
