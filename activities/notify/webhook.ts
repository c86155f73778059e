/**
 * Signed webhooks: the only file that speaks HTTP for notifications.
 *
 * Signature scheme (Standard Webhooks 1.0, https://www.standardwebhooks.com/): every request carries
 *   webhook-id:        msg_<32 hex>, the notification's idempotency id, the same on every retry
 *   webhook-timestamp: Unix seconds of this attempt
 *   webhook-signature: v1,<base64 HMAC-SHA256(key, `${id}.${timestamp}.${rawBody}`)>
 * where key = base64-decode(secret without its `whsec_` prefix). A receiver recomputes the HMAC over the
 * raw body, compares in constant time, refuses a timestamp more than 5 minutes from its clock, and
 * remembers ids for at least that long to refuse replays (a retry of a delivered id is acknowledged, not
 * processed twice). Any Standard Webhooks library verifies these requests.
 *
 * Payloads: generic -> {type, id, timestamp, data}; teams -> an Adaptive Card message (Teams Workflows);
 * mattermost / slack -> {text} (incoming webhooks). Redirects are not followed (a redirect could point
 * anywhere, past the outbound URL guard). The URL is a secret (chat webhook tokens live in it): it never
 * appears in errors, logs or returned values; the webhook's name does.
 *
 * Destinations: with an outbound policy (VIGIL_OUTBOUND_ALLOW...), the connection goes through the outbound
 * guard's `lookup` (activities/lib/ssrf.ts), so the socket connects only to an address the guard checked at
 * connect time: a refused destination is a final Forbidden, a name that does not resolve now an Unavailable
 * (retried), and there is no window between a check and a second lookup for DNS rebinding.
 */
import { createHmac } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import type { AxiosInstance, AxiosResponse } from 'axios';
import type { NotificationMessage } from '../../src/contracts/notify.js';
import { ErrorType } from '../../src/errors.js';
import { failure, httpFailure } from '../lib/failures.js';
import { createOutboundHttp, DestinationRefused, outboundFailure, type OutboundPolicy } from '../lib/ssrf.js';
import type { WebhookTarget } from './config.js';
import { chatLines, markdownEscape, slackEscape } from './templates.js';

/** Called with the URL before every request; throws to refuse it (SSRF guard from the composition root). */
export type OutboundGuard = (url: string) => Promise<void>;

export interface WebhookDelivery {
  id: string;
  status: number;
  attemptTimestamp: number;
}

export interface WebhookSender {
  send(name: string, id: string, message: NotificationMessage): Promise<WebhookDelivery>;
  has(name: string): boolean;
}

/** Chat payloads are capped well under Slack's 40,000 and Teams' ~28 KB message limits. */
const MAX_CHAT_TEXT = 12_000;
const truncate = (s: string) =>
  s.length <= MAX_CHAT_TEXT
    ? s
    : `${s.slice(0, MAX_CHAT_TEXT)}\n... (truncated; the full list is in the digest email and the incidents)`;

export function signatureFor(secret: string, id: string, timestamp: number, body: string): string {
  const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
  return `v1,${createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64')}`;
}

/** The JSON body a webhook of `format` receives. */
export function webhookBody(
  format: WebhookTarget['format'],
  id: string,
  at: string,
  m: NotificationMessage,
): unknown {
  if (format === 'generic') {
    return m.kind === 'incident'
      ? { type: 'vigil.incident.notice', id, timestamp: at, data: m.notice }
      : { type: 'vigil.notify.digest', id, timestamp: at, data: m.digest };
  }
  if (format === 'teams') {
    // Teams Workflows "post to a channel when a webhook request is received": an Adaptive Card message.
    // https://learn.microsoft.com/en-us/microsoftteams/platform/webhooks-and-connectors/how-to/connectors-using
    const c = chatLines(m, markdownEscape);
    return {
      type: 'message',
      attachments: [
        {
          contentType: 'application/vnd.microsoft.card.adaptive',
          contentUrl: null,
          content: {
            $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
            type: 'AdaptiveCard',
            version: '1.4',
            body: [
              { type: 'TextBlock', size: 'Medium', weight: 'Bolder', text: c.title, wrap: true },
              { type: 'FactSet', facts: c.facts.map(([title, value]) => ({ title, value })) },
              { type: 'TextBlock', text: truncate(c.lines.join('\n\n')), wrap: true },
            ],
          },
        },
      ],
    };
  }
  // Mattermost and Slack incoming webhooks: {"text": ...} (Mattermost accepts the Slack-compatible shape).
  // https://developers.mattermost.com/integrate/webhooks/incoming/ ; https://api.slack.com/messaging/webhooks
  const escape = format === 'slack' ? slackEscape : markdownEscape;
  const bold = (s: string) => (format === 'slack' ? `*${s}*` : `**${s}**`);
  const c = chatLines(m, escape);
  return {
    text: truncate([bold(c.title), ...c.facts.map(([k, v]) => `${escape(k)}: ${v}`), ...c.lines].join('\n')),
  };
}

