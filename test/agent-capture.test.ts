/**
 * The suspicious-process playbook asks the host's endpoint agent for a syscall window when the event names
 * a pid but carries none: on real Temporal, with the real agent and real strace on a real child process,
 * the captured window is scored by the central model and fused into the risk score before containment.
 * An agent without capture is never asked; a capture that cannot happen (agent gone) costs its deadline
 * and the incident completes without a model score.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, readlinkSync } from 'node:fs';
import type { Client } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { temporalStarter } from '../intake/incidents.js';
import { statusQuery, type IncidentStatus } from '../src/contracts/incident.js';
import { agentRoute, lastPoll } from '../src/control/agents.js';
import { agentEnv, procState, startTestAgent, until } from './helpers/agent.js';
import { normalized, reverseShell } from './helpers/events.js';
import { startTestSmtp, type TestSmtp } from './helpers/smtp.js';
import { activitiesOf, startWorker, testClient, uniqueQueue, workerEnv } from './helpers/temporal.js';

const isRoot = process.getuid?.() === 0;
const canTrace = (isRoot && existsSync('/usr/bin/strace')) || process.env.VIGIL_REQUIRE_ROOT_TESTS === '1';
const tracing = canTrace ? it : it.skip;
if (!canTrace)
  process.stderr.write('agent-capture.test: NOT ROOT or no strace: the real capture test is skipped\n');

let client: Client;
let closeClient: () => Promise<void>;
let smtp: TestSmtp;
const children: ChildProcess[] = [];

beforeAll(async () => {
  ({ client, close: closeClient } = await testClient());
  smtp = await startTestSmtp();
});
afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await smtp.close();
  await closeClient();
});

function child(cmd: string, args: string[]): ChildProcess & { pid: number } {
  const c = spawn(cmd, args, { stdio: 'ignore' });
  children.push(c);
  if (!c.pid) throw new Error(`could not start ${cmd}`);
  return c as ChildProcess & { pid: number };
}

/** A medium-severity generic event naming a process by pid, without a syscall window. */
const processEvent = (host: string, pid: number) =>
  normalized('generic', {
    time: new Date().toISOString(),
    host,
    rule: 'Odd process',
    severity: 'medium',
    process: { pid, name: 'sleep', executable: readlinkSync(`/proc/${pid}/exe`) },
  });

const status = (id: string) => client.workflow.getHandle(id).query(statusQuery);
const result = (id: string) => client.workflow.getHandle(id).result() as Promise<IncidentStatus>;
const notes = (s: IncidentStatus) => s.timeline.filter((t) => t.kind === 'note').map((t) => t.summary);

async function start(queue: string, ev: { incidentId: string; correlationKey: string; event: unknown }) {
  await temporalStarter(client.connection, client.options.namespace, queue, 5000).start(
    ev.incidentId,
    ev.correlationKey,
    ev.event as never,
  );
}

