/**
 * Containment end to end on real Temporal with a real endpoint agent: the reference playbook suspends the
 * offending process at once and isolates the host only after approval; the isolation lifts itself at its
 * time limit; an operator's release undoes a suspension; the kill switch and the automation budget; an
 * offline agent makes the action fail as "host unreachable"; kill -9 of the agent mid-action gives one
 * effect. Network rules are applied only inside a network namespace this test creates.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeSigningKey } from '../activities/audit/keys.js';
import { createAuditExporter } from '../workers/audit-exporter.js';
import type { Client } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveSignal } from '../src/contracts/approval.js';
import { containmentQuery, releaseUpdate } from '../src/contracts/containment.js';
import { KILL_SWITCH_FRESH_MS } from '../src/contracts/response.js';
import { statusQuery, type IncidentStatus } from '../src/contracts/incident.js';
import { temporalStarter } from '../intake/incidents.js';
import { createAutomationControl } from '../src/control/automation.js';
import { agentRoute } from '../src/control/agents.js';
import { agentEnv, procState, spawnAgent, startTestAgent, until } from './helpers/agent.js';
import { rootGate } from './helpers/host-sandbox.js';
import { decide, waitForApproval } from './helpers/approvals.js';
import { reverseShell } from './helpers/events.js';
import { startTestSmtp, type TestSmtp } from './helpers/smtp.js';
import { activitiesOf, startWorker, testClient, uniqueQueue, workerEnv } from './helpers/temporal.js';

// The netns isolation test needs root, nft, ip and nsenter: skipped loudly without them, failing under
// VIGIL_REQUIRE_ROOT_TESTS=1 (CI).
const rootOnly = rootGate().skip ? it.skip : it;

let client: Client;
let closeClient: () => Promise<void>;
let smtp: TestSmtp;
const children: ChildProcess[] = [];
const namespaces: string[] = [];

beforeAll(async () => {
  ({ client, close: closeClient } = await testClient());
  smtp = await startTestSmtp();
});
afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const ns of namespaces) execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
  await smtp.close();
  await closeClient();
});

/** A harmless process to play the attacker's shell. */
function victim(): ChildProcess & { pid: number } {
  const c = spawn('sleep', ['600'], { stdio: 'ignore' });
  children.push(c);
  if (!c.pid) throw new Error('could not start the victim process');
  return c as ChildProcess & { pid: number };
}

function eventFor(host: string, pid: number) {
  return reverseShell(host, (d) => {
    d.output_fields['proc.pid'] = pid;
    d.output_fields['proc.exepath'] = readlinkSync(`/proc/${pid}/exe`);
  });
}

const lead = { id: 'lead-1', role: 'lead' as const };
const status = (id: string) => client.workflow.getHandle(id).query(statusQuery);
const actionOf = (s: IncidentStatus, action: string) => s.actions.filter((a) => a.action === action);

/** The status once the incident has recorded `action` (executed, refused, failed ...). */
const whenRecorded = (id: string, action: string, what: string) =>
  until(what, async () => {
    const st = await status(id).catch(() => undefined);
    return st && actionOf(st, action).length ? st : undefined;
  });

/** The incident's pending executeContainment activities (from describe). */
async function pendingContainment(id: string) {
  const d = await client.workflow
    .getHandle(id)
    .describe()
    .catch(() => undefined);
  return (d?.raw.pendingActivities ?? []).filter((a) => a.activityType?.name === 'executeContainment');
}

async function start(queue: string, ev: ReturnType<typeof eventFor>) {
  await temporalStarter(client.connection, client.options.namespace, queue, 5000).start(
    ev.incidentId,
    ev.correlationKey,
    ev.event,
  );
}

