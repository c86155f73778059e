/**
 * The only file that knows Slack's Web API (@slack/web-api, which ships with @slack/bolt). Every call has
 * a timeout and a small, bounded in-client retry for network blips; a 429 is not waited out here but
 * turned into a RateLimited failure carrying Retry-After, so Temporal (or the clicker) retries later.
 * Slack answers errors as HTTP 200 with {ok:false, error}; they map onto our failure types once, below.
 */
import {
  LogLevel,
  WebAPIHTTPError,
  WebAPIPlatformError,
  WebAPIRateLimitedError,
  WebAPIRequestError,
  WebClient,
  type ChatPostMessageArguments,
} from '@slack/web-api';
import type { ApplicationFailure } from '@temporalio/common';
import type { SlackApi, SlackPosted, SlackUser } from '../../src/contracts/slack.js';
import { ErrorType } from '../../src/errors.js';
import { failure, httpFailure } from '../lib/failures.js';

export interface SlackClientOptions {
  token: string;
  apiUrl: string;
  timeoutMs: number;
  /** In-client retries of network errors and 5xx (small: the caller has its own retry budget). */
  retries?: number;
}

// https://docs.slack.dev/reference/methods/chat.postMessage#errors and the common errors of every method.
const AUTH = new Set([
  'not_authed',
  'invalid_auth',
  'account_inactive',
  'token_revoked',
  'token_expired',
  'no_permission',
  'org_login_required',
  'ekm_access_denied',
]);
const MISCONFIGURED = new Set([
  'missing_scope',
  'not_in_channel',
  'is_archived',
  'channel_is_archived',
  'not_allowed_token_type',
]);
const NOT_FOUND = new Set([
  'channel_not_found',
  'message_not_found',
  'user_not_found',
  'users_not_found',
  'no_such_subteam',
  'subteam_not_found',
  'thread_not_found',
]);
const TRANSIENT = new Set([
  'internal_error',
  'fatal_error',
  'service_unavailable',
  'request_timeout',
  'ratelimited',
]);

/** Map a Web API error onto our closed failure types (never includes the token). */
export function slackFailure(e: unknown, method: string): ApplicationFailure {
  if (e instanceof WebAPIRateLimitedError) return httpFailure(429, `slack ${method}`, String(e.retryAfter));
  if (e instanceof WebAPIPlatformError) {
    const code = String(e.data.error);
    const msg = `slack ${method}: ${code}`;
    if (AUTH.has(code)) return failure(ErrorType.Unauthenticated, msg, { slackError: code });
    if (MISCONFIGURED.has(code)) return failure(ErrorType.Misconfigured, msg, { slackError: code });
    if (NOT_FOUND.has(code)) return failure(ErrorType.NotFound, msg, { slackError: code });
    if (TRANSIENT.has(code)) return failure(ErrorType.Unavailable, msg, { slackError: code });
    return failure(ErrorType.UpstreamRejected, msg, { slackError: code });
  }
  if (e instanceof WebAPIHTTPError)
    return httpFailure(e.statusCode, `slack ${method}`, e.headers['retry-after'] ?? null);
  if (e instanceof WebAPIRequestError)
    return failure(ErrorType.Unavailable, `slack ${method}: request failed (${e.original.message})`);
  return failure(ErrorType.Unavailable, `slack ${method}: ${(e as Error).message}`);
}

interface HistoryMessage {
  ts?: string;
  metadata?: { event_type?: string; event_payload?: Record<string, unknown> };
}

export function createSlackApi(o: SlackClientOptions): SlackApi {
  const web = new WebClient(o.token, {
    slackApiUrl: o.apiUrl,
    timeout: o.timeoutMs,
    rejectRateLimitedCalls: true,
    retryConfig: { retries: o.retries ?? 2, factor: 2, minTimeout: 250, maxTimeout: 2000, randomize: true },
    logLevel: LogLevel.ERROR,
  });
  const call = async <T>(method: string, f: () => Promise<T>): Promise<T> => {
    try {
      return await f();
    } catch (e) {
      throw slackFailure(e, method);
    }
  };
  const posted = (r: { channel?: string; ts?: string }, method: string): SlackPosted => {
    if (!r.channel || !r.ts)
      throw failure(ErrorType.UpstreamRejected, `slack ${method}: answer without channel or ts`);
    return { channel: r.channel, ts: r.ts };
  };

  return {
    async postMessage(m) {
      const r = await call('chat.postMessage', () =>
        web.chat.postMessage({
          channel: m.channel,
          text: m.text,
          ...(m.blocks ? { blocks: m.blocks as never } : {}),
          ...(m.threadTs ? { thread_ts: m.threadTs, reply_broadcast: m.broadcast ?? false } : {}),
          ...(m.mark
            ? {
                metadata: {
                  event_type: m.mark.eventType,
                  event_payload: {
                    key: m.mark.key,
                    incident_id: m.mark.incidentId,
                    ...(m.mark.approvalId ? { approval_id: m.mark.approvalId } : {}),
                  },
                },
              }
            : {}),
          // Event text never becomes links or mentions (the blocks are escaped as well).
          parse: 'none',
          link_names: false,
          unfurl_links: false,
          unfurl_media: false,
        } as ChatPostMessageArguments),
      );
      return posted(r, 'chat.postMessage');
    },

    async updateMessage(m) {
      const r = await call('chat.update', () =>
        web.chat.update({
          channel: m.channel,
          ts: m.ts,
          text: m.text,
          ...(m.blocks ? { blocks: m.blocks as never } : {}),
          parse: 'none',
          link_names: false,
        }),
      );
      return posted(r, 'chat.update');
    },

    async postEphemeral(m) {
      await call('chat.postEphemeral', () =>
        web.chat.postEphemeral({
          channel: m.channel,
          user: m.user,
          text: m.text,
          ...(m.threadTs ? { thread_ts: m.threadTs } : {}),
        }),
      );
    },

    async userInfo(user): Promise<SlackUser> {
      const r = await call('users.info', () => web.users.info({ user }));
      const u = r.user;
      if (!u?.id) throw failure(ErrorType.NotFound, 'slack users.info: no user in the answer');
      return {
        id: u.id,
        teamId: u.team_id,
        deleted: u.deleted === true,
        isBot: u.is_bot === true || u.is_app_user === true,
        isRestricted: u.is_restricted === true,
        isUltraRestricted: u.is_ultra_restricted === true,
      };
    },

    async usergroupMembers(usergroup) {
      const r = await call('usergroups.users.list', () =>
        web.usergroups.users.list({ usergroup, include_disabled: false }),
      );
      return r.users ?? [];
    },

    async findMarked(q) {
      let cursor: string | undefined;
      // A bounded scan: the marked message was posted after `oldest`, so a few pages are plenty.
      for (let page = 0; page < 5; page++) {
        const r = await call('conversations.history', () =>
          web.conversations.history({
            channel: q.channel,
            oldest: String(q.oldest),
            include_all_metadata: true,
            limit: 200,
            ...(cursor ? { cursor } : {}),
          }),
        );
        const hit = ((r.messages ?? []) as HistoryMessage[]).find(
          (m) => m.metadata?.event_type === q.eventType && m.metadata.event_payload?.key === q.key,
        );
        if (hit?.ts) return { channel: q.channel, ts: hit.ts };
        cursor = r.response_metadata?.next_cursor || undefined;
        if (!cursor) return undefined;
      }
      return undefined;
    },
  };
}
