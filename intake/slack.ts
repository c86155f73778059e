/**
 * The Slack interaction server: a Bolt app answering clicks on Vigil's Approve / Deny buttons and on the
 * True / False positive verdict buttons (block_actions). Clicks arrive by one of two transports
 * (VIGIL_SLACK_MODE), handled by the same listeners:
 *  - http (default): Bolt's HTTP receiver (`/slack/events`), internet-facing behind a TLS proxy;
 *  - socket: Bolt's SocketModeReceiver. The intake opens an outbound WebSocket (apps.connections.open with
 *    the app-level token, SLACK_APP_TOKEN) and nothing listens. Slack documents no request signature in
 *    Socket Mode: the connection itself is authenticated (a fresh URL obtained with the app token over
 *    TLS), so step 1 below does not apply; in its place every envelope_id counts once (a redelivered or
 *    duplicated envelope is acknowledged and dropped, and recorded) and a click older or newer than 300 s
 *    (its action_ts) is refused, so a redelivery after the seen ids expired cannot act twice.
 * Every click passes, in order:
 *  1. (http) our transport gate, before Bolt: a capped body, |now - timestamp| <= 300 s in BOTH directions
 *     (Bolt 5.1 alone accepts future timestamps), a valid v0 signature in its exact form (`v0=` and 64 hex
 *     digits; Bolt ignores anything after a second '='), and the signature not seen before
 *     (single-use; seen ids are kept in SQLite with an expiry); refusals answer 401 and are recorded;
 *     then the body must be a click our listeners take (block_actions, one of our buttons, a reference that
 *     parses): correctly signed garbage (a bug, or a leaked signing secret) answers 400 and is recorded as
 *     signed, with the ids it names and a digest of the body (never the body), at its own bounded rate;
 *  2. (http) Bolt's own verification of the same signature; (socket) the envelope checks above; then an
 *     immediate ack (Slack's 3 seconds);
 *  3. the payload's team and app ids are ours; the trigger and action are single-use too;
 *  4. the Slack user maps to an enabled Vigil operator (`vigil operator link-slack`), and users.info
 *     says a full member (not deleted, not a bot, not a guest) of our workspace;
 *  5. the user is an allowed approver (SLACK_APPROVER_USERS, or a member of SLACK_APPROVER_GROUPS looked
 *     up with usergroups.users.list at click time);
 *  6. the same decision path as HTTP and the CLI (intake/approvals.ts: policy re-check, then the
 *     workflow's `decide` Update with its validator as the final word).
 * A verdict click passes 1-4 (who clicks: the same code), then the operator's role must be one that gives
 * verdicts (every operator role, as `vigil verdict`), then the same verdict path as `vigil verdict`
 * (intake/verdicts.ts giveVerdict: the incident's snapshot, the store; the same verdict again is a no-op).
 * The clicker is answered privately (chat.postEphemeral) with the gate's answer; once decided, the request
 * message is updated (chat.update) to show who decided what and when, in place of the buttons. Every
 * refusal is recorded in the decision log (approval_attempts), as the HTTP path records them.
 */
import { createHash } from 'node:crypto';
import { parse as parseForm } from 'node:querystring';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  App,
  HTTPReceiver,
  isValidSlackRequest,
  LogLevel,
  SocketModeReceiver,
  type BlockAction,
  type ButtonAction,
  type Logger,
  type Receiver,
} from '@slack/bolt';
import type Database from 'better-sqlite3';
import { z } from 'zod';
import { CsvList, parseEnv, Port, type Env } from '../src/config.js';
import { ConfigError } from '../src/errors.js';
import type { SlackApi, SlackBlock } from '../src/contracts/slack.js';
import {
  ACTION_APPROVE,
  ACTION_DENY,
  ACTION_VERDICT_FP,
  ACTION_VERDICT_TP,
  code as inlineCode,
  escapeMrkdwn,
  parseApprovalRef,
  parseVerdictRef,
  withDecision,
  withVerdict,
  type ApprovalRef,
} from '../src/slack/blocks.js';
import { OPERATOR_ROLES } from '../src/policy/actions.js';
import type { ApprovalRequestRecord } from '../src/policy/approval.js';
import { droppedNote, rateBound, type ApprovalDecider, type AttemptLog } from './approvals.js';
import type { Operator, OperatorStore } from './operators.js';
import { openSqlite } from './sqlite.js';
import { giveVerdict, type VerdictDeps, type VerdictLabel } from './verdicts.js';

/** Slack's documented replay window, applied in both directions. */
export const MAX_SKEW_S = 300;
/** Seen ids outlive the window by a wide margin (a replay after it is refused as stale anyway). */
const SEEN_TTL_S = 3 * MAX_SKEW_S;
/** An interaction payload carries the message it came from; ours stay far below this. */
const BODY_LIMIT = 256 * 1024;

