/**
 * A local server speaking the Slack Web API methods Vigil calls, as Slack documents them
 * (https://docs.slack.dev/apis/web-api/): POST /api/<method> with a form-encoded body (arrays and objects
 * such as `blocks` and `metadata` arrive as JSON strings) or a JSON body, the bot token as
 * `Authorization: Bearer xoxb-...` (or a `token` field); answers are HTTP 200 JSON with `ok: true`, or
 * `{ok:false, error}` still with HTTP 200; a rate-limited call is HTTP 429 with `Retry-After` (seconds).
 * Methods: auth.test, chat.postMessage, chat.update, chat.postEphemeral, users.info, usergroups.users.list,
 * conversations.history (newest first, `oldest` exclusive, `include_all_metadata`, cursor pagination).
 * Blocks are checked against Block Kit limits (invalid_blocks), as Slack does. Every call is logged.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

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
  close(): Promise<void>;
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
  } = {},
): Promise<FakeSlack> {
  const token = o.token ?? 'xoxb-fake-0000000000-test';
  const teamId = o.teamId ?? 'T0VIGIL01';
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
    close: async () => undefined,
  };
  const nextTs = () => `${Math.floor(Date.now() / 1000)}.${String(++seq).padStart(6, '0')}`;
  const find = (channel: string, ts: string) => f.channels.get(channel)?.find((m) => m.ts === ts);
  const str = (v: unknown) => (typeof v === 'string' ? v : undefined);

  const handle = (method: string, a: Record<string, unknown>): Record<string, unknown> => {
    switch (method) {
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
      if (given !== token) {
        const a = { ok: false, error: 'invalid_auth' };
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
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  f.url = `http://127.0.0.1:${port}`;
  f.apiUrl = `${f.url}/api/`;
  f.close = () =>
    new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return f;
}
