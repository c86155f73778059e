import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { z } from 'zod';
import { Bool, CsvList, Duration, parseEnv, Port, type Env } from '../../src/config.js';

const Email = z.email();

/** Loopback hosts, where plaintext (dev mailbox, local receiver) cannot be read off the network. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h === '::1') return true;
  return isIP(h) === 4 && h.startsWith('127.');
}

/** A PEM bundle read at start, so a missing or unreadable CA file stops the worker with the key named. */
const PemFile = z.string().transform((path, ctx) => {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    ctx.addIssue({ code: 'custom', message: `cannot read ${path}: ${(e as Error).message}` });
    return z.NEVER;
  }
  if (!/-----BEGIN CERTIFICATE-----/.test(text)) {
    ctx.addIssue({ code: 'custom', message: `${path} holds no PEM certificate` });
    return z.NEVER;
  }
  return text;
});

export const NotifyConfig = z
  .object({
    SMTP_HOST: z.string().min(1),
    SMTP_PORT: Port.default(587),
    /**
     * starttls: upgrade with STARTTLS and refuse a server that does not offer it; tls: implicit TLS (465);
     * opportunistic: STARTTLS when offered, plain otherwise (unauthenticated relays only);
     * none: plain (a loopback dev mailbox).
     */
    SMTP_SECURITY: z.enum(['starttls', 'tls', 'opportunistic', 'none']).default('starttls'),
    SMTP_USER: z.string().min(1).optional(),
    SMTP_PASSWORD: z.string().min(1).optional(),
    SMTP_TLS_REJECT_UNAUTHORIZED: Bool.default(true),
    /** Extra trusted CA certificates (PEM) for the SMTP server, e.g. a private CA or a self-signed relay. */
    SMTP_TLS_CA_FILE: PemFile.optional(),
    /** The name the certificate must carry, when SMTP_HOST is an address or an alias. */
    SMTP_TLS_SERVERNAME: z.string().min(1).optional(),
    SMTP_TIMEOUT: Duration.pipe(
      z.number().min(100, 'at least 100ms').max(600_000, 'at most 10m (0 would mean no timeout)'),
    ).default(10_000),
    VIGIL_MAIL_FROM: Email,
    VIGIL_MAIL_TO: CsvList.pipe(z.array(Email).min(1, 'name at least one recipient')),
    /** The next group an unanswered approval escalates to (the ladder's second step); defaults to VIGIL_MAIL_TO. */
    VIGIL_ESCALATION_TO: CsvList.pipe(z.array(Email)).optional(),
  })
  .superRefine((c, ctx) => {
    if (!!c.SMTP_USER !== !!c.SMTP_PASSWORD) {
      ctx.addIssue({
        code: 'custom',
        path: [c.SMTP_USER ? 'SMTP_PASSWORD' : 'SMTP_USER'],
        message: 'set SMTP_USER and SMTP_PASSWORD together',
      });
    }
    // A password over a connection that may be plain text is readable (or, with opportunistic STARTTLS,
    // strippable) by anyone on the path. Allowed only to a loopback mailbox.
    if (
      c.SMTP_PASSWORD &&
      (c.SMTP_SECURITY === 'none' || c.SMTP_SECURITY === 'opportunistic') &&
      !isLoopbackHost(c.SMTP_HOST)
    ) {
      ctx.addIssue({
        code: 'custom',
        path: ['SMTP_SECURITY'],
        message: `"${c.SMTP_SECURITY}" would send SMTP_PASSWORD to ${c.SMTP_HOST} without guaranteed encryption: use starttls or tls`,
      });
    }
    if (!c.SMTP_TLS_REJECT_UNAUTHORIZED && c.SMTP_TLS_CA_FILE) {
      ctx.addIssue({
        code: 'custom',
        path: ['SMTP_TLS_REJECT_UNAUTHORIZED'],
        message: 'SMTP_TLS_CA_FILE is set, so keep certificate verification on (true)',
      });
    }
  });
export type NotifyConfig = z.infer<typeof NotifyConfig>;

export function loadNotifyConfig(env: Env): NotifyConfig {
  return parseEnv(NotifyConfig, env, 'email notification configuration');
}

// ---------------------------------------------------------------------------------------------------------
// Webhooks and per-channel rate limits