export const SlackServerConfig = z
  .object({
    /** How clicks arrive: Slack POSTs them to us (http), or we hold a WebSocket open to Slack (socket). */
    VIGIL_SLACK_MODE: z.enum(['http', 'socket']).default('http'),
    SLACK_BOT_TOKEN: z.string().regex(/^xoxb-[A-Za-z0-9-]{10,}$/, 'must be a bot token (xoxb-...)'),
    /** The app's signing secret (Basic Information > App Credentials); http mode. */
    SLACK_SIGNING_SECRET: z
      .string()
      .regex(/^[0-9a-f]{16,128}$/, 'must be the app signing secret (hex)')
      .optional(),
    /** An app-level token with connections:write (Basic Information > App-Level Tokens); socket mode. */
    SLACK_APP_TOKEN: z
      .string()
      .regex(/^xapp-\d+-[A-Za-z0-9-]{10,}$/, 'must be an app-level token (xapp-...)')
      .optional(),
    /** Our workspace (T...) and app (A...): a payload naming others is refused. */
    SLACK_TEAM_ID: z.string().regex(/^T[A-Z0-9]{2,20}$/, 'a team id looks like T0123ABCD'),
    SLACK_APP_ID: z.string().regex(/^A[A-Z0-9]{2,20}$/, 'an app id looks like A0123ABCD'),
    /** Who may click: members of these user groups (looked up at click time) ... */
    SLACK_APPROVER_GROUPS: CsvList.pipe(z.array(z.string().regex(/^S[A-Z0-9]{2,20}$/, 'S0123ABCD'))).default(
      [],
    ),
    /** ... or these user ids. Either way the user must also be linked to a Vigil operator. */
    SLACK_APPROVER_USERS: CsvList.pipe(
      z.array(z.string().regex(/^[UW][A-Z0-9]{2,20}$/, 'U0123ABCD')),
    ).default([]),
    VIGIL_SLACK_API_URL: z
      .url()
      .refine((u) => u.endsWith('/'), 'must end with /')
      .default('https://slack.com/api/'),
    VIGIL_SLACK_HOST: z.string().min(1).default('127.0.0.1'),
    VIGIL_SLACK_PORT: Port.default(8089),
  })
  .superRefine((c, ctx) => {
    if (c.SLACK_APPROVER_GROUPS.length + c.SLACK_APPROVER_USERS.length === 0)
      ctx.addIssue({
        code: 'custom',
        path: ['SLACK_APPROVER_GROUPS'],
        message: 'name who may approve from Slack: SLACK_APPROVER_GROUPS and/or SLACK_APPROVER_USERS',
      });
    if (c.VIGIL_SLACK_MODE === 'http' && !c.SLACK_SIGNING_SECRET)
      ctx.addIssue({
        code: 'custom',
        path: ['SLACK_SIGNING_SECRET'],
        message: 'is required with VIGIL_SLACK_MODE=http (the default); or set VIGIL_SLACK_MODE=socket',
      });
    if (c.VIGIL_SLACK_MODE === 'http' && c.SLACK_APP_TOKEN)
      ctx.addIssue({
        code: 'custom',
        path: ['SLACK_APP_TOKEN'],
        message: 'is only used with VIGIL_SLACK_MODE=socket: set VIGIL_SLACK_MODE=socket, or unset it',
      });
    if (c.VIGIL_SLACK_MODE === 'socket' && !c.SLACK_APP_TOKEN)
      ctx.addIssue({
        code: 'custom',
        path: ['SLACK_APP_TOKEN'],
        message:
          'is required with VIGIL_SLACK_MODE=socket (an app-level token xapp-... with connections:write)',
      });
  });
export type SlackServerConfig = z.infer<typeof SlackServerConfig>;

/**
 * The interaction server's configuration, or undefined when it is not configured (none of
 * SLACK_SIGNING_SECRET, SLACK_APP_TOKEN, VIGIL_SLACK_MODE set). Bad values stop the process at start with
 * the key named (never the value).
 */
export function loadSlackServerConfig(env: Env): SlackServerConfig | undefined {
  if (!env.SLACK_SIGNING_SECRET && !env.SLACK_APP_TOKEN && !env.VIGIL_SLACK_MODE) return undefined;
  return parseEnv(SlackServerConfig, env, 'Slack interaction server configuration');
}

/** Single-use ids (signatures, triggers, actions), with an expiry; shared by every intake process on the file. */
export class SeenStore {
  private readonly db: Database.Database;
  private claims = 0;
  constructor(file: string) {
    this.db = openSqlite(file, {
      schema: 'CREATE TABLE IF NOT EXISTS slack_seen (key TEXT PRIMARY KEY, expires INTEGER NOT NULL)',
    });
  }
  /** True the first time `key` is claimed (until it expires); atomic across processes. */
  claim(key: string, nowS: number, ttlS = SEEN_TTL_S): boolean {
    if (++this.claims % 500 === 0) this.db.prepare('DELETE FROM slack_seen WHERE expires < ?').run(nowS);
    return (
      this.db
        .prepare(
          `INSERT INTO slack_seen (key, expires) VALUES (?, ?)
           ON CONFLICT(key) DO UPDATE SET expires = excluded.expires WHERE slack_seen.expires < ?`,
        )
        .run(key, nowS + ttlS, nowS).changes === 1
    );
  }
  close(): void {
    this.db.close();
  }
}