describe('a syscall window from the agent', () => {
  tracing(
    'captures a window of the event process on the agent, scores it centrally, fuses it into the risk score, then contains',
    async () => {
      const host = `cap-${randomUUID().slice(0, 8)}`;
      const queue = uniqueQueue('capture');
      const worker = await startWorker(workerEnv(smtp.port, queue, { VIGIL_CAPTURE_WINDOW: '1500ms' }));
      const agent = await startTestAgent(agentEnv(host, queue, { VIGIL_AGENT_CAPTURE: 'true' }));
      expect(agent.agent.registration.capture).toEqual({
        maxSeconds: 30,
        maxCalls: 50_000,
        prefilter: false,
      });
      // A busy shell plays the attacker's: it forks cat ten times a second.
      const v = child('sh', ['-c', 'while :; do cat /etc/hostname >/dev/null; sleep 0.1; done']);
      try {
        const ev = reverseShell(host, (d) => {
          d.output_fields['proc.pid'] = v.pid;
          d.output_fields['proc.exepath'] = readlinkSync(`/proc/${v.pid}/exe`);
        });
        expect(ev.event.telemetry?.syscalls ?? []).toHaveLength(0);
        await start(queue, ev);
        // Containment still happens at once after the decision (the shell is stopped).
        await until('the process to be stopped', () => procState(v.pid) === 'T', 30_000);
        const s = await until('the suspension to be recorded', async () => {
          const st = await status(ev.incidentId);
          return st.actions.some((a) => a.action === 'suspend-process') ? st : undefined;
        });
        const score = s.decisions.find((d) => d.kind === 'score');
        expect(score?.by).toBe('syscall-anomaly');
        const inputs = score?.inputs as {
          score: number;
          threshold: number;
          calls: number;
          window: { from: string; host: string; pid: number; comm: string; seconds: number; calls: number };
        };
        expect(inputs.window).toMatchObject({ from: 'agent', host, pid: v.pid, comm: 'sh' });
        expect(inputs.window.seconds).toBeGreaterThanOrEqual(1.4);
        expect(inputs.window.seconds).toBeLessThan(5);
        expect(inputs.window.calls).toBeGreaterThanOrEqual(20);
        expect(inputs.calls).toBeGreaterThan(0);
        expect(score?.reasons[0]).toMatch(
          new RegExp(
            `^window captured by the agent of ${host}: pid ${v.pid} \\(sh\\), [0-9.]+ s, \\d+ calls$`,
          ),
        );
        expect(
          notes(s).some((n) => n.startsWith(`syscall window from the agent of ${host}: pid ${v.pid}`)),
        ).toBe(true);
        // The rule set fused that score the documented way (+20 above the threshold, else +0).
        const rules = s.decisions.find((d) => d.kind === 'rules');
        expect(rules?.reasons.find((r) => r.startsWith('model '))).toBe(
          `model syscall-anomaly@1.0.0 score ${inputs.score.toFixed(3)} ${inputs.score >= inputs.threshold ? '>=' : '<'} ${inputs.threshold.toFixed(3)} (+${inputs.score >= inputs.threshold ? 20 : 0})`,
        );
        // Captured on the host's own queue, before the decision and the suspension.
        const acts = await activitiesOf(client, ev.incidentId);
        expect(acts.filter((a) => a.type === 'captureSyscalls')).toEqual([
          { type: 'captureSyscalls', queue: agent.agent.taskQueue },
        ]);
        const order = acts.map((a) => a.type);
        expect(order.indexOf('captureSyscalls')).toBeLessThan(order.indexOf('scoreEvent'));
        expect(order.indexOf('scoreEvent')).toBeLessThan(order.indexOf('executeContainment'));
        // One responder lookup serves the capture and the containment: asked ahead with the settings and
        // the enrichment (one local activity), never again on its own.
        expect(order.filter((t) => t === 'firstLookups')).toHaveLength(1);
        expect(order.filter((t) => t === 'findResponder')).toHaveLength(0);
        // The score decides: nothing was decided ahead, the policy was asked after it.
        expect(order.indexOf('decideAndReserve')).toBeGreaterThan(order.indexOf('scoreEvent'));
        // What the capture costs containment, from the history's own clock (printed, not asserted).
        const h = await client.workflow.getHandle(ev.incidentId).fetchHistory();
        const at = (type: string, kind: 'scheduled' | 'completed') => {
          const sched = (h.events ?? []).find(
            (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === type,
          );
          const e =
            kind === 'scheduled'
              ? sched
              : (h.events ?? []).find(
                  (x) =>
                    x.activityTaskCompletedEventAttributes?.scheduledEventId?.toString() ===
                    sched?.eventId?.toString(),
                );
          const t = e?.eventTime;
          return Number(t?.seconds ?? 0) * 1000 + Math.floor((t?.nanos ?? 0) / 1e6);
        };
        process.stderr.write(
          `agent-capture.test: capture ${at('captureSyscalls', 'completed') - at('captureSyscalls', 'scheduled')} ms for a ${inputs.window.seconds} s window; ` +
            `scoreEvent ${at('scoreEvent', 'completed') - at('scoreEvent', 'scheduled')} ms; ` +
            `capture scheduled -> containment scheduled ${at('executeContainment', 'scheduled') - at('captureSyscalls', 'scheduled')} ms\n`,
        );
      } finally {
        await agent.stop();
        await worker.stop();
      }
    },
  );

  it('does not ask an agent that did not register capture, and completes without a model score', async () => {
    const host = `nocap-${randomUUID().slice(0, 8)}`;
    const queue = uniqueQueue('nocapture');
    const worker = await startWorker(workerEnv(smtp.port, queue));
    const agent = await startTestAgent(agentEnv(host, queue));
    expect(agent.agent.registration.capture).toBeUndefined();
    const v = child('sleep', ['600']);
    try {
      const ev = processEvent(host, v.pid);
      await start(queue, ev);
      const r = await result(ev.incidentId);
      expect(r.decisions.some((d) => d.kind === 'score')).toBe(false);
      expect(notes(r)).toContain(
        `no syscall window for pid ${v.pid}: the agent of ${host} does not offer capture`,
      );
      expect((await activitiesOf(client, ev.incidentId)).map((a) => a.type)).not.toContain('captureSyscalls');
    } finally {
      await agent.stop();
      await worker.stop();
    }
  });

  it('goes on without a model score when the agent does not pick the capture up within its deadline', async () => {
    const host = `gone-${randomUUID().slice(0, 8)}`;
    const queue = uniqueQueue('capture-gone');
    const worker = await startWorker(workerEnv(smtp.port, queue, { VIGIL_CAPTURE_SCHEDULE_TO_START: '1s' }));
    // The agent registers capture, then stops: the server still counts it live (it polled moments ago).
    const agent = await startTestAgent(agentEnv(host, queue, { VIGIL_AGENT_CAPTURE: 'true' }));
    await until('the agent to be seen polling', async () =>
      (await agentRoute(client, client.options.namespace, host)).kind === 'agent' &&
      (await lastPoll(client, client.options.namespace, host)) !== undefined
        ? true
        : undefined,
    );
    await agent.stop();
    const v = child('sleep', ['600']);
    try {
      const ev = processEvent(host, v.pid);
      const t0 = Date.now();
      await start(queue, ev);
      const r = await result(ev.incidentId);
      expect(r.status).toBe('closed');
      expect(r.decisions.some((d) => d.kind === 'score')).toBe(false);
      expect(notes(r)).toContain(
        `no syscall window for pid ${v.pid}: the agent of ${host} did not pick the capture up within 1000 ms`,
      );
      expect(
        (await activitiesOf(client, ev.incidentId)).filter((a) => a.type === 'captureSyscalls'),
      ).toHaveLength(1);
      // The rule set decided without the model (nothing fused in, nothing refused).
      const rules = r.decisions.find((d) => d.kind === 'rules');
      expect(rules?.reasons.some((x) => x.startsWith('model ') || x.startsWith('no model score'))).toBe(
        false,
      );
      expect(Date.now() - t0).toBeLessThan(20_000);
    } finally {
      await worker.stop();
    }
  });

  it('goes on without a model score when the agent refuses the capture (the pid is gone)', async () => {
    const host = `exit-${randomUUID().slice(0, 8)}`;
    const queue = uniqueQueue('capture-exit');
    const worker = await startWorker(workerEnv(smtp.port, queue));
    const agent = await startTestAgent(agentEnv(host, queue, { VIGIL_AGENT_CAPTURE: 'true' }));
    const v = child('sleep', ['600']);
    try {
      const ev = processEvent(host, v.pid);
      v.kill('SIGKILL');
      await until('the process to be reaped', () => (procState(v.pid) === undefined ? true : undefined));
      await start(queue, ev);
      const r = await result(ev.incidentId);
      expect(r.decisions.some((d) => d.kind === 'score')).toBe(false);
      expect(notes(r)).toContain(
        `no syscall window for pid ${v.pid}: NotFound: process ${v.pid} no longer exists`,
      );
    } finally {
      await agent.stop();
      await worker.stop();
    }
  });
});
