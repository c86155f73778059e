/**
 * The Slack interaction server's gate with Bolt's real receiver on loopback: timestamps in both directions,
 * signatures, single use, workspace and app ids. The decision path is replaced by a recorder here (the real
 * one runs in test/slack.test.ts against Temporal).
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createSlackApi } from '../activities/slack/client.js';
import { renderApproval } from '../src/slack/blocks.js';
import type { ApprovalRequestRecord } from '../src/policy/approval.js';
import { startFakeSlack, type FakeMessage, type FakeSlack } from '../test/fakes/slack.js';
import { clickPayload, formBody, postSigned, sign, SIGNING_SECRET, until } from '../test/helpers/slack.js';
import { pendingApproval } from '../test/helpers/approvals.js';
import { AttemptLog, type ApprovalDecider, type DecideRequest } from './approvals.js';
import { OperatorStore } from './operators.js';
import {
  loadSlackServerConfig,
  SeenStore,
  SlackServerConfig,
  startSlackServer,
  type SlackServer,
} from './slack.js';

const TEAM = 'T0VIGIL01';
const APP = 'A0VIGILAPP';
const LEAD = 'U0LEAD0001';
let dir: string;
let slack: FakeSlack;
let server: SlackServer;
let operators: OperatorStore;
let attempts: AttemptLog;
let seen: SeenStore;
const decided: DecideRequest[] = [];
let clock = () => Date.now();

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

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'vigil-slack-gate-'));
  const db = join(dir, 'intake.db');
  operators = new OperatorStore(db);
  attempts = new AttemptLog(db);
  seen = new SeenStore(db);
  operators.add('lead-1', 'lead', LEAD);
  slack = await startFakeSlack({ teamId: TEAM, users: [{ id: LEAD }], groups: { S0LEADS01: [LEAD] } });
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
  server = await startSlackServer(
    {
      config: SlackServerConfig.parse({
        SLACK_BOT_TOKEN: slack.token,
        SLACK_SIGNING_SECRET: SIGNING_SECRET,
        SLACK_TEAM_ID: TEAM,
        SLACK_APP_ID: APP,
        SLACK_APPROVER_GROUPS: 'S0LEADS01',
        VIGIL_SLACK_API_URL: slack.apiUrl,
      }),
      api: createSlackApi({ token: slack.token, apiUrl: slack.apiUrl, timeoutMs: 2000, retries: 0 }),
      operators,
      attempts,
      seen,
      decider,
      now: () => clock(),
      log: () => undefined,
    },
    { host: '127.0.0.1', port: 0 },
  );
});
afterAll(async () => {
  await server.stop();
  await slack.close();
  seen.close();
  attempts.close();
  operators.close();
  rmSync(dir, { recursive: true, force: true });
});
beforeEach(() => {
  decided.length = 0;
  clock = () => Date.now();
});

const body = (over: { teamId?: string; appId?: string; value?: string } = {}) =>
  formBody(
    clickPayload({
      user: LEAD,
      teamId: over.teamId ?? TEAM,
      appId: over.appId ?? APP,
      action: 'vigil_approve',
      message: message(),
      value: over.value,
    }),
  );
const sha256 = (b: string) => createHash('sha256').update(b).digest('hex');
const lastCode = () => String(attempts.list(record.incidentId).at(-1)?.code);

describe('slack gate', () => {
  it('passes a correctly signed, fresh click to the decision path with the click bound to the approval', async () => {
    const before = slack.ephemerals.length;
    expect((await postSigned(server.url, body())).status).toBe(200);
    await until(() => decided[0], 'the decision');
    expect(decided[0]).toMatchObject({
      incidentId: record.incidentId,
      approvalId: record.approvalId,
      paramsHash: record.paramsHash,
      decision: 'approve',
      via: 'slack',
      operator: { id: 'lead-1' },
    });
    await until(() => slack.ephemerals[before], 'the answer');
    expect(slack.ephemerals[before]?.text).toMatch(/Approved/);
  });

  it.each([
    ['stale-timestamp', -301],
    ['future-timestamp', 301],
  ])('refuses a %s outside 300 s, even correctly signed', async (code, skew) => {
    const ts = Math.floor(Date.now() / 1000) + skew;
    expect((await postSigned(server.url, body(), { ts })).status).toBe(401);
    expect(lastCode()).toBe(code);
    expect(decided).toHaveLength(0);
  });

  it('accepts the window edge and refuses one second beyond it (server clock moved)', async () => {
    const ts = Math.floor(Date.now() / 1000);
    clock = () => (ts + 300) * 1000;
    expect((await postSigned(server.url, body(), { ts })).status).toBe(200);
    await until(() => decided[0], 'the decision at the edge');
    clock = () => (ts + 301) * 1000;
    expect((await postSigned(server.url, body(), { ts })).status).toBe(401);
    expect(decided).toHaveLength(1);
  });

  it('refuses a wrong secret, an altered body and missing headers', async () => {
    expect((await postSigned(server.url, body(), { secret: 'f'.repeat(32) })).status).toBe(401);
    expect(lastCode()).toBe('bad-signature');
    const ts = Math.floor(Date.now() / 1000);
    const b = body();
    expect(
      (
        await postSigned(server.url, b.replace('vigil_approve', 'vigil_deny'), {
          ts,
          signature: sign(SIGNING_SECRET, ts, b),
        })
      ).status,
    ).toBe(401);
    const res = await fetch(server.url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: b,
    });
    expect(res.status).toBe(401);
    expect(decided).toHaveLength(0);
  });

  it('takes a signed request once: the same bytes again are a replay', async () => {
    const b = body();
    const first = await postSigned(server.url, b);
    expect(first.status).toBe(200);
    const again = await postSigned(server.url, b, {
      ts: Number(first.headers.ts),
      signature: first.headers.signature,
    });
    expect(again.status).toBe(401);
    expect(lastCode()).toBe('replay');
    await until(() => decided[0], 'the first decision');
    await new Promise((r) => setTimeout(r, 200));
    expect(decided).toHaveLength(1);
  });

  it('takes a signature once in any spelling: text after the hash does not make a replay new', async () => {
    const b = body();
    const first = await postSigned(server.url, b);
    expect(first.status).toBe(200);
    await until(() => decided[0], 'the first decision');
    // Bolt compares only what lies between the first and a second '=' (split('=')), so these still verify.
    for (const suffix of ['=1', '=', '=v0']) {
      const again = await postSigned(server.url, b, {
        ts: Number(first.headers.ts),
        signature: `${first.headers.signature}${suffix}`,
      });
      expect(again.status).toBe(401);
      expect(lastCode()).toBe('bad-signature');
    }
    await new Promise((r) => setTimeout(r, 200));
    expect(decided).toHaveLength(1);
  });

  it('refuses a click from another workspace or app', async () => {
    for (const over of [{ teamId: 'T0OTHER01' }, { appId: 'A0OTHER01' }]) {
      expect((await postSigned(server.url, body(over))).status).toBe(200);
    }
    await until(
      () => (attempts.list().filter((a) => a.code === 'wrong-workspace').length >= 2 ? true : undefined),
      'the refusals',
    );
    expect(decided).toHaveLength(0);
  });

  it('answers 400 to correctly signed garbage and records it as signed, with a digest and not the body', async () => {
    const click = clickPayload({
      user: LEAD,
      teamId: TEAM,
      appId: APP,
      action: 'vigil_approve',
      message: message(),
    });
    const first = (click.actions as Record<string, unknown>[])[0];
    const { actions: _, ...noActions } = click;
    const bodies = [
      'payload=%7Bnot-json',
      'foo=bar',
      formBody(noActions),
      formBody({ ...click, actions: [{ ...first, action_id: 'vigil_launch' }] }),
      formBody({ ...click, type: 'view_submission', view: { id: 'V0VIEW001' } }),
      body({ value: 'apv1.bogus' }),
      formBody({ ...click, actions: [{ ...first, value: 'vdv1.bogus', action_id: 'vigil_verdict_tp' }] }),
      formBody({ ...click, user: undefined }),
    ];
    for (const b of bodies) {
      const t0 = Date.now();
      expect((await postSigned(server.url, b)).status).toBe(400);
      // Answered by the gate, not by Bolt's unhandled-request timeout (3 s).
      expect(Date.now() - t0).toBeLessThan(2000);
      const row = attempts.list().find((a) => String(a.message).includes(sha256(b)));
      expect(row).toMatchObject({ code: 'malformed', outcome: 'refused', via: 'slack' });
      expect(String(row?.message)).toMatch(/^correctly signed request/);
      for (const secret of ['deprecated-verification-token', 'hooks.slack.com', 'apv1.', 'not-json'])
        expect(String(row?.message)).not.toContain(secret);
    }
    const rows = attempts.list().filter((a) => bodies.some((b) => String(a.message).includes(sha256(b))));
    expect(rows).toHaveLength(bodies.length);
    // The ids the payload names, where it names them.
    expect(rows.filter((a) => a.operator === `slack:${LEAD}`)).toHaveLength(bodies.length - 3);
    expect(rows.filter((a) => String(a.message).includes(`team ${TEAM}`))).toHaveLength(bodies.length - 2);
    await new Promise((r) => setTimeout(r, 200));
    expect(decided).toHaveLength(0);
    // Refused at the gate: the listeners (which answer "this button does not name ...") never saw them.
    expect(slack.ephemerals.some((e) => e.text.includes('does not name'))).toBe(false);
  });

  it('records correctly signed garbage at a bounded rate, apart from unverified requests', async () => {
    const t = Date.now() - 60_000;
    clock = () => t;
    const ts = Math.floor(t / 1000);
    // Unverified requests first: they do not use up what signed ones may record.
    for (let i = 0; i < 60; i++)
      expect((await postSigned(server.url, `payload=u${i}`, { ts, secret: 'f'.repeat(32) })).status).toBe(
        401,
      );
    const bodies = Array.from({ length: 60 }, (_, i) => `payload=garbage-${i}`);
    for (const b of bodies) expect((await postSigned(server.url, b, { ts })).status).toBe(400);
    const recorded = attempts.list().filter((a) => bodies.some((b) => String(a.message).includes(sha256(b))));
    expect(recorded).toHaveLength(50);
  });

  it('refuses an oversized body before reading it all', async () => {
    const res = await postSigned(server.url, `payload=${'x'.repeat(300 * 1024)}`);
    expect(res.status).toBe(413);
  });
});

describe('single use and operator links', () => {
  it('claims an id once until it expires', () => {
    expect(seen.claim('k1', 1000, 10)).toBe(true);
    expect(seen.claim('k1', 1005, 10)).toBe(false);
    expect(seen.claim('k1', 1011, 10)).toBe(true);
  });

  it('links one Slack user to one operator, without touching the token', () => {
    const { token } = operators.add('ana-9', 'analyst');
    expect(operators.linkSlack('ana-9', 'U0ANA0009')?.slackUserId).toBe('U0ANA0009');
    expect(operators.authenticate(token)?.id).toBe('ana-9');
    expect(operators.bySlackUser('U0ANA0009')?.id).toBe('ana-9');
    expect(() => operators.linkSlack('lead-1', 'U0ANA0009')).toThrow(/already linked to operator ana-9/);
    expect(() => operators.linkSlack('ana-9', 'not-an-id')).toThrow(/slack user id/);
    expect(operators.linkSlack('nobody', 'U0NOBODY1')).toBeUndefined();
    expect(operators.linkSlack('ana-9', null)?.slackUserId).toBeNull();
    expect(operators.bySlackUser('U0ANA0009')).toBeUndefined();
  });

  it('needs the whole server configuration once a signing secret is set, naming the key', () => {
    expect(loadSlackServerConfig({})).toBeUndefined();
    expect(() => loadSlackServerConfig({ SLACK_SIGNING_SECRET: SIGNING_SECRET })).toThrow(/SLACK_BOT_TOKEN/);
    expect(() =>
      loadSlackServerConfig({
        SLACK_SIGNING_SECRET: SIGNING_SECRET,
        SLACK_BOT_TOKEN: 'xoxb-0000000000-abc',
        SLACK_TEAM_ID: TEAM,
        SLACK_APP_ID: APP,
      }),
    ).toThrow(/SLACK_APPROVER_GROUPS/);
  });
});