export interface SlackServerDeps {
  config: SlackServerConfig;
  /** The Web API (activities/slack/client.ts, given by the composition root). */
  api: SlackApi;
  operators: OperatorStore;
  attempts: AttemptLog;
  decider: ApprovalDecider;
  seen: SeenStore;
  /** The verdict path (`vigil verdict`'s); without it the verdict buttons answer that verdicts are off. */
  verdicts?: Pick<VerdictDeps, 'verdicts' | 'incidentStatus'>;
  /** Socket mode: how long the first connection may take (then start fails), and Bolt's ping timeout (ms). */
  socket?: { connectTimeoutMs?: number; clientPingTimeoutMs?: number };
  /** Clock (ms), for tests of the timestamp window. */
  now?: () => number;
  log?: (line: string) => void;
}

const sha = (s: string | Buffer) => createHash('sha256').update(s).digest('hex');

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return typeof v === 'string' ? v : undefined;
}

async function readLimited(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) return undefined;
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of req) {
    n += (c as Buffer).length;
    if (n > limit) return undefined;
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}

interface Claimed {
  user?: string;
  team?: string;
  decision: string;
  ref?: { incidentId: string; approvalId: string };
}

/** What an interaction payload claims (unverified, or refused before it was handled), for the decision log only. */
function claimedBy(payload: unknown): Claimed {
  const p = (payload ?? {}) as {
    user?: { id?: unknown };
    team?: { id?: unknown };
    actions?: { action_id?: unknown; value?: unknown }[];
  };
  const a = p.actions?.[0];
  const verdict = a?.action_id === ACTION_VERDICT_TP ? 'tp' : a?.action_id === ACTION_VERDICT_FP ? 'fp' : '';
  const v = verdict ? parseVerdictRef(a?.value) : undefined;
  // Claimed ids are only ever shown: printable ASCII, bounded.
  const id = (v: unknown) =>
    typeof v === 'string' ? v.slice(0, 32).replace(/[^\x21-\x7e]/g, '?') : undefined;
  return {
    user: id(p.user?.id),
    team: id(p.team?.id),
    decision: verdict
      ? `verdict:${verdict}`
      : a?.action_id === ACTION_APPROVE
        ? 'approve'
        : a?.action_id === ACTION_DENY
          ? 'deny'
          : 'unknown',
    ref: v ? { incidentId: v.incidentId, approvalId: VERDICT_ATTEMPT } : parseApprovalRef(a?.value),
  };
}

/** What an (unverified) HTTP interaction body claims, for the decision log only. */
function claimed(raw: Buffer): Claimed {
  try {
    return claimedBy(JSON.parse(new URLSearchParams(raw.toString('utf8')).get('payload') ?? ''));
  } catch {
    return { decision: 'unknown' };
  }
}

/** What the listeners below take; in http mode the gate refuses anything else, so Bolt never answers it on its own. */
const Interaction = z.object({
  type: z.literal('block_actions'),
  user: z.object({ id: z.string().min(1) }),
  container: z.record(z.string(), z.unknown()),
  trigger_id: z.string().min(1),
  actions: z
    .array(
      z.object({
        action_id: z.enum([ACTION_APPROVE, ACTION_DENY, ACTION_VERDICT_TP, ACTION_VERDICT_FP]),
        value: z.string(),
        action_ts: z.string(),
      }),
    )
    .min(1),
});

/**
 * Why a (correctly signed) HTTP interaction body is not one our listeners take, or undefined. Parsed exactly as
 * Bolt parses it (its exact content type, node:querystring, a single `payload`), so both see the same object.
 */
function malformed(raw: Buffer, contentType: string | undefined): { reason?: string; payload?: unknown } {
  if (contentType !== 'application/x-www-form-urlencoded')
    return { reason: 'content type is not application/x-www-form-urlencoded' };
  const form = parseForm(raw.toString());
  if (typeof form.payload !== 'string') return { reason: 'no single payload field' };
  let payload: unknown;
  try {
    payload = JSON.parse(form.payload);
  } catch {
    return { reason: 'payload is not JSON' };
  }
  const p = Interaction.safeParse(payload);
  if (!p.success) {
    const i = p.error.issues[0];
    return { payload, reason: `${i?.path.join('.') ?? ''}: ${i?.message ?? 'invalid'}`.slice(0, 200) };
  }
  const a = p.data.actions[0];
  const approval = a?.action_id === ACTION_APPROVE || a?.action_id === ACTION_DENY;
  if (a && !(approval ? parseApprovalRef(a.value) : parseVerdictRef(a.value)))
    return {
      payload,
      reason: `actions.0.value: not a Vigil ${approval ? 'approval' : 'incident'} reference`,
    };
  return {};
}

