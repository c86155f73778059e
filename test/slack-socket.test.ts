/**
 * Approvals and verdicts in Slack over Socket Mode, end to end: the real Temporal dev server and playbook
 * worker, Bolt's real SocketModeReceiver (intake/slack.ts, VIGIL_SLACK_MODE=socket) connected to the local
 * fake speaking Slack's Web API and Socket Mode protocol (test/fakes/slack.ts). An incident asks for
 * approval -> the worker posts the message -> clicks arrive as `interactive` envelopes on the WebSocket and
 * are acknowledged -> the same checks as over HTTP refuse whoever may not decide (privately) and duplicate
 * envelopes -> after Slack's `disconnect` the app reconnects -> an authorized click resumes the workflow,
 * the endpoint agent (in this process, isolation in dry-run) runs the action and the message shows the
 * outcome. The event names a harmless `sleep` started here, so no other process is ever touched.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createSlackApi } from '../activities/slack/client.js';
import { PolicyEngine } from '../activities/policy/engine.js';
import { approvalsQuery } from '../src/contracts/approval.js';
import type { IncidentStatus } from '../src/contracts/incident.js';
import { repoRoot } from '../src/paths.js';
import { BLOCK_ACTIONS, BLOCK_OUTCOME, BLOCK_VERDICT, verdictRef } from '../src/slack/blocks.js';
import { approverCheck, AttemptLog, createApprovalDecider } from '../intake/approvals.js';
import { temporalStarter } from '../intake/incidents.js';
import { OperatorStore } from '../intake/operators.js';
import { SeenStore, SlackServerConfig, startSlackServer, type SlackServer } from '../intake/slack.js';
import { incidentStatusVia, VerdictStore } from '../intake/verdicts.js';
import { startFakeSlack, type FakeMessage, type FakeSlack } from './fakes/slack.js';
import { agentEnv, startTestAgent } from './helpers/agent.js';
import { spawnEntry } from './helpers/process.js';
import { waitForApproval } from './helpers/approvals.js';
import { reverseShell } from './helpers/events.js';
import { clickPayload, until, type ClickOptions } from './helpers/slack.js';
import { startTestSmtp, type TestSmtp } from './helpers/smtp.js';
import { startWorker, testClient, uniqueQueue, workerEnv } from './helpers/temporal.js';

const TEAM = 'T0VIGIL01';
const APP = 'A0VIGILAPP';
const CHANNEL = 'C0SOC0001';
const GROUP = 'S0APPROVE';
const APP_TOKEN = 'xapp-1-A0VIGILAPP-2222222222-00112233445566778899';
const U = { lead: 'U0LEAD0001', analyst: 'U0ANALYST1', guest: 'U0GUEST001', outsider: 'U0OUTSIDE1' };

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
    appId: APP,
    appToken: APP_TOKEN,
    channels: [CHANNEL],
    users: [{ id: U.lead }, { id: U.analyst }, { id: U.guest, is_restricted: true }, { id: U.outsider }],
    groups: { [GROUP]: [U.lead, U.analyst, U.guest] },
  });
  dir = mkdtempSync(join(tmpdir(), 'vigil-slack-socket-'));
  const db = join(dir, 'intake.db');
  operators = new OperatorStore(db);
  attempts = new AttemptLog(db);
  seen = new SeenStore(db);
  verdicts = new VerdictStore(db);
  operators.add('lead-1', 'lead', U.lead);
  operators.add('ana-1', 'analyst', U.analyst);
  operators.add('guest-1', 'lead', U.guest);
  operators.add('outsider-1', 'lead', U.outsider);
  const policy = PolicyEngine.load(join(repoRoot(), 'policies'));
  const config = SlackServerConfig.parse({
    VIGIL_SLACK_MODE: 'socket',
    SLACK_BOT_TOKEN: slack.token,
    SLACK_APP_TOKEN: APP_TOKEN,
    SLACK_TEAM_ID: TEAM,
    SLACK_APP_ID: APP,
    SLACK_APPROVER_GROUPS: GROUP,
    VIGIL_SLACK_API_URL: slack.apiUrl,
  });
  server = await startSlackServer({
    config,
    api: createSlackApi({ token: slack.token, apiUrl: slack.apiUrl, timeoutMs: 3000, retries: 0 }),
    operators,
    attempts,
    seen,
    // What workers/intake.ts wires: the policy re-check, then the workflow's Update; the verdict path.
    decider: createApprovalDecider({
      operators,
      attempts,
      connection: client.connection,
      namespace: client.options.namespace,
      mayApprove: approverCheck(policy),
    }),
    verdicts: { verdicts, incidentStatus: incidentStatusVia(client) },
    // Bolt waits one ping timeout before reconnecting: short here.
    socket: { clientPingTimeoutMs: 800 },
    log: () => undefined,
  });
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

const ephemeralsFor = (user: string) => slack.ephemerals.filter((e) => e.user === user).map((e) => e.text);

/** A click delivered over the socket as an `interactive` envelope; waits for its ack and the private answer. */
async function click(
  user: string,
  message: FakeMessage,
  action: ClickOptions['action'] = 'vigil_approve',
  o: { teamId?: string; payload?: Record<string, unknown>; envelopeId?: string; answer?: boolean } = {},
) {
  const before = ephemeralsFor(user).length;
  const payload = o.payload ?? clickPayload({ user, teamId: o.teamId ?? TEAM, appId: APP, action, message });
  const envelopeId = await slack.socket.deliver(payload, { envelopeId: o.envelopeId });
  await slack.socket.acked(envelopeId);
  const answer =
    o.answer === false ? undefined : await until(() => ephemeralsFor(user)[before], `the answer to ${user}`);
  return { envelopeId, payload, answer };
}