/** Remove the URL (and its path, which carries chat tokens) from a message that may quote it. */
function redact(text: string, url: string): string {
  const u = new URL(url);
  let out = text.split(url).join('<webhook url>');
  if (u.pathname.length > 1) out = out.split(u.pathname).join('<path>');
  return out;
}

const readSome = (res: AxiosResponse<string>, max = 512): string =>
  String(res.data ?? '')
    .slice(0, max)
    .replace(/[\u0000-\u001f\u007f]+/g, ' ');

/**
 * `opts.policy`: the outbound policy every connection is held to (the worker passes VIGIL_OUTBOUND_*),
 * required, so no caller gets a sender without SSRF protection by forgetting it: the URL is checked when the
 * request is made and each address when the socket connects, so the name is resolved once, by the check that
 * decides. `opts.guard`, when given, is asked before every request as well.
 */
export function createWebhookSender(
  targets: readonly WebhookTarget[],
  opts: { policy: OutboundPolicy; guard?: OutboundGuard; now?: () => number },
): WebhookSender {
  const byName = new Map(targets.map((t) => [t.name, t]));
  const now = opts.now ?? (() => Date.now());
  const connectPolicy: OutboundPolicy = opts.policy;
  const clients = new Map<string, AxiosInstance>();
  const clientFor = (t: WebhookTarget) => {
    let c = clients.get(t.name);
    if (!c) {
      c = createOutboundHttp({ policy: connectPolicy, timeoutMs: t.timeout, maxResponseBytes: 64 * 1024 });
      clients.set(t.name, c);
    }
    return c;
  };
  return {
    has: (name) => byName.has(name),
    async send(name, id, message) {
      const t = byName.get(name);
      if (!t)
        throw failure(ErrorType.InvalidInput, `no webhook named "${name}" is configured (VIGIL_WEBHOOKS)`);
      if (opts.guard) {
        try {
          await opts.guard(t.url);
        } catch (e) {
          if (e instanceof ApplicationFailure) throw e;
          // A name that does not resolve right now is an outage, retried; only a refused destination is final.
          if (!(e instanceof DestinationRefused))
            throw failure(
              ErrorType.Unavailable,
              `webhook ${name}: the destination could not be resolved (${redact((e as Error).message, t.url)})`,
            );
          throw failure(
            ErrorType.Forbidden,
            `webhook ${name}: the outbound URL guard refused the destination (${redact((e as Error).message, t.url)})`,
          );
        }
      }
      const ms = now();
      const timestamp = Math.floor(ms / 1000);
      const body = JSON.stringify(webhookBody(t.format, id, new Date(ms).toISOString(), message));
      const headers: Record<string, string> = {
        'content-type': 'application/json',
        'user-agent': 'vigil-notify/1',
        'webhook-id': id,
        'webhook-timestamp': String(timestamp),
        // The id again under the common idempotency header name, for receivers that look for that.
        'idempotency-key': id,
      };
      if (t.secret) headers['webhook-signature'] = signatureFor(t.secret, id, timestamp, body);
      let res: AxiosResponse<string>;
      try {
        res = await clientFor(t).post<string>(t.url, body, {
          headers,
          responseType: 'text',
          transformResponse: (x: unknown) => x,
          validateStatus: () => true,
        });
      } catch (e) {
        const f = outboundFailure(e, `webhook ${name}`, undefined, [t.url, new URL(t.url).pathname]);
        // A refusal at connect time (the name now resolves somewhere the policy forbids) is final.
        if (f.type === ErrorType.Forbidden) throw f;
        const err = e as { code?: string };
        const timedOut =
          err.code === 'ECONNABORTED' || err.code === 'ERR_CANCELED' || err.code === 'ETIMEDOUT';
        throw failure(
          ErrorType.Unavailable,
          `webhook ${name}: ${timedOut ? `no answer within ${t.timeout} ms` : redact(err.code ?? f.message, t.url)}`,
        );
      }
      if (res.status >= 200 && res.status < 300)
        return { id, status: res.status, attemptTimestamp: timestamp };
      const text = redact(readSome(res), t.url);
      if (res.status >= 300 && res.status < 400) {
        throw failure(
          ErrorType.UpstreamRejected,
          `webhook ${name}: answered ${res.status} (a redirect); redirects are not followed: configure the final URL`,
          { status: res.status },
        );
      }
      const ra: unknown = res.headers['retry-after'];
      throw httpFailure(
        res.status,
        `webhook ${name}: ${text || res.statusText}`,
        typeof ra === 'string' ? ra : null,
      );
    },
  };
}