/** Slack's answers to apps.connections.open that mean the app-level token is wrong, not that Slack is down. */
const REFUSED_TOKEN: readonly string[] = [
  'invalid_auth',
  'not_authed',
  'not_allowed_token_type',
  'token_revoked',
  'token_expired',
  'account_inactive',
];

/** Refused verdict clicks share the decision log with approvals, under this approval id. */
const VERDICT_ATTEMPT = 'verdict';
/** Who may give a verdict: every operator role, as with `vigil verdict` (guests and bots never map to one). */
const VERDICT_ROLES: readonly string[] = OPERATOR_ROLES;

/** Tokens and socket tickets never reach a log line, whatever a library puts in its messages. */
export function redact(s: string): string {
  return s
    .replace(/\bx(app|ox[a-z])-[A-Za-z0-9-]+/g, 'x$1-[redacted]')
    .replace(/([?&]ticket=)[^&\s"']+/g, '$1[redacted]');
}

const REFUSAL_TEXT: Record<string, string> = {
  'not-found': 'this approval does not exist (any more)',
  'already-decided': 'this approval was already decided',
  expired: 'this approval expired: nobody answered before its deadline, so the action is not taken',
  'wrong-parameters': 'the button does not match the parameters of this approval',
  unauthorized: 'you may not decide this action',
  requester: 'you requested this action, so you cannot decide it',
  duplicate: 'you already approved; a second, different approver is needed',
  unavailable: 'the workflow engine did not answer in time; try again',
};

function quietLogger(log: (line: string) => void): Logger {
  let level = LogLevel.WARN;
  return {
    debug: () => undefined,
    info: () => undefined,
    warn: (...m: unknown[]) => log(redact(`slack: ${m.map(String).join(' ')}`)),
    error: (...m: unknown[]) => log(redact(`slack: ERROR ${m.map(String).join(' ')}`)),
    setLevel: (l: LogLevel) => {
      level = l;
    },
    getLevel: () => level,
    setName: () => undefined,
  };
}

export interface SlackServer {
  mode: 'http' | 'socket';
  /** http: the interaction endpoint; socket: a description for logs (the socket URL itself is a secret). */
  url: string;
  /** http: the port listened on; socket: 0 (nothing listens). */
  port: number;
  stop(): Promise<void>;
}

/** Socket Mode (2.): Bolt's SocketModeReceiver; the envelope id reaches the listeners' context. */
function socketReceiver(cfg: SlackServerConfig, d: SlackServerDeps, logger: Logger): SocketModeReceiver {
  const appToken = cfg.SLACK_APP_TOKEN;
  if (!appToken) throw new Error('SLACK_APP_TOKEN is required with VIGIL_SLACK_MODE=socket');
  return new SocketModeReceiver({
    appToken,
    logger,
    clientPingTimeout: d.socket?.clientPingTimeoutMs,
    // apps.connections.open goes to the same Web API base as the bot's calls.
    installerOptions: {
      clientOptions: { slackApiUrl: cfg.VIGIL_SLACK_API_URL, retryConfig: { retries: 3 }, timeout: 5000 },
    },
    // The envelope id reaches the listeners' context: the single-use check below needs it.
    customPropertiesExtractor: (args: { envelope_id?: unknown }) =>
      typeof args.envelope_id === 'string' ? { socketEnvelopeId: args.envelope_id } : {},
  });
}

/** Bolt's HTTP receiver behind the transport gate (1.): only fresh, correctly signed, first-seen requests reach Bolt. */
function httpReceiver(
  cfg: SlackServerConfig,
  d: SlackServerDeps,
  now: () => number,
  log: (l: string) => void,
  logger: Logger,
  recordUnverified: (code: string, raw: Buffer | undefined, message: string) => void,
  recordMalformed: (raw: Buffer, payload: unknown, reason: string) => void,
): HTTPReceiver {
  const signingSecret = cfg.SLACK_SIGNING_SECRET;
  if (!signingSecret) throw new Error('SLACK_SIGNING_SECRET is required with VIGIL_SLACK_MODE=http');
  /** The transport gate (1.): true when Bolt may see the request. */
  const gate = async (req: IncomingMessage, res: ServerResponse): Promise<boolean> => {
    const deny = (status: number, code: string, raw: Buffer | undefined, message: string) => {
      recordUnverified(code, raw, message);
      res.writeHead(status, { 'content-type': 'text/plain' });
      res.end(code);
      return false;
    };
    const raw = await readLimited(req, BODY_LIMIT).catch(() => undefined);
    if (!raw) return deny(413, 'too-large', undefined, `body over ${BODY_LIMIT} bytes or unreadable`);
    // Bolt reuses an already-buffered body (bufferIncomingMessage) and verifies it again.
    (req as IncomingMessage & { rawBody?: Buffer }).rawBody = raw;
    const tsHeader = header(req, 'x-slack-request-timestamp');
    const signature = header(req, 'x-slack-signature');
    const ts = Number(tsHeader);
    const nowS = Math.floor(now() / 1000);
    if (!tsHeader || !signature || !/^\d{1,12}$/.test(tsHeader))
      return deny(401, 'unsigned', raw, 'missing or malformed Slack signature headers (unverified request)');
    if (nowS - ts > MAX_SKEW_S)
      return deny(401, 'stale-timestamp', raw, `timestamp ${nowS - ts} s old (unverified request)`);
    if (ts - nowS > MAX_SKEW_S)
      return deny(
        401,
        'future-timestamp',
        raw,
        `timestamp ${ts - nowS} s in the future (unverified request)`,
      );
    // Exactly Slack's form: Bolt compares only the text between the first and a second '=', so without this
    // `v0=<hash>=x` would verify too and make a captured request look new to the single-use check below.
    if (!/^v0=[0-9a-f]{64}$/.test(signature))
      return deny(401, 'bad-signature', raw, 'malformed Slack signature (unverified request)');
    const valid = isValidSlackRequest({
      signingSecret,
      body: raw.toString(),
      headers: { 'x-slack-signature': signature, 'x-slack-request-timestamp': ts },
      nowMilliseconds: now(),
    });
    if (!valid) return deny(401, 'bad-signature', raw, 'signature mismatch (unverified request)');
    if (!d.seen.claim(`sig:${sha(signature)}`, nowS))
      return deny(401, 'replay', raw, 'this exact signed request was already received');
    // Correctly signed but not a click we handle: a bug, or someone else holds the signing secret.
    const bad = malformed(raw, header(req, 'content-type'));
    if (bad.reason !== undefined) {
      recordMalformed(raw, bad.payload, bad.reason);
      res.writeHead(400, { 'content-type': 'text/plain' });
      res.end('malformed');
      return false;
    }
    return true;
  };

  const http = new HTTPReceiver({
    signingSecret,
    endpoints: ['/slack/events'],
    processBeforeResponse: false,
    bodyLimit: BODY_LIMIT,
    logger,
  });
  const boltListener = http.requestListener;
  http.requestListener = (req, res) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (req.method !== 'POST' || path !== '/slack/events') return boltListener(req, res);
    gate(req, res)
      .then((ok) => {
        if (ok) boltListener(req, res);
      })
      .catch((e: unknown) => {
        log(`slack: gate error: ${(e as Error).message}`);
        if (!res.headersSent) {
          res.writeHead(500);
          res.end();
        }
      });
  };
  return http;
}

export async function startSlackServer(
  d: SlackServerDeps,
  listen: { host: string; port: number } = {
    host: d.config.VIGIL_SLACK_HOST,
    port: d.config.VIGIL_SLACK_PORT,
  },
): Promise<SlackServer> {
  const cfg = d.config;
  const now = d.now ?? Date.now;
  const log = d.log ?? ((l: string) => process.stderr.write(`${redact(l)}\n`));
  const logger = quietLogger(log);

  // Unverified refusals are recorded (without touching the incident), at a bounded rate; correctly signed
  // garbage at its own rate, so a flood of unsigned requests cannot hide it.
  const unverifiedBound = rateBound(50, 10_000, now);
  const signedBound = rateBound(50, 10_000, now);
  const recordUnhandled = (code: string, c: Claimed, message: string, bound = unverifiedBound) => {
    const dropped = bound();
    if (dropped === false) return;
    d.attempts.record({
      incidentId: c.ref?.incidentId ?? '-',
      approvalId: c.ref?.approvalId ?? '-',
      operator: `slack:${c.user ?? 'unknown'}`,
      via: 'slack',
      decision: c.decision,
      outcome: 'refused',
      code,
      message: `${message}${droppedNote(dropped)}`,
    });
  };
  const recordUnverified = (code: string, raw: Buffer | undefined, message: string) =>
    recordUnhandled(code, raw ? claimed(raw) : { decision: 'unknown' }, message);
  // The ids the payload names and a digest of the body; never the body (it carries a token and a response URL).
  const recordMalformed = (raw: Buffer, payload: unknown, reason: string) => {
    const c = claimedBy(payload);
    recordUnhandled(
      'malformed',
      c,
      `correctly signed request, malformed payload (${reason}); team ${c.team ?? '-'}; body sha256 ${sha(raw)}`,
      signedBound,
    );
  };

  const receiver: Receiver =
    cfg.VIGIL_SLACK_MODE === 'socket'
      ? socketReceiver(cfg, d, logger)
      : httpReceiver(cfg, d, now, log, logger, recordUnverified, recordMalformed);

  const app = new App({
    token: cfg.SLACK_BOT_TOKEN,
    receiver,
    logger,
    clientOptions: { slackApiUrl: cfg.VIGIL_SLACK_API_URL, retryConfig: { retries: 1 }, timeout: 5000 },
  });
  app.error(async (e) => log(`slack: listener error: ${e.message}`));

  // Socket mode (2.): every envelope counts once, and a click is fresh. Acknowledged either way, so Slack
  // does not redeliver what was refused. (In http mode the transport gate did this; no envelope id here.)
  app.use(async (args) => {
    const envelopeId = args.context.socketEnvelopeId as string | undefined;
    if (envelopeId === undefined) return args.next();
    const body = args.body as { type?: unknown; actions?: { action_ts?: unknown }[] };
    const nowS = Math.floor(now() / 1000);
    const refuse = async (code: string, message: string) => {
      if ('ack' in args && typeof args.ack === 'function') await args.ack();
      recordUnhandled(code, claimedBy(body), message);
    };
    if (!d.seen.claim(`envelope:${sha(envelopeId)}`, nowS))
      return refuse('replay', `envelope ${envelopeId.slice(0, 64)} was already received`);
    const ts = Number(body.actions?.[0]?.action_ts);
    if (body.type === 'block_actions' && (!Number.isFinite(ts) || Math.abs(nowS - ts) > MAX_SKEW_S))
      return refuse(
        'stale-timestamp',
        Number.isFinite(ts) ? `click ${Math.round(nowS - ts)} s from now` : 'click without action_ts',
      );
    return args.next();
  });

  app.action<BlockAction<ButtonAction>>(
    { type: 'block_actions', action_id: new RegExp(`^(${ACTION_APPROVE}|${ACTION_DENY})$`) },
    async ({ ack, body, action }) => {
      // Acknowledge first (Slack's 3 seconds); the answer follows as an ephemeral message.
      await ack();
      await handleClick(d, body, action, now, log).catch((e: unknown) =>
        log(`slack: click handling failed: ${(e as Error).message}`),
      );
    },
  );
  app.action<BlockAction<ButtonAction>>(
    { type: 'block_actions', action_id: new RegExp(`^(${ACTION_VERDICT_TP}|${ACTION_VERDICT_FP})$`) },
    async ({ ack, body, action }) => {
      await ack();
      await handleVerdictClick(d, body, action, now, log).catch((e: unknown) =>
        log(`slack: verdict click handling failed: ${(e as Error).message}`),
      );
    },
  );

  if (cfg.VIGIL_SLACK_MODE === 'socket') {
    // Resolves at Slack's `hello`; a refused token rejects. Bounded, so a start that cannot connect stops.
    const limit = d.socket?.connectTimeoutMs ?? 30_000;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        app.start(),
        new Promise((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`Slack Socket Mode: no connection within ${limit} ms`)),
            limit,
          );
        }),
      ]);
    } catch (e) {
      await (app.stop() as Promise<void>).catch(() => undefined);
      // Slack's own error code (WebAPIPlatformError.data.error): a refused token is a configuration error.
      const code = (e as { data?: { error?: unknown } }).data?.error;
      if (typeof code === 'string' && REFUSED_TOKEN.includes(code))
        throw new ConfigError(
          [
            {
              key: 'SLACK_APP_TOKEN',
              message: `Slack refused it (${code}) when opening the Socket Mode connection`,
            },
          ],
          'Slack interaction server configuration',
        );
      throw new Error(redact(`Slack Socket Mode could not connect: ${(e as Error).message}`));
    } finally {
      clearTimeout(timer);
    }
    return {
      mode: 'socket',
      url: `socket mode (apps.connections.open at ${cfg.VIGIL_SLACK_API_URL})`,
      port: 0,
      stop: () => app.stop() as Promise<void>,
    };
  }
  const server = (await app.start({ host: listen.host, port: listen.port })) as { address(): AddressInfo };
  const port = server.address().port;
  return {
    mode: 'http',
    url: `http://${listen.host}:${port}/slack/events`,
    port,
    stop: () => app.stop() as Promise<void>,
  };
}