describe('approvals and verdicts in Slack over Socket Mode', () => {
  it('resumes the workflow for an authorized click over the socket, after refusals, a duplicate envelope and a reconnect', async () => {
    expect(server.mode).toBe('socket');
    const hostId = `sock-${randomUUID().slice(0, 8)}`;
    const victim: ChildProcess = spawn('sleep', ['600'], { stdio: 'ignore' });
    const pid = victim.pid ?? 0;
    const event = reverseShell(hostId, (d) => {
      d.output_fields['proc.pid'] = pid;
      d.output_fields['proc.exepath'] = readlinkSync(`/proc/${pid}/exe`);
    });
    const queue = uniqueQueue('slack-socket');
    const agent = await startTestAgent(agentEnv(hostId, queue)).catch((e: unknown) => {
      victim.kill('SIGKILL');
      throw e;
    });
    const worker = await startWorker(
      workerEnv(smtp.port, queue, {
        SLACK_BOT_TOKEN: slack.token,
        SLACK_CHANNEL: CHANNEL,
        SLACK_APPROVER_GROUPS: GROUP,
        VIGIL_SLACK_API_URL: slack.apiUrl,
        VIGIL_APPROVAL_REMIND_AFTER: '4m',
        VIGIL_APPROVAL_ESCALATE_AFTER: '5m',
        VIGIL_APPROVAL_DEADLINE: '6m',
      }),
    );
    try {
      const id = event.incidentId;
      await temporalStarter(client.connection, client.options.namespace, queue, 5000).start(
        id,
        event.correlationKey,
        event.event,
      );
      const r = await waitForApproval(client, id);
      const msg = await until(
        () =>
          slack.channels
            .get(CHANNEL)
            ?.find(
              (m) =>
                m.metadata?.event_type === 'vigil_approval_request' &&
                m.metadata.event_payload.approval_id === r.approvalId &&
                m.metadata.event_payload.incident_id === id,
            ),
        'the approval request in Slack',
      );

      // The same refusals as over HTTP, answered privately.
      expect((await click(U.analyst, msg)).answer).toMatch(/\(unauthorized\)/);
      expect((await click(U.outsider, msg)).answer).toMatch(/\(not-an-approver\)/);
      expect((await click(U.guest, msg)).answer).toMatch(/\(guest\)/);
      expect((await click(U.lead, msg, 'vigil_approve', { teamId: 'T0OTHER01' })).answer).toMatch(
        /\(wrong-workspace\)/,
      );
      expect((await client.workflow.getHandle(id).query(approvalsQuery))[0]).toMatchObject({
        status: 'pending',
        approvers: [],
      });

      // Slack refreshes the connection: the app opens a new one (apps.connections.open again).
      const opens = slack.socket.opens;
      slack.socket.disconnect('refresh_requested');
      await until(
        () => (slack.socket.opens > opens && slack.socket.openNow() === 1 ? true : undefined),
        'the new connection',
      );

      // The authorized lead, on the new connection; the same envelope delivered again is refused.
      const ok = await click(U.lead, msg);
      expect(ok.answer).toMatch(/Approved\*: isolate-host/);
      await click(U.lead, msg, 'vigil_approve', {
        payload: ok.payload,
        envelopeId: ok.envelopeId,
        answer: false,
      });
      await until(
        () =>
          attempts.list(id).some((a) => a.code === 'replay' && a.operator === `slack:${U.lead}`)
            ? true
            : undefined,
        'the refused duplicate envelope',
      );
      const updated = await until(
        () => (msg.edited && msg.blocks?.some((b) => b.block_id === BLOCK_OUTCOME) ? msg : undefined),
        'the message showing the outcome',
      );
      expect(updated.blocks?.some((b) => b.block_id === BLOCK_ACTIONS)).toBe(false);
      expect(JSON.stringify(updated.blocks)).toMatch(/Approved\* by `lead-1` via slack/);

      // A verdict over the socket too, through the same handler as over HTTP.
      const notice = await until(
        () =>
          slack.channels
            .get(CHANNEL)
            ?.find(
              (m) =>
                m.metadata?.event_type === 'vigil_incident_notice' &&
                m.metadata.event_payload.incident_id === id,
            ),
        'the incident notice',
      );
      expect((await click(U.guest, notice, 'vigil_verdict_tp')).answer).toMatch(/\(guest\)/);
      expect((await click(U.analyst, notice, 'vigil_verdict_tp')).answer).toMatch(
        /Recorded: \*true positive\*/,
      );
      expect(verdicts.get(id)).toMatchObject({ verdict: 'tp', operator: 'ana-1' });
      await until(
        () =>
          JSON.stringify(notice.blocks?.find((b) => b.block_id === BLOCK_VERDICT)).includes(
            'Verdict: True positive* by `ana-1`',
          )
            ? true
            : undefined,
        'the notice showing the verdict',
      );

      // The workflow resumed and the agent ran the approved action, exactly once.
      const out = (await client.workflow.getHandle(id).result()) as IncidentStatus;
      const isolate = out.actions.filter((a) => a.action === 'isolate-host');
      expect(isolate).toHaveLength(1);
      // Dry-run isolation: the agent checked the ruleset and reports what it would load (nothing changed).
      expect(isolate[0]).toMatchObject({
        detail: {
          mode: 'approved',
          via: `agent vigil-agent-${hostId}`,
          approvalId: r.approvalId,
          result: { action: 'isolate-host', host: hostId, status: 'dry-run', responder: 'agent' },
        },
      });
      const history = await client.workflow.getHandle(id).fetchHistory();
      expect(
        (history.events ?? []).filter((e) => e.workflowExecutionUpdateAcceptedEventAttributes),
      ).toHaveLength(1);
      expect(
        attempts
          .list(id)
          .filter((a) => a.approval_id === r.approvalId)
          .map((a) => `${String(a.operator)}:${String(a.outcome)}:${String(a.code)}`),
      ).toEqual(
        expect.arrayContaining([
          'ana-1:refused:unauthorized',
          'outsider-1:refused:not-an-approver',
          'guest-1:refused:guest',
          `slack:${U.lead}:refused:wrong-workspace`,
          'lead-1:accepted:null',
          `slack:${U.lead}:refused:replay`,
        ]),
      );
    } finally {
      await worker.stop();
      await agent.stop();
      victim.kill('SIGKILL');
    }
  });
});

