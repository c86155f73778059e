/** The incident workflow and its playbooks on the run's real Temporal server, with a real SMTP server. */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../src/paths.js';
import type { Client } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { statusQuery, type IncidentStatus } from '../src/contracts/incident.js';
import { temporalStarter } from '../intake/incidents.js';
import { normalized, reverseShell } from './helpers/events.js';
import { startTestSmtp, type TestSmtp } from './helpers/smtp.js';
import { startWorker, testClient, uniqueQueue, workerEnv } from './helpers/temporal.js';
import { decide, waitForApproval } from './helpers/approvals.js';

let client: Client;
let closeClient: () => Promise<void>;
let smtp: TestSmtp;

beforeAll(async () => {
  ({ client, close: closeClient } = await testClient());
  smtp = await startTestSmtp({ user: 'vigil', password: 'pw' });
});
afterAll(async () => {
  await smtp.close();
  await closeClient();
});

const host = () => `h-${randomUUID().slice(0, 8)}`;
const mailsFor = (incidentId: string) =>
  smtp.messages.filter((m) => m.headers.get('x-vigil-incident') === incidentId);

async function withWorker<T>(
  extra: Record<string, string>,
  fn: (start: ReturnType<typeof temporalStarter>, queue: string) => Promise<T>,
): Promise<T> {
  const queue = uniqueQueue('incident');
  const w = await startWorker(
    workerEnv(smtp.port, queue, { SMTP_USER: 'vigil', SMTP_PASSWORD: 'pw', ...extra }),
  );
  try {
    return await fn(temporalStarter(client.connection, client.options.namespace, queue, 5000), queue);
  } finally {
    await w.stop();
  }
}

const result = (id: string) => client.workflow.getHandle(id).result() as Promise<IncidentStatus>;