interface Clicked {
  user: string;
  channel?: string;
  messageTs?: string;
  nowS: number;
  /** A private answer to the clicker (never fails the handling). */
  tell: (text: string) => Promise<void>;
}

function clicked(
  d: SlackServerDeps,
  body: BlockAction<ButtonAction>,
  now: () => number,
  log: (l: string) => void,
): Clicked {
  const user = body.user.id;
  const channel = body.channel?.id ?? (body.container.channel_id as string | undefined);
  return {
    user,
    channel,
    messageTs: (body.container.message_ts as string | undefined) ?? body.message?.ts,
    nowS: Math.floor(now() / 1000),
    tell: async (text: string) => {
      if (!channel) return;
      await d.api
        .postEphemeral({ channel, user, text })
        .catch((e: unknown) => log(`slack: could not answer ${user}: ${(e as Error).message}`));
    },
  };
}

type Refuse = (code: string, message: string, operator?: string, signal?: boolean) => Promise<void>;

/**
 * Steps 3 and 4, for every kind of button: our workspace and app, the click counts once, and the clicker
 * is a full member of our workspace linked to an enabled operator. Undefined when refused (already told).
 */
async function identify(
  d: SlackServerDeps,
  body: BlockAction<ButtonAction>,
  action: ButtonAction,
  c: Clicked,
  refuse: Refuse,
  hasRef: boolean,
): Promise<Operator | undefined> {
  const cfg = d.config;
  const user = c.user;
  // 3. Our workspace and app; every interaction counts once.
  if (
    body.team?.id !== cfg.SLACK_TEAM_ID ||
    body.api_app_id !== cfg.SLACK_APP_ID ||
    (body.user.team_id !== undefined && body.user.team_id !== cfg.SLACK_TEAM_ID)
  ) {
    await refuse('wrong-workspace', 'this click comes from another workspace or app', undefined, false);
    return undefined;
  }
  if (
    !d.seen.claim(`trigger:${body.trigger_id}`, c.nowS) ||
    !d.seen.claim(`action:${user}:${action.action_ts}`, c.nowS)
  ) {
    await refuse('replay', 'this click was already received', undefined, false);
    return undefined;
  }
  if (!hasRef) {
    await refuse('not-found', 'this button does not name a Vigil approval or incident', undefined, false);
    return undefined;
  }

  // 4. Who is clicking.
  const op: Operator | undefined = d.operators.bySlackUser(user);
  if (!op || op.disabled) {
    await refuse(
      'unmapped',
      `your Slack account (${user}) is not linked to an enabled Vigil operator; an admin links it with: vigil operator link-slack <operator> ${user}`,
    );
    return undefined;
  }
  let info;
  try {
    info = await d.api.userInfo(user);
  } catch (e) {
    await refuse(
      'slack-unavailable',
      `could not check your Slack account (${(e as Error).message}); try again`,
      op.id,
    );
    return undefined;
  }
  const no = async (code: string, message: string) => {
    await refuse(code, message, op.id);
    return undefined;
  };
  if (info.deleted) return no('deactivated', 'your Slack account is deactivated');
  if (info.isBot) return no('bot', 'bots and apps cannot decide');
  if (info.isRestricted || info.isUltraRestricted) return no('guest', 'guests cannot decide');
  if (info.teamId !== undefined && info.teamId !== cfg.SLACK_TEAM_ID)
    return no('wrong-workspace', 'your account belongs to another workspace');
  return op;
}

