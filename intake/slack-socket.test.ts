/**
 * The Slack interaction server in Socket Mode, with Bolt's real SocketModeReceiver against the local fake
 * speaking Slack's Socket Mode protocol (test/fakes/slack.ts): apps.connections.open with the app-level
 * token, hello, interactive envelopes and their acks, single-use envelopes, fresh clicks, and a reconnect
 * after Slack's `disconnect`. The decision path is a recorder here (the real one: test/slack-socket.test.ts).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createSlackApi } from '../activities/slack/client.js';
import { ConfigError } from '../src/errors.js';
import { renderApproval } from '../src/slack/blocks.js';
import type { ApprovalRequestRecord } from '../src/policy/approval.js';
import { startFakeSlack, type FakeMessage, type FakeSlack } from '../test/fakes/slack.js';
import { clickPayload, until } from '../test/helpers/slack.js';
import { pendingApproval } from '../test/helpers/approvals.js';
import { AttemptLog, type ApprovalDecider, type DecideRequest } from './approvals.js';
import { OperatorStore } from './operators.js';
import {
  loadSlackServerConfig,
  SeenStore,
  SlackServerConfig,
  startSlackServer,
  type SlackServer,
  type SlackServerDeps,
} from './slack.js';

const TEAM = 'T0VIGIL01';
const APP = 'A0VIGILAPP';
const LEAD = 'U0LEAD0001';
const APP_TOKEN = 'xapp-1-A0VIGILAPP-1234567890-0123456789abcdef';
let dir: string;
let slack: FakeSlack;
let server: SlackServer;
let operators: OperatorStore;
let attempts: AttemptLog;
let seen: SeenStore;
const decided: DecideRequest[] = [];
const logged: string[] = [];

const record: ApprovalRequestRecord = pendingApproval({
  roles: ['lead'],
  requestedAt: '2026-11-26T09:00:00Z',
  deadline: '2026-11-26T09:15:00Z',
});
const message = (): FakeMessage => {
  const r = renderApproval({
    stage: 'requested',
    record,
    host: 'web-01',
    rule: 'r',
    verdict: 'malicious',
    riskScore: 90,
    reasons: [],
  });
  return { channel: 'C0SOC0001', ts: '1764147600.000001', text: r.text, blocks: r.blocks };
};
const click = (over: { teamId?: string } = {}) =>
  clickPayload({
    user: LEAD,
    teamId: over.teamId ?? TEAM,
    appId: APP,
    action: 'vigil_approve',
    message: message(),
  });

function deps(config: SlackServerConfig): SlackServerDeps {
  const decider = {
    decide: async (q: DecideRequest) => {
      decided.push(q);
      return {
        ok: true,
        receipt: { approvalId: q.approvalId, status: 'approved', approvers: [q.operator.id], needed: 1 },
        record,
      };
    },
    recordRefusal: async (a: Parameters<ApprovalDecider['recordRefusal']>[0]) =>
      attempts.record({ ...a, outcome: 'refused' }),
    approvalsOf: async () => [{ ...record, status: 'approved' as const }],
  } as unknown as ApprovalDecider;
  return {
    config,
    api: createSlackApi({ token: slack.token, apiUrl: slack.apiUrl, timeoutMs: 2000, retries: 0 }),
    operators,
    attempts,
    seen,
    decider,
    // Bolt's reconnect waits one ping timeout: short here.
    socket: { clientPingTimeoutMs: 600, connectTimeoutMs: 5000 },
    log: (l) => logged.push(l),
  };
}
const socketConfig = (appToken = APP_TOKEN) =>
  SlackServerConfig.parse({
    VIGIL_SLACK_MODE: 'socket',
    SLACK_BOT_TOKEN: slack.token,
    SLACK_APP_TOKEN: appToken,
    SLACK_TEAM_ID: TEAM,
    SLACK_APP_ID: APP,
    SLACK_APPROVER_GROUPS: 'S0LEADS01',
    VIGIL_SLACK_API_URL: slack.apiUrl,
  });

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'vigil-slack-socket-'));
  const db = join(dir, 'intake.db');
  operators = new OperatorStore(db);
  attempts = new AttemptLog(db);
  seen = new SeenStore(db);
  operators.add('lead-1', 'lead', LEAD);
  slack = await startFakeSlack({
    teamId: TEAM,
    appToken: APP_TOKEN,
    appId: APP,
    users: [{ id: LEAD }],
    groups: { S0LEADS01: [LEAD] },
  });
  server = await startSlackServer(deps(socketConfig()));
});
afterAll(async () => {
  await server?.stop();
  await slack?.close();
  seen?.close();
  attempts?.close();
  operators?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});
beforeEach(() => {
  decided.length = 0;
});
const codes = () => attempts.list(record.incidentId).map((a) => String(a.code));

describe('slack socket mode', () => {
  it('connects with the app-level token and nothing listens', () => {
    expect(server.mode).toBe('socket');
    expect(server.port).toBe(0);
    const open = slack.callsOf('apps.connections.open');
    expect(open).toHaveLength(1);
    expect(slack.socket.connections).toBe(1);
    expect(server.url).not.toMatch(/ticket|xapp/);
  });

  it('acknowledges a click delivered over the socket and runs it through the decision path', async () => {
    const before = slack.ephemerals.length;
    const id = await slack.socket.deliver(click());
    await slack.socket.acked(id);
    await until(() => decided[0], 'the decision');
    expect(decided[0]).toMatchObject({
      approvalId: record.approvalId,
      via: 'slack',
      operator: { id: 'lead-1' },
    });
    await until(() => slack.ephemerals[before], 'the private answer');
    expect(slack.ephemerals[before]?.text).toMatch(/Approved/);
  });

  it('takes an envelope once: a redelivered envelope is acknowledged, recorded and dropped', async () => {
    const payload = click();
    const id = await slack.socket.deliver(payload);
    await slack.socket.deliver(payload, { envelopeId: id });
    await until(
      () => (slack.socket.acks.filter((a) => a.envelopeId === id).length === 2 ? true : undefined),
      'both acks',
    );
    await until(() => decided[0], 'the decision');
    await until(() => (codes().includes('replay') ? true : undefined), 'the refused duplicate');
    // The same click under a new envelope id is still the same click (trigger and action are single-use).
    const again = await slack.socket.deliver(payload);
    await slack.socket.acked(again);
    await until(
      () => (codes().filter((c) => c === 'replay').length >= 2 ? true : undefined),
      'the refused redelivery',
    );
    expect(decided).toHaveLength(1);
  });

  it('refuses a click older than 300 s and one from another workspace', async () => {
    const stale = click();
    (stale.actions as { action_ts: string }[])[0]!.action_ts = (Date.now() / 1000 - 301).toFixed(6);
    await slack.socket.acked(await slack.socket.deliver(stale));
    await until(() => (codes().includes('stale-timestamp') ? true : undefined), 'the stale click');
    await slack.socket.acked(await slack.socket.deliver(click({ teamId: 'T0OTHER01' })));
    await until(() => (codes().includes('wrong-workspace') ? true : undefined), 'the foreign click');
    expect(decided).toHaveLength(0);
  });

  it('reconnects after a disconnect (refresh_requested, then warning) and keeps answering', async () => {
    for (const reason of ['refresh_requested', 'warning'] as const) {
      const opens = slack.socket.opens;
      const decisions = decided.length;
      slack.socket.disconnect(reason);
      await until(
        () => (slack.socket.opens === opens + 1 && slack.socket.openNow() === 1 ? true : undefined),
        `the new connection after ${reason}`,
      );
      const id = await slack.socket.deliver(click());
      await slack.socket.acked(id);
      // Wait for this round's decision, not the one the previous round already recorded.
      await until(() => decided[decisions], `a decision after ${reason}`);
    }
    expect(decided).toHaveLength(2);
    expect(slack.callsOf('apps.connections.open').every((c) => c.answer.ok === true)).toBe(true);
  });

  it('stops at start when Slack refuses the app-level token, without printing it', async () => {
    const wrong = 'xapp-1-A0VIGILAPP-1234567890-ffffffffffffffff';
    const err = await startSlackServer(deps(socketConfig(wrong))).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err).toBeInstanceOf(ConfigError);
    expect(err?.message).toMatch(/SLACK_APP_TOKEN: Slack refused it \(invalid_auth\)/);
    expect(err?.message).not.toContain(wrong);
    expect(logged.join('\n')).not.toMatch(/xapp-1-A0VIGILAPP-1234567890-[0-9a-f]+|ticket=[0-9a-f-]{8}/);
  });
});

describe('socket mode configuration', () => {
  const base = {
    SLACK_BOT_TOKEN: 'xoxb-0000000000-abc',
    SLACK_TEAM_ID: TEAM,
    SLACK_APP_ID: APP,
    SLACK_APPROVER_GROUPS: 'S0LEADS01',
  };
  const issues = (env: Record<string, string>) => {
    try {
      loadSlackServerConfig(env);
      return '';
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      return (e as Error).message;
    }
  };

  it('starts the server when any of the mode keys is set, and needs the app token in socket mode', () => {
    expect(loadSlackServerConfig(base)).toBeUndefined();
    expect(issues({ ...base, VIGIL_SLACK_MODE: 'socket' })).toMatch(/SLACK_APP_TOKEN.*required/);
    expect(
      loadSlackServerConfig({ ...base, VIGIL_SLACK_MODE: 'socket', SLACK_APP_TOKEN: APP_TOKEN }),
    ).toMatchObject({
      VIGIL_SLACK_MODE: 'socket',
    });
    expect(issues({ ...base, VIGIL_SLACK_MODE: 'websocket' })).toMatch(/VIGIL_SLACK_MODE/);
  });

  it('refuses an app token in http mode, and a bad token without printing it', () => {
    expect(issues({ ...base, SLACK_APP_TOKEN: APP_TOKEN })).toMatch(
      /SLACK_APP_TOKEN.*only used with VIGIL_SLACK_MODE=socket/,
    );
    expect(issues({ ...base, SLACK_APP_TOKEN: APP_TOKEN })).toMatch(/SLACK_SIGNING_SECRET/);
    const bot = 'xoxb-1234567890-secretsecret';
    const m = issues({ ...base, VIGIL_SLACK_MODE: 'socket', SLACK_APP_TOKEN: bot });
    expect(m).toMatch(/SLACK_APP_TOKEN.*app-level token/);
    expect(m).not.toContain(bot);
  });
});