describe('incident workflow', () => {
  it('runs the suspicious-process playbook, absorbs duplicates, mails once and closes after the quiet period', async () => {
    await withWorker({}, async (start) => {
      const h = host();
      const first = reverseShell(h);
      await start.start(first.incidentId, first.correlationKey, first.event);
      await start.start(first.incidentId, first.correlationKey, first.event); // the same delivery again
      const dup = reverseShell(h, (d) => (d.output_fields['proc.pid'] = 777));
      expect(dup.incidentId).toBe(first.incidentId);
      await start.start(dup.incidentId, dup.correlationKey, dup.event);
      const approval = await waitForApproval(client, first.incidentId);
      expect(approval).toMatchObject({
        action: 'isolate-host',
        class: 'high',
        needed: 1,
        roles: ['lead', 'admin'],
        requester: 'playbook:suspicious-process',
        params: { host: h },
      });
      await decide(client, approval, { id: 'lead-1', role: 'lead' });
      const r = await result(first.incidentId);
      expect(r).toMatchObject({
        status: 'closed',
        stage: 'closed',
        verdict: 'malicious',
        eventCount: 2,
        host: h,
        playbook: { name: 'suspicious-process' },
      });
      expect(r.outcome).toBe(
        'malicious: analysts notified by email; suspend-process allowed (no responder); isolate-host approved by lead-1',
      );
      expect(r.decisions.map((d) => d.kind)).toEqual(['rules', 'policy']);
      // Containment first: automatic actions run before the email, approvals are asked after it.
      expect(r.actions.map((a) => [a.action, a.status])).toEqual([
        ['suspend-process', 'skipped'],
        ['notify-email', 'done'],
        ['isolate-host', 'approved'],
      ]);
      expect(r.evidence.map((e) => e.id)).toEqual([first.event.id, dup.event.id]);
      const mails = mailsFor(first.incidentId).filter((m) => !m.headers.get('x-vigil-approval'));
      expect(mails).toHaveLength(1);
      expect(mails[0]?.messageId).toBe(r.actions.find((a) => a.action === 'notify-email')?.idempotencyKey);
      // Search attributes were kept current: the closed incident is found by status and host.
      let found = 0;
      for (let i = 0; i < 40 && !found; i++) {
        for await (const _ of client.workflow.list({
          query: `VigilHost = '${h}' AND VigilStatus = 'closed' AND VigilPlaybook = 'suspicious-process'`,
        }))
          found++;
        if (!found) await new Promise((res) => setTimeout(res, 250));
      }
      expect(found).toBe(1);
    });
  });

  it('answers the status query while open', async () => {
    await withWorker({ VIGIL_QUIET_PERIOD: '30s' }, async (start) => {
      const e = reverseShell(host());
      await start.start(e.incidentId, e.correlationKey, e.event);
      const handle = client.workflow.getHandle(e.incidentId);
      let s: IncidentStatus | undefined;
      for (let i = 0; i < 50; i++) {
        s = await handle.query(statusQuery);
        if (s.stage === 'quiet') break;
        await new Promise((r) => setTimeout(r, 200));
      }
      expect(s).toMatchObject({ status: 'open', stage: 'quiet', verdict: 'malicious', eventCount: 1 });
      await handle.terminate('test done');
    });
  });

  it('starts a new run under the same incident id for a detection after the incident closed', async () => {
    await withWorker({}, async (start) => {
      const e = reverseShell(host());
      const first = await start.start(e.incidentId, e.correlationKey, e.event);
      await decide(
        client,
        await waitForApproval(client, e.incidentId),
        { id: 'admin-1', role: 'admin' },
        'deny',
      );
      await result(e.incidentId);
      const again = reverseShell(e.event.host.id, (d) => (d.time = '2026-11-26T11:00:00.000000000Z'));
      const second = await start.start(again.incidentId, again.correlationKey, again.event);
      expect(second.runId).not.toBe(first.runId);
      await decide(
        client,
        await waitForApproval(client, e.incidentId),
        { id: 'admin-1', role: 'admin' },
        'deny',
      );
      const r = await result(e.incidentId);
      expect(r.evidence[0]?.id).toBe(again.event.id);
    });
  });

  it('re-runs the playbook when a joined detection raises the severity', async () => {
    await withWorker({ VIGIL_QUIET_PERIOD: '3s' }, async (start) => {
      const h = host();
      const low = normalized('generic', {
        time: '2026-11-26T09:00:00Z',
        host: h,
        rule: 'Odd shell',
        severity: 'medium',
        process: { name: 'bash', ancestors: [{ name: 'bash' }] },
      });
      const high = normalized('generic', {
        time: '2026-11-26T09:00:01Z',
        host: h,
        rule: 'Odd shell',
        severity: 'critical',
        process: { name: 'bash', ancestors: [{ name: 'bash' }] },
      });
      await start.start(low.incidentId, low.correlationKey, low.event);
      const handle = client.workflow.getHandle(low.incidentId);
      for (let i = 0; i < 50 && (await handle.query(statusQuery)).stage !== 'quiet'; i++)
        await new Promise((r) => setTimeout(r, 100));
      await start.start(high.incidentId, high.correlationKey, high.event);
      const r = await result(low.incidentId);
      expect(r.severity).toBe('critical');
      expect(r.decisions.map((d) => d.verdict)).toEqual(['benign', 'suspicious']);
      expect(r.actions.map((a) => a.status)).toEqual(['skipped', 'done']);
    });
  });

  it('routes an event without a process to the triage playbook and closes a benign one without mail', async () => {
    await withWorker({}, async (start) => {
      const e = normalized('generic', {
        time: '2026-11-26T09:00:00Z',
        host: host(),
        rule: 'Package installed',
        severity: 'info',
      });
      await start.start(e.incidentId, e.correlationKey, e.event);
      const r = await result(e.incidentId);
      expect(r.playbook?.name).toBe('triage');
      expect(r.verdict).toBe('benign');
      expect(r.actions).toEqual([expect.objectContaining({ action: 'notify-email', status: 'skipped' })]);
      expect(mailsFor(e.incidentId)).toHaveLength(0);
    });
  });

  it('reports a final notification failure as the outcome instead of retrying forever', async () => {
    await withWorker({ SMTP_PASSWORD: 'wrong' }, async (start) => {
      const e = reverseShell(host());
      await start.start(e.incidentId, e.correlationKey, e.event);
      // The approval mail fails too, but the approval still waits and can be decided.
      await decide(
        client,
        await waitForApproval(client, e.incidentId),
        { id: 'lead-1', role: 'lead' },
        'deny',
      );
      const r = await result(e.incidentId);
      expect(r.status).toBe('closed');
      expect(r.outcome).toMatch(/email notification FAILED \(Unauthenticated/);
      expect(r.actions.find((a) => a.action === 'notify-email')).toEqual(
        expect.objectContaining({ action: 'notify-email', status: 'failed' }),
      );
      expect(r.timeline.some((t) => /requested notification failed/.test(t.summary))).toBe(true);
      expect(mailsFor(e.incidentId)).toHaveLength(0);
    });
  });

  describe('with a syscall window', () => {
    const syscalls = Array.from(
      { length: 60 },
      (_, i) =>
        ['execve', 'brk', 'mmap', 'openat', 'read', 'close', 'socket', 'connect', 'dup2', 'write'][
          i % 10
        ] as string,
    );
    const windowed = () =>
      normalized('generic', {
        time: '2026-11-26T09:00:00Z',
        host: host(),
        rule: 'Odd shell',
        severity: 'medium',
        process: { pid: 7, name: 'bash', ancestors: [{ name: 'bash' }] },
        syscalls,
      });

    it('scores it with the signed model and fuses the score into the risk, with attributions on record', async () => {
      // Every score gets attributions here; by default (flagged) only scores at the threshold or above do.
      await withWorker({ VIGIL_MODEL_ATTRIBUTIONS: 'always' }, async (start) => {
        const e = windowed();
        await start.start(e.incidentId, e.correlationKey, e.event);
        const r = await result(e.incidentId);
        const score = r.decisions.find((d) => d.kind === 'score');
        expect(score?.by).toBe('syscall-anomaly');
        expect(score?.version).toMatch(/sha256:[0-9a-f]{64}$/);
        expect(score?.reasons[0]).toMatch(/^score 0\.\d{4} (>=|<) threshold 0\.\d{4}$/);
        expect(score?.reasons.some((x) => /^(len|distinct|freq|bigram|has):/.test(x))).toBe(true);
        expect(score?.inputs).toMatchObject({ calls: 60 });
        const rules = r.decisions.find((d) => d.kind === 'rules');
        expect(rules?.reasons.some((x) => x.startsWith('model syscall-anomaly@'))).toBe(true);
      });
    });

    it('falls back to a person when the model is refused (revoked): no score, analysts notified', async () => {
      const manifest = JSON.parse(
        readFileSync(join(repoRoot(), 'models', 'syscall-anomaly', 'manifest.json'), 'utf8'),
      ) as { model: { sha256: string } };
      await withWorker({ VIGIL_MODEL_REVOKED: manifest.model.sha256 }, async (start) => {
        const e = windowed();
        await start.start(e.incidentId, e.correlationKey, e.event);
        const r = await result(e.incidentId);
        expect(r.decisions.some((d) => d.kind === 'score')).toBe(false);
        const rules = r.decisions.find((d) => d.kind === 'rules');
        expect(
          rules?.reasons.some((x) =>
            /no model score \(Misconfigured: scoring model refused \(revoked\)/.test(x),
          ),
        ).toBe(true);
        expect(r.actions.find((a) => a.action === 'notify-email')?.status).toBe('done');
      });
    });
  });
});