async function handleClick(
  d: SlackServerDeps,
  body: BlockAction<ButtonAction>,
  action: ButtonAction,
  now: () => number,
  log: (l: string) => void,
): Promise<void> {
  const cfg = d.config;
  const c = clicked(d, body, now, log);
  const { user, channel, messageTs, tell } = c;
  const decision = action.action_id === ACTION_APPROVE ? 'approve' : 'deny';
  const ref = parseApprovalRef(action.value);

  const refuse: Refuse = async (code, message, operator = `slack:${user}`, signal = true) => {
    if (ref)
      await d.decider.recordRefusal({
        incidentId: ref.incidentId,
        approvalId: ref.approvalId,
        operator,
        via: 'slack',
        decision,
        code,
        message,
        signal,
      });
    else
      d.attempts.record({
        incidentId: '-',
        approvalId: '-',
        operator,
        via: 'slack',
        decision,
        outcome: 'refused',
        code,
        message,
      });
    await tell(`:no_entry: *Refused* (${code}): ${escapeMrkdwn(message)}`);
  };

  const op = await identify(d, body, action, c, refuse, ref !== undefined);
  if (!op || !ref) return;

  // 5. An allowed approver, checked now (group membership changes).
  let allowed = cfg.SLACK_APPROVER_USERS.includes(user);
  for (const g of cfg.SLACK_APPROVER_GROUPS) {
    if (allowed) break;
    try {
      allowed = (await d.api.usergroupMembers(g)).includes(user);
    } catch (e) {
      return refuse(
        'slack-unavailable',
        `could not check the approver groups (${(e as Error).message}); try again`,
        op.id,
      );
    }
  }
  if (!allowed)
    return refuse(
      'not-an-approver',
      `you are not an allowed approver (user groups ${cfg.SLACK_APPROVER_GROUPS.join(', ') || 'none'})`,
      op.id,
    );

  // 6. The same decision path as HTTP and the CLI.
  const out = await d.decider.decide({
    incidentId: ref.incidentId,
    approvalId: ref.approvalId,
    paramsHash: ref.paramsHash,
    decision,
    operator: op,
    via: 'slack',
    reason: `decided in Slack by ${user}`,
  });
  if (out.ok) {
    const r = out.receipt;
    await tell(
      r.status === 'approved'
        ? `:white_check_mark: *Approved*: ${escapeMrkdwn(out.record.action)} (approval ${escapeMrkdwn(r.approvalId)}), as ${escapeMrkdwn(op.id)}. The playbook continues.`
        : r.status === 'denied'
          ? `:no_entry: *Denied*: ${escapeMrkdwn(out.record.action)} (approval ${escapeMrkdwn(r.approvalId)}), as ${escapeMrkdwn(op.id)}. The action will not run.`
          : `:hourglass_flowing_sand: Your approval is recorded (${r.approvers.length} of ${r.needed}), as ${escapeMrkdwn(op.id)}; another, different approver is needed.`,
    );
  } else {
    await tell(
      `:no_entry: *Refused* (${out.code}): ${escapeMrkdwn(REFUSAL_TEXT[out.code] ?? 'refused')}. ${escapeMrkdwn(out.message)}`,
    );
  }
  // Show the current state on the message (also fixes stale buttons after a decision made elsewhere).
  if (out.ok || out.code === 'already-decided') await refreshMessage(d, ref, channel, messageTs, body, log);
}

