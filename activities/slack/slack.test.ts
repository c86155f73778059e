/** The Slack client and channel against a local server speaking Slack's Web API (test/fakes/slack.ts). */
import { ApplicationFailure } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApprovalNotice } from '../../src/contracts/playbook.js';
import { BLOCK_ACTIONS, BLOCK_OUTCOME } from '../../src/slack/blocks.js';
import { startFakeSlack, type FakeSlack } from '../../test/fakes/slack.js';
import { createSlackApi } from './client.js';
import { loadSlackConfig, SlackConfig } from './config.js';
import { createSlackChannel, EVENT_REQUEST } from './index.js';

let slack: FakeSlack;
beforeAll(async () => {
  slack = await startFakeSlack({
    channels: ['C0SOC0001'],
    users: [{ id: 'U0LEAD0001' }],
    groups: { S0LEADS01: ['U0LEAD0001'] },
  });
});
afterAll(() => slack.close());

const api = () => createSlackApi({ token: slack.token, apiUrl: slack.apiUrl, timeoutMs: 2000, retries: 0 });
const cfg = () =>
  SlackConfig.parse({
    SLACK_BOT_TOKEN: slack.token,
    SLACK_CHANNEL: 'C0SOC0001',
    SLACK_APPROVER_GROUPS: 'S0LEADS01',
    SLACK_ESCALATION_GROUPS: 'S0CISO001',
    VIGIL_SLACK_API_URL: slack.apiUrl,
  });
async function failureOf(p: Promise<unknown>): Promise<ApplicationFailure> {
  try {
    await p;
  } catch (e) {
    if (e instanceof ApplicationFailure) return e;
    throw e;
  }
  throw new Error('did not fail');
}
let n = 0;
const notice = (
  stage: ApprovalNotice['stage'],
  over: Partial<ApprovalNotice['record']> = {},
): ApprovalNotice => ({
  stage,
  host: 'web-01',
  rule: 'Reverse shell',
  verdict: 'malicious',
  riskScore: 90,
  reasons: ['r1'],
  record: {
    approvalId: 'isolate-host-1',
    incidentId: `inc-web-01-${String(++n).padStart(16, '0')}`,
    action: 'isolate-host',
    class: 'high',
    params: { host: 'web-01' },
    paramsHash: '0123456789abcdef',
    needed: 1,
    roles: ['lead'],
    requester: 'playbook:suspicious-process',
    requestedAt: new Date().toISOString(),
    deadline: new Date(Date.now() + 60_000).toISOString(),
    status: 'pending',
    approvers: [],
    escalation: 0,
    ...over,
  },
});

describe('slack client', () => {
  it('sends form-encoded calls with the bot token and blocks as a JSON string', async () => {
    const p = await api().postMessage({
      channel: 'C0SOC0001',
      text: 'hi',
      blocks: [{ type: 'section', text: { type: 'mrkdwn', text: 'x' } }],
    });
    const call = slack.callsOf('chat.postMessage').at(-1);
    expect(call?.args).toMatchObject({
      channel: 'C0SOC0001',
      text: 'hi',
      parse: 'none',
      link_names: 'false',
    });
    expect(call?.args.blocks).toEqual([{ type: 'section', text: { type: 'mrkdwn', text: 'x' } }]);
    expect(p.ts).toMatch(/^\d+\.\d{6}$/);
  });

  it('turns a 429 into a RateLimited failure that retries after Retry-After', async () => {
    slack.failNext('chat.postMessage', { status: 429, retryAfter: 7 });
    const f = await failureOf(api().postMessage({ channel: 'C0SOC0001', text: 'x' }));
    expect(f.type).toBe('RateLimited');
    expect(f.nonRetryable).toBe(false);
    expect(f.nextRetryDelay).toBe(7000);
  });

  it('maps {ok:false} answers onto final or retryable failures', async () => {
    expect((await failureOf(api().postMessage({ channel: 'C0NOPE0001', text: 'x' }))).type).toBe('NotFound');
    slack.failNext('users.info', { error: 'missing_scope' });
    const scope = await failureOf(api().userInfo('U0LEAD0001'));
    expect([scope.type, scope.nonRetryable]).toEqual(['Misconfigured', true]);
    slack.failNext('users.info', { error: 'internal_error' });
    expect((await failureOf(api().userInfo('U0LEAD0001'))).nonRetryable).toBe(false);
    const bad = createSlackApi({
      token: 'xoxb-wrong-0000000000',
      apiUrl: slack.apiUrl,
      timeoutMs: 2000,
      retries: 0,
    });
    const auth = await failureOf(bad.usergroupMembers('S0LEADS01'));
    expect(auth.type).toBe('Unauthenticated');
    expect(auth.message).not.toContain('xoxb-wrong');
  });

  it('times out a server that does not answer', async () => {
    const { createServer } = await import('node:http');
    const hang = createServer(() => undefined);
    await new Promise<void>((r) => hang.listen(0, '127.0.0.1', () => r()));
    const port = (hang.address() as { port: number }).port;
    const t0 = Date.now();
    const f = await failureOf(
      createSlackApi({
        token: slack.token,
        apiUrl: `http://127.0.0.1:${port}/api/`,
        timeoutMs: 500,
        retries: 0,
      }).userInfo('U1'),
    );
    expect(f.type).toBe('Unavailable');
    expect(Date.now() - t0).toBeLessThan(5000);
    hang.closeAllConnections();
    hang.close();
  });

  it('reads users and user groups', async () => {
    expect(await api().userInfo('U0LEAD0001')).toMatchObject({
      id: 'U0LEAD0001',
      isBot: false,
      isRestricted: false,
    });
    expect(await api().usergroupMembers('S0LEADS01')).toEqual(['U0LEAD0001']);
  });

  it('refuses a config without a bot token format, naming the key', () => {
    expect(() => loadSlackConfig({ SLACK_BOT_TOKEN: 'xoxp-user-token', SLACK_CHANNEL: 'C0SOC0001' })).toThrow(
      /SLACK_BOT_TOKEN/,
    );
    expect(() => loadSlackConfig({ SLACK_BOT_TOKEN: slack.token, SLACK_CHANNEL: '#soc' })).toThrow(
      /SLACK_CHANNEL/,
    );
    expect(loadSlackConfig({})).toBeUndefined();
  });
});