describe('containment by the endpoint agent', () => {
  rootOnly(
    'suspends the offending process at once, isolates the host only after approval, and lifts the isolation at its limit',
    async () => {
      const host = `agent-${randomUUID().slice(0, 8)}`;
      const ns = `vgl-${randomUUID().slice(0, 8)}`;
      execFileSync('ip', ['netns', 'add', ns]);
      namespaces.push(ns);
      const queue = uniqueQueue('contain');
      const worker = await startWorker(workerEnv(smtp.port, queue, { VIGIL_ISOLATION_LIMIT: '4s' }));
      const agent = await startTestAgent(
        agentEnv(host, queue, { VIGIL_AGENT_ISOLATION: 'enforce', VIGIL_AGENT_NETNS: ns }),
      );
      const v = victim();
      try {
        const route = await agentRoute(client, client.options.namespace, host);
        expect(route).toMatchObject({ kind: 'agent', live: true, agent: { hostId: host } });
        const ev = eventFor(host, v.pid);
        await start(queue, ev);
        // Low blast radius, allowed by the default policy: at once, before anyone is asked.
        await until('the process to be stopped', () => procState(v.pid) === 'T');
        const approval = await waitForApproval(client, ev.incidentId);
        expect(approval.action).toBe('isolate-host');
        const rules = () => {
          try {
            return execFileSync(
              'ip',
              ['netns', 'exec', ns, 'nft', 'list', 'table', 'inet', 'vigil_isolate'],
              {
                encoding: 'utf8',
                stdio: ['ignore', 'pipe', 'ignore'],
              },
            );
          } catch {
            return undefined;
          }
        };
        expect(rules()).toBeUndefined();
        await decide(client, approval, lead);
        await until('the isolation ruleset', () => rules());
        const s = await until('the isolation to be recorded', async () => {
          const st = await status(ev.incidentId);
          return actionOf(st, 'isolate-host').length ? st : undefined;
        });
        expect(actionOf(s, 'suspend-process')).toMatchObject([
          { status: 'executed', detail: { mode: 'automatic', result: { status: 'applied' } } },
        ]);
        // Decided ahead: the policy decision and the slot came with the first lookups (one local activity),
        // recorded as if asked on their own.
        const locals = (await activitiesOf(client, ev.incidentId)).filter((a) => a.queue === 'local');
        expect(locals.filter((a) => a.type === 'firstLookups')).toHaveLength(1);
        expect(
          locals.filter((a) => /^(decideAndReserve|decideActions|reserveAutomation)$/.test(a.type)),
        ).toEqual([]);
        expect(s.decisions.find((d) => d.kind === 'policy')?.reasons).toEqual([
          expect.stringMatching(/^suspend-process: automatic/),
          expect.stringMatching(/^isolate-host: approval/),
        ]);
        expect(s.decisions.find((d) => d.kind === 'automation')?.reasons[0]).toMatch(
          /^automatic suspend-process: slot \d+\/\d+$/,
        );
        expect(s.timeline.some((t) => t.summary.startsWith('decision asked again'))).toBe(false);
        const isolate = actionOf(s, 'isolate-host')[0];
        expect(isolate).toMatchObject({
          status: 'executed',
          detail: { mode: 'approved', result: { status: 'applied', responder: 'agent' } },
        });
        // The durable timer in the containment workflow lifts it; the agent undoes it.
        await until('the isolation to lift itself', () => (rules() === undefined ? true : undefined), 30_000);
        const holdsOf = async () => {
          const holds = [];
          for await (const wf of client.workflow.list({
            query: `WorkflowType = 'containment' AND WorkflowId STARTS_WITH 'containment-${ev.incidentId}'`,
          }))
            holds.push(await client.workflow.getHandle(wf.workflowId).query(containmentQuery));
          return holds;
        };
        // The rules are gone as soon as the agent acted; the hold records it when the activity completes.
        const holds = await until('the hold to record the release', async () => {
          const hs = await holdsOf();
          return hs.find((h) => h.action === 'isolate-host')?.status === 'released' ? hs : undefined;
        });
        const iso = holds.find((h) => h.action === 'isolate-host');
        expect(iso).toMatchObject({ status: 'released', undo: { status: 'undone' } });
        // The suspension is held until an operator releases it: then the process runs again.
        const sus = holds.find((h) => h.action === 'suspend-process');
        expect(sus?.status).toBe('active');
        const holdId = `containment-${ev.incidentId}-suspend-process`;
        let released;
        for await (const wf of client.workflow.list({
          query: `WorkflowType = 'containment' AND WorkflowId STARTS_WITH '${holdId}'`,
        }))
          released = await client.workflow.getHandle(wf.workflowId).executeUpdate(releaseUpdate, {
            args: [{ operator: 'lead-1', role: 'lead', reason: 'benign test' }],
          });
        expect(released).toMatchObject({ status: 'released' });
        expect(procState(v.pid)).not.toBe('T');

        // The audit log files both holds under the incident: who released what, and the verified undo.
        const dir = mkdtempSync(join(tmpdir(), 'vigil-contain-audit-'));
        const signer = writeSigningKey(join(dir, 'key.pem'));
        const x = createAuditExporter({
          client,
          logPath: join(dir, 'audit.log'),
          signer,
          trustedFingerprints: [signer.fingerprint],
          checkpointEvery: 100,
          checkpointIntervalMs: 0,
          pollIntervalMs: 200,
          visibilityLagMs: 60_000,
          filter: `WorkflowId STARTS_WITH 'containment-${ev.incidentId}'`,
          log: () => undefined,
        });
        const closed = await until('the holds in the audit log', async () => {
          await x.runOnce();
          const es = readFileSync(join(dir, 'audit.log'), 'utf8')
            .trimEnd()
            .split('\n')
            .filter(Boolean)
            .map((l) => JSON.parse(l) as { kind: string; payload: Record<string, unknown> });
          const c = es.filter((e) => e.kind === 'incident.closed');
          return c.length >= 2 ? c : undefined;
        });
        expect(closed.every((e) => e.payload.incidentId === ev.incidentId)).toBe(true);
        expect(JSON.stringify(closed)).toMatch(/released by lead-1 \(lead\): benign test/);
        x.close();
        rmSync(dir, { recursive: true, force: true });
      } finally {
        await agent.stop();
        await worker.stop();
      }
    },
  );

  rootOnly(
    'releases a suspension whose process died meanwhile: nothing is left to undo, nothing stays "active"',
    async () => {
      const host = `agent-${randomUUID().slice(0, 8)}`;
      const queue = uniqueQueue('gone');
      const worker = await startWorker(workerEnv(smtp.port, queue));
      const agent = await startTestAgent(agentEnv(host, queue));
      const v = victim();
      try {
        const ev = eventFor(host, v.pid);
        await start(queue, ev);
        await until('the process to be stopped', () => procState(v.pid) === 'T');
        v.kill('SIGKILL');
        await until('the process to be gone', () => (procState(v.pid) === undefined ? true : undefined));
        const holdId = `containment-${ev.incidentId}-suspend-process`;
        const hold = await until('the hold', async () => {
          for await (const wf of client.workflow.list({
            query: `WorkflowType = 'containment' AND WorkflowId STARTS_WITH '${holdId}'`,
          }))
            return client.workflow.getHandle(wf.workflowId);
          return undefined;
        });
        const released = await hold.executeUpdate(releaseUpdate, {
          args: [{ operator: 'lead-1', role: 'lead', reason: 'host rebooted' }],
        });
        expect(released).toMatchObject({ status: 'released' });
        expect(released.error).toBeUndefined();
        // The agent resumes what it recorded (the process is gone: nothing of it in state T); an agent without
        // that record answers NotFound, which the hold takes as nothing left to undo.
        expect(released.history.at(-1)?.what).toMatch(
          /host rebooted; (undone: .*state gone|nothing left to undo)/,
        );
        await client.workflow.getHandle(ev.incidentId).signal(resolveSignal, {
          operator: 'lead-1',
          note: 'test over',
          at: new Date().toISOString(),
        });
      } finally {
        await agent.stop();
        await worker.stop();
      }
    },
  );

  it('refuses automatic containment while the kill switch is engaged, and leaves the incident to a person', async () => {
    const host = `agent-${randomUUID().slice(0, 8)}`;
    const queue = uniqueQueue('killswitch');
    const worker = await startWorker(workerEnv(smtp.port, queue));
    const agent = await startTestAgent(agentEnv(host, queue));
    const control = createAutomationControl(client, {
      taskQueue: queue,
      budget: { limit: 20, windowSeconds: 3600 },
    });
    const v = victim();
    try {
      await control.setKillSwitch({ engaged: true, by: 'lead-1', reason: 'false positives storm' });
      const ev = eventFor(host, v.pid);
      await start(queue, ev);
      const s = await whenRecorded(ev.incidentId, 'suspend-process', 'the refusal');
      expect(actionOf(s, 'suspend-process')[0]).toMatchObject({ status: 'refused' });
      expect(procState(v.pid)).toBe('S');
      expect(
        s.decisions.some(
          (d) => d.kind === 'automation' && /kill switch engaged by lead-1/.test(d.reasons.join()),
        ),
      ).toBe(true);
      await client.workflow.getHandle(ev.incidentId).signal(resolveSignal, {
        operator: 'lead-1',
        note: 'test over',
        at: new Date().toISOString(),
      });
    } finally {
      await control.setKillSwitch({ engaged: false, by: 'lead-1', reason: 'test over' });
      await agent.stop();
      await worker.stop();
    }
  });

  it('stops an automatic action already in flight when the kill switch is engaged before the agent takes it', async () => {
    const host = `agent-${randomUUID().slice(0, 8)}`;
    const queue = uniqueQueue('killswitch-inflight');
    const worker = await startWorker(workerEnv(smtp.port, queue));
    const env = agentEnv(host, queue);
    // Registered and seen polling, then gone: the playbook routes to it and the action waits in its queue.
    await (await startTestAgent(env)).stop();
    const control = createAutomationControl(client, {
      taskQueue: queue,
      budget: { limit: 20, windowSeconds: 3600 },
    });
    const v = victim();
    let agent: Awaited<ReturnType<typeof startTestAgent>> | undefined;
    try {
      const ev = eventFor(host, v.pid);
      await start(queue, ev);
      await until(
        'the action waiting for the agent',
        async () => (await pendingContainment(ev.incidentId)).length > 0 || undefined,
      );
      await control.setKillSwitch({ engaged: true, by: 'lead-1', reason: 'stop everything' });
      // Past the grant's own check (KILL_SWITCH_FRESH_MS): the agent must ask the control itself.
      await new Promise((r) => setTimeout(r, KILL_SWITCH_FRESH_MS + 100));
      agent = await startTestAgent(env);
      const s = await whenRecorded(ev.incidentId, 'suspend-process', 'the refusal');
      expect(actionOf(s, 'suspend-process')[0]).toMatchObject({ status: 'refused' });
      expect(procState(v.pid)).toBe('S');
      await client.workflow.getHandle(ev.incidentId).signal(resolveSignal, {
        operator: 'lead-1',
        note: 'test over',
        at: new Date().toISOString(),
      });
    } finally {
      await control.setKillSwitch({ engaged: false, by: 'lead-1', reason: 'test over' });
      await agent?.stop();
      await worker.stop();
    }
  });

  it('turns automatic containment into an approval request when the automation budget is spent', async () => {
    const host = `agent-${randomUUID().slice(0, 8)}`;
    const queue = uniqueQueue('budget');
    const worker = await startWorker(workerEnv(smtp.port, queue, { VIGIL_AUTOMATION_BUDGET: '0' }));
    const agent = await startTestAgent(agentEnv(host, queue));
    const v = victim();
    try {
      const ev = eventFor(host, v.pid);
      await start(queue, ev);
      const approval = await waitForApproval(client, ev.incidentId);
      expect(approval).toMatchObject({ action: 'suspend-process', class: 'low', needed: 1 });
      expect(procState(v.pid)).toBe('S');
      await decide(client, approval, lead);
      await until('the process to be stopped after approval', () => procState(v.pid) === 'T');
    } finally {
      await agent.stop();
      await worker.stop();
    }
  });

  it('fails as "host unreachable" within the deadline when the agent is offline', async () => {
    const host = `agent-${randomUUID().slice(0, 8)}`;
    const queue = uniqueQueue('offline');
    const worker = await startWorker(workerEnv(smtp.port, queue, { VIGIL_AGENT_SCHEDULE_TO_START: '2s' }));
    // Registered once, then gone.
    const agent = await startTestAgent(agentEnv(host, queue));
    await agent.stop();
    const v = victim();
    try {
      const ev = eventFor(host, v.pid);
      const t0 = Date.now();
      await start(queue, ev);
      const s = await until(
        'the unreachable failure',
        async () => {
          const st = await status(ev.incidentId).catch(() => undefined);
          return st && actionOf(st, 'suspend-process').length ? st : undefined;
        },
        30_000,
      );
      expect(Date.now() - t0).toBeLessThan(20_000);
      expect(actionOf(s, 'suspend-process')[0]).toMatchObject({ status: 'failed' });
      expect(actionOf(s, 'suspend-process')[0]?.error).toMatch(/host unreachable/);
      expect(procState(v.pid)).toBe('S');
    } finally {
      await worker.stop();
    }
  });

  it('has exactly one effect when the agent is killed with -9 during the action and restarted', async () => {
    const host = `agent-${randomUUID().slice(0, 8)}`;
    const queue = uniqueQueue('agentcrash');
    const worker = await startWorker(workerEnv(smtp.port, queue));
    const env = agentEnv(host, queue);
    let agent = await spawnAgent(env, children);
    const v = victim();
    try {
      const ev = eventFor(host, v.pid);
      await start(queue, ev);
      // Kill the agent as soon as it has taken the action (its activity is started).
      await until('the agent to take the action', async () => {
        const raw = await pendingContainment(ev.incidentId);
        return raw.some((a) => Number(a.state) === 2) ? true : procState(v.pid) === 'T' || undefined;
      });
      agent.kill('SIGKILL');
      await new Promise((r) => agent.once('exit', r));
      agent = await spawnAgent(env, children);
      const s = await until(
        'the action to complete after the restart',
        async () => {
          const st = await status(ev.incidentId).catch(() => undefined);
          return st && actionOf(st, 'suspend-process').length ? st : undefined;
        },
        45_000,
      );
      expect(actionOf(s, 'suspend-process')).toHaveLength(1);
      expect(actionOf(s, 'suspend-process')[0]).toMatchObject({ status: 'executed' });
      expect(procState(v.pid)).toBe('T');
    } finally {
      agent.kill('SIGKILL');
      await worker.stop();
    }
  });
});