describe('the built intake in Socket Mode', () => {
  it('connects with the app token from its environment and answers verdict clicks through its own wiring', async () => {
    const fake = await startFakeSlack({
      teamId: TEAM,
      appId: APP,
      appToken: APP_TOKEN,
      channels: [CHANNEL],
      users: [{ id: U.analyst }, { id: U.outsider }],
    });
    const dataDir = mkdtempSync(join(tmpdir(), 'vigil-intake-socket-'));
    const ops = new OperatorStore(join(dataDir, 'intake.db'));
    ops.add('ana-9', 'analyst', U.analyst);
    ops.close();
    const children: ChildProcess[] = [];
    let output = '';
    try {
      const intake = await spawnEntry(
        'workers/intake',
        {
          TEMPORAL_ADDRESS: inject('temporalAddress'),
          TEMPORAL_NAMESPACE: inject('temporalNamespace'),
          VIGIL_TASK_QUEUE: uniqueQueue('slack-socket-intake'),
          VIGIL_DATA_DIR: dataDir,
          VIGIL_INTAKE_HOST: '127.0.0.1',
          VIGIL_INTAKE_PORT: '0',
          VIGIL_INTAKE_KEYS: JSON.stringify([{ id: 'k', secret: 't'.repeat(48), hosts: ['*'] }]),
          VIGIL_ADMIN_TOKEN_SHA256: 'a'.repeat(64),
          VIGIL_SLACK_MODE: 'socket',
          SLACK_BOT_TOKEN: fake.token,
          SLACK_APP_TOKEN: APP_TOKEN,
          SLACK_TEAM_ID: TEAM,
          SLACK_APP_ID: APP,
          SLACK_APPROVER_GROUPS: GROUP,
          VIGIL_SLACK_API_URL: fake.apiUrl,
        },
        children,
        'Slack interactions (socket)',
      );
      intake.stderr?.on('data', (b: Buffer) => (output += b.toString()));
      expect(fake.socket.connections).toBe(1);
      // A click for an incident that does not exist: the verdict path asked Temporal, and said so privately.
      const notice: FakeMessage = {
        channel: CHANNEL,
        ts: '1764147600.000009',
        text: 'incident',
        blocks: [
          {
            type: 'actions',
            block_id: 'vigil_verdict_actions',
            elements: [
              {
                type: 'button',
                action_id: 'vigil_verdict_fp',
                value: verdictRef('inc-none-0000000000000000'),
              },
            ],
          },
        ],
      };
      for (const user of [U.analyst, U.outsider]) {
        const id = await fake.socket.deliver(
          clickPayload({ user, teamId: TEAM, appId: APP, action: 'vigil_verdict_fp', message: notice }),
        );
        await fake.socket.acked(id);
      }
      await until(() => (fake.ephemerals.length >= 2 ? true : undefined), 'the private answers');
      expect(fake.ephemerals.find((e) => e.user === U.analyst)?.text).toMatch(/\(not-found\).*no incident/);
      expect(fake.ephemerals.find((e) => e.user === U.outsider)?.text).toMatch(/\(unmapped\)/);
      intake.kill('SIGTERM');
      await new Promise((r) => intake.once('exit', r));
      expect(output).not.toContain(APP_TOKEN);
      expect(output).not.toMatch(/ticket=[0-9a-f]/);
    } finally {
      for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
      await fake.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