describe('slack channel', () => {
  const requests = (incidentId: string) =>
    (slack.channels.get('C0SOC0001') ?? []).filter(
      (m) => m.metadata?.event_type === EVENT_REQUEST && m.metadata.event_payload.incident_id === incidentId,
    );

  it('posts an approval request once, however often a retry asks', async () => {
    const ch = createSlackChannel(api(), cfg());
    const n1 = notice('requested');
    const a = await ch.approval(n1);
    const b = await ch.approval(n1);
    expect(b).toMatchObject({ ts: a.ts, reused: true });
    expect(requests(n1.record.incidentId)).toHaveLength(1);
    expect(JSON.stringify(requests(n1.record.incidentId)[0]?.blocks)).toContain('<!subteam^S0LEADS01>');
  });

  it('posts again after a failed post, and only once', async () => {
    const ch = createSlackChannel(api(), cfg());
    const n1 = notice('requested');
    slack.failNext('chat.postMessage', { error: 'internal_error' });
    await expect(ch.approval(n1)).rejects.toMatchObject({ type: 'Unavailable' });
    await ch.approval(n1);
    await ch.approval(n1);
    expect(requests(n1.record.incidentId)).toHaveLength(1);
  });

  it('threads reminders and escalations under the request, once each, mentioning the escalation group', async () => {
    const ch = createSlackChannel(api(), cfg());
    const n1 = notice('requested');
    const req = await ch.approval(n1);
    const esc = { ...n1, stage: 'escalated' as const };
    const s1 = await ch.approval(esc);
    const s2 = await ch.approval(esc);
    expect(s1).toMatchObject({ kind: 'threaded', reused: false });
    expect(s2).toMatchObject({ ts: s1.ts, reused: true });
    const msg = slack.channels.get('C0SOC0001')?.find((m) => m.ts === s1.ts);
    expect(msg).toMatchObject({ thread_ts: req.ts, reply_broadcast: true });
    expect(msg?.text).toContain('<!subteam^S0CISO001>');
  });

  it('replaces the buttons with the outcome on the same message once decided', async () => {
    const ch = createSlackChannel(api(), cfg());
    const n1 = notice('requested');
    const req = await ch.approval(n1);
    const decided = notice('decided', {
      ...n1.record,
      status: 'denied',
      decidedBy: { operator: 'lead-1', at: new Date().toISOString(), via: 'cli', reason: 'false positive' },
    });
    const u = await ch.approval(decided);
    expect(u).toMatchObject({ kind: 'updated', ts: req.ts });
    const msg = requests(n1.record.incidentId)[0];
    expect(msg?.blocks?.some((b) => b.block_id === BLOCK_ACTIONS)).toBe(false);
    expect(JSON.stringify(msg?.blocks?.find((b) => b.block_id === BLOCK_OUTCOME))).toMatch(
      /Denied\* by `lead-1` via cli/,
    );
    expect(requests(n1.record.incidentId)).toHaveLength(1);
  });
});