const VERDICT_TEXT = { tp: 'true positive', fp: 'false positive' } as const;

async function handleVerdictClick(
  d: SlackServerDeps,
  body: BlockAction<ButtonAction>,
  action: ButtonAction,
  now: () => number,
  log: (l: string) => void,
): Promise<void> {
  const c = clicked(d, body, now, log);
  const verdict: VerdictLabel = action.action_id === ACTION_VERDICT_TP ? 'tp' : 'fp';
  const ref = parseVerdictRef(action.value);
  const refuse: Refuse = async (code, message, operator = `slack:${c.user}`) => {
    // The decision log of approvals also keeps refused verdict clicks (no signal: the incident may be closed).
    d.attempts.record({
      incidentId: ref?.incidentId ?? '-',
      approvalId: VERDICT_ATTEMPT,
      operator,
      via: 'slack',
      decision: `verdict:${verdict}`,
      outcome: 'refused',
      code,
      message,
    });
    await c.tell(`:no_entry: *Refused* (${code}): ${escapeMrkdwn(message)}`);
  };
  const op = await identify(d, body, action, c, refuse, ref !== undefined);
  if (!op || !ref) return;
  if (!VERDICT_ROLES.includes(op.role))
    return refuse('unauthorized', `operators with the role ${op.role} do not give verdicts`, op.id);
  if (!d.verdicts)
    return refuse('unavailable', 'verdicts are not recorded by this interaction server', op.id);

  const out = await giveVerdict(d.verdicts, ref.incidentId, verdict, op);
  if (!out.ok) return refuse(out.code, out.message, op.id);
  const r = out.record;
  await c.tell(
    out.changed
      ? `:white_check_mark: Recorded: *${VERDICT_TEXT[verdict]}* for incident ${inlineCode(ref.incidentId)}, as ${inlineCode(op.id)}${out.previous ? ` (changed from ${VERDICT_TEXT[out.previous]})` : ''}.`
      : `Already recorded: *${VERDICT_TEXT[r.verdict]}* by ${inlineCode(r.operator)} at ${escapeMrkdwn(r.at)}; nothing changed.`,
  );
  // Show the incident's verdict on the message (also when unchanged: it may have been given elsewhere).
  const blocks = body.message?.blocks as SlackBlock[] | undefined;
  if (!c.channel || !c.messageTs || !blocks) return;
  await d.api
    .updateMessage({
      channel: c.channel,
      ts: c.messageTs,
      text: typeof body.message?.text === 'string' ? body.message.text : 'Vigil incident',
      blocks: withVerdict(blocks, ref.incidentId, {
        verdict: r.verdict,
        operator: r.operator,
        at: r.at,
        ...(out.changed && out.previous ? { previous: out.previous } : {}),
      }),
    })
    .catch((e: unknown) => log(`slack: could not update the incident message: ${(e as Error).message}`));
}

async function refreshMessage(
  d: SlackServerDeps,
  ref: ApprovalRef,
  channel: string | undefined,
  ts: string | undefined,
  body: BlockAction<ButtonAction>,
  log: (l: string) => void,
): Promise<void> {
  const blocks = body.message?.blocks as SlackBlock[] | undefined;
  if (!channel || !ts || !blocks) return;
  let record: ApprovalRequestRecord | undefined;
  try {
    record = (await d.decider.approvalsOf(ref.incidentId)).find((a) => a.approvalId === ref.approvalId);
  } catch {
    return; // closed meanwhile: the workflow's own 'decided' notification updated the message
  }
  if (!record) return;
  await d.api
    .updateMessage({
      channel,
      ts,
      text: typeof body.message?.text === 'string' ? body.message.text : 'Vigil approval',
      blocks: withDecision(blocks, record),
    })
    .catch((e: unknown) => log(`slack: could not update the request message: ${(e as Error).message}`));
}
