/**
 * The approval HTTP API (intake/approvals.ts) against the real Temporal dev server and playbook worker:
 * who may call it (operator bearer tokens), the answers it gives, that a refusal never reaches the
 * workflow's history and is recorded in the decision log, and an honest answer when the incident's worker
 * does not answer.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PolicyEngine } from '../activities/policy/engine.js';
import { approvalsQuery } from '../src/contracts/approval.js';
import { repoRoot } from '../src/paths.js';
import { approverCheck, AttemptLog, registerApprovalRoutes } from '../intake/approvals.js';
import { temporalStarter } from '../intake/incidents.js';
import { OperatorStore } from '../intake/operators.js';
import { parkedThenStopped, waitForApproval } from './helpers/approvals.js';
import { reverseShell } from './helpers/events.js';
import { startTestSmtp, type TestSmtp } from './helpers/smtp.js';
import { startWorker, testClient, uniqueQueue, workerEnv } from './helpers/temporal.js';

let client: Client;
let closeClient: () => Promise<void>;
let smtp: TestSmtp;
let dir: string;
let operators: OperatorStore;
let attempts: AttemptLog;
let app: FastifyInstance;
const tokens: Record<string, string> = {};

beforeAll(async () => {
  ({ client, close: closeClient } = await testClient());
  smtp = await startTestSmtp();
  dir = mkdtempSync(join(tmpdir(), 'vigil-approval-api-'));
  const db = join(dir, 'intake.db');
  operators = new OperatorStore(db);
  attempts = new AttemptLog(db);
  for (const [id, role] of [
    ['lead-1', 'lead'],
    ['ana-1', 'analyst'],
    ['gone-1', 'lead'],
  ] as const)
    tokens[id] = operators.add(id, role).token;
  operators.disable('gone-1');
  const policy = PolicyEngine.load(join(repoRoot(), 'policies'));
  app = Fastify();
  // As intake/server.ts: the exact bytes as sent.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  // Exactly what workers/intake.ts wires, with a short Temporal deadline.
  registerApprovalRoutes(app, {
    operators,
    attempts,
    connection: client.connection,
    namespace: client.options.namespace,
    updateTimeoutMs: 3000,
    mayApprove: approverCheck(policy),
  });
  await app.ready();
});
afterAll(async () => {
  await app?.close();
  attempts?.close();
  operators?.close();
  await smtp?.close();
  await closeClient?.();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const post = (url: string, body: unknown, token?: string) =>
  app.inject({
    method: 'POST',
    url,
    headers: {
      'content-type': 'application/json',
      ...(token !== undefined ? { authorization: `Bearer ${token}` } : {}),
    },
    payload: JSON.stringify(body),
  });

async function acceptedUpdates(id: string): Promise<number> {
  const h = await client.workflow.getHandle(id).fetchHistory();
  return (h.events ?? []).filter((e) => e.workflowExecutionUpdateAcceptedEventAttributes).length;
}

describe('the approval HTTP API', () => {
  it('refuses callers without a valid token of an enabled, authorized operator, and records each refusal', async () => {
    const queue = uniqueQueue('approval-api');
    const worker = await startWorker(workerEnv(smtp.port, queue));
    const e = reverseShell(`api-${randomUUID().slice(0, 8)}`);
    try {
      await temporalStarter(client.connection, client.options.namespace, queue, 5000).start(
        e.incidentId,
        e.correlationKey,
        e.event,
      );
      const r = await waitForApproval(client, e.incidentId);
      const url = `/v1/incidents/${e.incidentId}/approvals/${r.approvalId}`;
      const ok = { decision: 'approve', paramsHash: r.paramsHash };

      // No token, a malformed one, a forged secret for a real operator, a disabled operator's own token.
      const forged = `vop_lead-1.${'A'.repeat(43)}`;
      for (const t of [undefined, 'nope', forged, tokens['gone-1'], `${tokens['lead-1']}x`]) {
        const res = await post(url, ok, t);
        expect(res.statusCode).toBe(401);
        expect(res.body).not.toContain('vop_');
      }
      // Authenticated, but not allowed: wrong role, wrong parameters, invalid body.
      const analyst = await post(url, ok, tokens['ana-1']);
      expect([analyst.statusCode, analyst.json().error]).toEqual([403, 'unauthorized']);
      const moved = await post(url, { ...ok, paramsHash: 'ffffffffffffffff' }, tokens['lead-1']);
      expect([moved.statusCode, moved.json().error]).toEqual([409, 'wrong-parameters']);
      for (const bad of [
        { decision: 'approve' },
        { ...ok, decision: 'yes' },
        { ...ok, paramsHash: 'é'.repeat(16) },
      ])
        expect((await post(url, bad, tokens['lead-1'])).statusCode).toBe(400);
      expect(await acceptedUpdates(e.incidentId)).toBe(0);
      expect((await client.workflow.getHandle(e.incidentId).query(approvalsQuery))[0]).toMatchObject({
        status: 'pending',
        approvers: [],
      });

      // The lead approves; a self-declared operator in the body is ignored (the token says who).
      const yes = await post(url, { ...ok, operator: 'ana-1', reason: 'confirmed' }, tokens['lead-1']);
      expect(yes.statusCode).toBe(200);
      expect(yes.json()).toMatchObject({ status: 'approved', decidedBy: 'lead-1', approvers: ['lead-1'] });
      const again = await post(url, { ...ok, decision: 'deny' }, tokens['lead-1']);
      expect([again.statusCode, again.json().error]).toEqual([409, 'already-decided']);
      expect(await acceptedUpdates(e.incidentId)).toBe(1);

      expect(
        attempts
          .list(e.incidentId)
          .map((a) => `${String(a.operator)}:${String(a.outcome)}:${String(a.code)}`),
      ).toEqual([
        ...Array<string>(5).fill('unauthenticated:refused:unauthenticated'),
        'ana-1:refused:unauthorized',
        'lead-1:refused:wrong-parameters',
        ...Array<string>(3).fill('lead-1:refused:invalid-request'),
        'lead-1:accepted:null',
        'lead-1:refused:already-decided',
      ]);
      // Who a refused token claimed to be, never the token.
      const log = JSON.stringify(attempts.list(e.incidentId));
      expect(log).toContain('it names lead-1');
      expect(log).not.toContain('vop_');
    } finally {
      await worker.stop();
    }
  });

  it('answers 404 for an incident that does not exist, and records the attempt', async () => {
    const id = `inc-nowhere-${randomUUID().slice(0, 8)}`;
    const res = await post(
      `/v1/incidents/${id}/approvals/isolate-host-1`,
      { decision: 'approve', paramsHash: '0123456789abcdef' },
      tokens['lead-1'],
    );
    expect([res.statusCode, res.json().error]).toEqual([404, 'not-found']);
    expect(attempts.list(id).map((a) => `${String(a.operator)}:${String(a.code)}`)).toEqual([
      'lead-1:not-found',
    ]);
  });

  it('refuses a resolve without a token, from an analyst, without a note or of no incident, and records each refusal', async () => {
    const id = `inc-nowhere-${randomUUID().slice(0, 8)}`;
    const url = `/v1/incidents/${id}/resolve`;
    const note = { note: 'host rebuilt' };
    expect((await post(url, note)).statusCode).toBe(401);
    expect((await post(url, note, `vop_lead-1.${'B'.repeat(43)}`)).statusCode).toBe(401);
    const analyst = await post(url, note, tokens['ana-1']);
    expect([analyst.statusCode, analyst.json().error]).toEqual([403, 'unauthorized']);
    const empty = await post(url, { note: '' }, tokens['lead-1']);
    expect([empty.statusCode, empty.json().error]).toEqual([400, 'invalid-request']);
    const nowhere = await post(url, note, tokens['lead-1']);
    expect([nowhere.statusCode, nowhere.json().error]).toEqual([404, 'not-found']);

    const rows = attempts.list(id);
    expect(
      rows.map((a) => `${String(a.operator)}:${String(a.decision)}:${String(a.outcome)}:${String(a.code)}`),
    ).toEqual([
      'unauthenticated:resolve:refused:unauthenticated',
      'unauthenticated:resolve:refused:unauthenticated',
      'ana-1:resolve:refused:unauthorized',
      'lead-1:resolve:refused:invalid-request',
      'lead-1:resolve:refused:not-found',
    ]);
    expect(String(rows[1]?.message)).toContain('it names lead-1');
    expect(JSON.stringify(rows)).not.toMatch(/vop_|BBBB/);
  });

  it('resolves only an incident: another workflow under the id is answered 404 and gets no signal', async () => {
    const id = `containment-inc-x-${randomUUID().slice(0, 8)}`;
    const other = await client.workflow.start('containment', {
      taskQueue: uniqueQueue('not-an-incident'),
      workflowId: id,
      args: [{}],
    });
    try {
      const res = await post(`/v1/incidents/${id}/resolve`, { note: 'x' }, tokens['lead-1']);
      expect([res.statusCode, res.json().error]).toEqual([404, 'not-found']);
      const { events } = await other.fetchHistory();
      expect((events ?? []).some((e) => e.workflowExecutionSignaledEventAttributes)).toBe(false);
      expect(attempts.list(id).map((a) => `${String(a.operator)}:${String(a.code)}`)).toEqual([
        'lead-1:not-found',
      ]);
    } finally {
      await other.terminate('test over');
    }
  });

  it('answers 503 with Retry-After, not "no open incident", while the incident\'s worker is down', async () => {
    const queue = uniqueQueue('approval-api-down');
    const e = reverseShell(`api-${randomUUID().slice(0, 8)}`);
    const r = await parkedThenStopped(client, workerEnv(smtp.port, queue), e);
    const res = await post(
      `/v1/incidents/${e.incidentId}/approvals/${r.approvalId}`,
      { decision: 'approve', paramsHash: r.paramsHash },
      tokens['lead-1'],
    );
    expect([res.statusCode, res.json().error]).toEqual([503, 'unavailable']);
    expect(res.headers['retry-after']).toBe('5');
    const list = await app.inject({
      url: `/v1/incidents/${e.incidentId}/approvals`,
      headers: { authorization: `Bearer ${tokens['lead-1']}` },
    });
    expect(list.statusCode).toBe(503);
    // The incident is still there, waiting: a worker that comes back finds the approval pending.
    const back = await startWorker(workerEnv(smtp.port, queue));
    try {
      expect((await waitForApproval(client, e.incidentId)).status).toBe('pending');
    } finally {
      await back.stop();
    }
  });

  // Last: it uses up the window of unauthenticated refusals the other tests record in.
  it('records refusals without a valid token at a bounded rate', async () => {
    const id = `inc-flood-${randomUUID().slice(0, 8)}`;
    for (let i = 0; i < 120; i++)
      expect((await post(`/v1/incidents/${id}/resolve`, { note: 'x' }, `nope-${i}`)).statusCode).toBe(401);
    // 50 per 10 s: the flood (well under 10 s) spans one window, or the end of one and the start of the next.
    expect(attempts.list(id).length).toBeGreaterThan(0);
    expect(attempts.list(id).length).toBeLessThanOrEqual(100);
  });
});