/** Standard Webhooks secret: `whsec_` + base64 of 24-64 random bytes (https://www.standardwebhooks.com/). */
const WebhookSecret = z
  .string()
  .regex(/^whsec_[A-Za-z0-9+/]+={0,2}$/, {
    message: 'expected whsec_ followed by base64 (openssl rand -base64 32)',
    abort: true,
  })
  .refine((s) => {
    const n = Buffer.from(s.slice('whsec_'.length), 'base64').length;
    return n >= 24 && n <= 64;
  }, 'the secret must decode to 24-64 bytes');

const ChannelLimits = z.object({
  /** Messages sent at once per window; the rest of the window is folded into one digest. */
  limit: z.number().int().min(1).max(1000).optional(),
  /** Rate window (duration string). */
  window: Duration.optional(),
  /** A notification with the same key within this time is a duplicate (duration string). */
  dedupeWindow: Duration.optional(),
});

export const WebhookTarget = ChannelLimits.extend({
  name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,39}$/, 'lowercase letters, digits and dashes (max 40)'),
  /** The URL is a secret for Teams/Mattermost/Slack (it carries the token): never logged or returned. */
  url: z.url({ protocol: /^https?$/ }),
  /** generic: signed JSON event; teams: Adaptive Card message; mattermost, slack: incoming webhook {text}. */
  format: z.enum(['generic', 'teams', 'mattermost', 'slack']).default('generic'),
  secret: WebhookSecret.optional(),
  timeout: Duration.default(10_000),
})
  .strict()
  .superRefine((w, ctx) => {
    const u = new URL(w.url);
    if (u.protocol === 'http:' && !isLoopbackHost(u.hostname)) {
      ctx.addIssue({
        code: 'custom',
        path: ['url'],
        message: 'use https (http only to a loopback receiver)',
      });
    }
    if (u.username || u.password) {
      ctx.addIssue({ code: 'custom', path: ['url'], message: 'no credentials in the URL' });
    }
    if (w.format === 'generic' && !w.secret) {
      ctx.addIssue({
        code: 'custom',
        path: ['secret'],
        message: 'a generic webhook must be signed: set secret',
      });
    }
  });
export type WebhookTarget = z.infer<typeof WebhookTarget>;

const JsonText = z.string().transform((s, ctx) => {
  try {
    return JSON.parse(s) as unknown;
  } catch {
    ctx.addIssue({ code: 'custom', message: 'is not valid JSON' });
    return z.NEVER;
  }
});

export const ChannelsConfig = z.object({
  /** JSON array of webhooks: [{name, url, format?, secret?, timeout?, limit?, window?, dedupeWindow?}]. */
  VIGIL_WEBHOOKS: JsonText.pipe(
    z.array(WebhookTarget).superRefine((list, ctx) => {
      const seen = new Set<string>();
      list.forEach((w, i) => {
        if (seen.has(w.name))
          ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `duplicate name ${w.name}` });
        seen.add(w.name);
      });
    }),
  ).default([]),
  /** Default per-channel limits (a webhook may override them). */
  VIGIL_NOTIFY_LIMIT: z.coerce.number().int().min(1).max(1000).default(10),
  VIGIL_NOTIFY_WINDOW: Duration.pipe(z.number().min(1000, 'at least 1s')).default(600_000),
  VIGIL_NOTIFY_DEDUPE_WINDOW: Duration.default(3_600_000),
});
export type ChannelsConfig = z.infer<typeof ChannelsConfig>;

export function loadChannelsConfig(env: Env): ChannelsConfig {
  return parseEnv(ChannelsConfig, env, 'notification channel configuration');
}

/** The channels a notification can go to: `email` and `webhook:<name>`. */
export type ChannelPolicy = { limit: number; windowMs: number; dedupeMs: number };

export function channelPolicy(c: ChannelsConfig, channel: string): ChannelPolicy | undefined {
  const base = {
    limit: c.VIGIL_NOTIFY_LIMIT,
    windowMs: c.VIGIL_NOTIFY_WINDOW,
    dedupeMs: c.VIGIL_NOTIFY_DEDUPE_WINDOW,
  };
  if (channel === 'email') return base;
  const w = channel.startsWith('webhook:')
    ? c.VIGIL_WEBHOOKS.find((x) => x.name === channel.slice('webhook:'.length))
    : undefined;
  if (!w) return undefined;
  return {
    limit: w.limit ?? base.limit,
    windowMs: Math.max(1000, w.window ?? base.windowMs),
    dedupeMs: w.dedupeWindow ?? base.dedupeMs,
  };
}
