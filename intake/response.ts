/**
 * Response control over HTTP (and the base of the CLI's), for authenticated operators: the endpoint agents
 * and whether the server sees them polling; the kill switch and automation budget; the containments in
 * place, extended or released. Every change is an Update on the workflow that holds the state, so it is in
 * that workflow's history with the operator who made it; the workflow's validator is the final word.
 */
import { Client, WorkflowUpdateFailedError, type ConnectionLike } from '@temporalio/client';
import { ApplicationFailure, type DataConverter } from '@temporalio/common';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { AGENT_WORKFLOW } from '../src/contracts/agent.js';
import {
  CONTAINMENT_WORKFLOW,
  containmentQuery,
  extendUpdate,
  releaseUpdate,
} from '../src/contracts/containment.js';
import type { ContainmentState } from '../src/contracts/response.js';
import { Duration } from '../src/config.js';
import type { OperatorRole } from '../src/policy/actions.js';
import { createAutomationControl } from '../src/control/automation.js';
import { agentRecord, lastPoll, pollIsLive } from '../src/control/agents.js';
import type { Operator, OperatorStore } from './operators.js';

export interface ResponseDeps {
  operators: OperatorStore;
  connection: ConnectionLike;
  namespace: string;
  /** The playbook task queue: it names the deployment's automation control. */
  taskQueue: string;
  dataConverter?: DataConverter;
  /** The budget a control starts with, when an operator's change is the first thing it sees. */
  budget: { limit: number; windowSeconds: number };
  updateTimeoutMs?: number;
}

/**
 * Who may do what. Stopping automation is always allowed (any operator can pull the brake); resuming it,
 * changing the budget and lifting containment early need a lead or an admin.
 */
const MAY: Record<string, readonly OperatorRole[]> = {
  'engage-kill-switch': ['analyst', 'lead', 'admin'],
  'release-kill-switch': ['lead', 'admin'],
  'set-budget': ['admin'],
  'extend-containment': ['analyst', 'lead', 'admin'],
  'release-containment': ['lead', 'admin'],
};

const KillSwitch = z.strictObject({ engaged: z.boolean(), reason: z.string().min(3).max(2000) });
const Budget = z.strictObject({
  limit: z.number().int().min(0).max(100_000),
  windowSeconds: z
    .number()
    .int()
    .min(1)
    .max(30 * 86_400),
});
const Extend = z.strictObject({ for: Duration, reason: z.string().min(3).max(2000) });
const Release = z.strictObject({ reason: z.string().min(3).max(2000) });

export function registerResponseRoutes(app: FastifyInstance, d: ResponseDeps): void {
  const client = new Client({
    connection: d.connection,
    namespace: d.namespace,
    dataConverter: d.dataConverter,
  });
  const control = createAutomationControl(client, { taskQueue: d.taskQueue, budget: d.budget });
  const timeout = d.updateTimeoutMs ?? 10_000;
  const within = <T>(fn: () => Promise<T>) => client.withDeadline(Date.now() + timeout, fn);

  const body = <S extends z.ZodType>(schema: S, req: FastifyRequest, reply: FastifyReply) => {
    let raw: unknown;
    try {
      raw = JSON.parse(Buffer.isBuffer(req.body) ? req.body.toString('utf8') : '{}');
    } catch {
      void reply.code(400).send({ error: 'invalid-request', issues: ['body: not JSON'] });
      return undefined;
    }
    const r = schema.safeParse(raw);
    if (r.success) return r.data;
    void reply.code(400).send({
      error: 'invalid-request',
      issues: r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`),
    });
    return undefined;
  };
  const allowed = (op: Operator, what: keyof typeof MAY, reply: FastifyReply) => {
    if (MAY[what]?.includes(op.role)) return true;
    void reply.code(403).send({
      error: 'unauthorized',
      message: `${op.id} (${op.role}) may not ${what}; needs ${MAY[what]?.join(' or ')}`,
    });
    return false;
  };
  const refusedByWorkflow = (e: unknown, reply: FastifyReply) => {
    if (e instanceof WorkflowUpdateFailedError) {
      const c = e.cause;
      const type = c instanceof ApplicationFailure ? c.type : undefined;
      const code = type === 'AlreadyDecided' ? 409 : type === 'Forbidden' ? 403 : 400;
      const error = code === 409 ? 'already-decided' : code === 403 ? 'unauthorized' : 'refused';
      return reply.code(code).send({ error, message: c?.message });
    }
    throw e;
  };

  app.register(async (r) => {
    r.addHook('onRequest', async (req, reply) => {
      const auth = req.headers.authorization;
      const op = auth?.startsWith('Bearer ') ? d.operators.authenticate(auth.slice(7).trim()) : undefined;
      if (!op)
        return reply
          .code(401)
          .header('www-authenticate', 'Bearer')
          .send({ error: 'operator token required' });
      (req as FastifyRequest & { operator?: Operator }).operator = op;
    });
    const operatorOf = (req: FastifyRequest) => (req as FastifyRequest & { operator: Operator }).operator;

    r.get('/v1/agents', async () => {
      const agents: unknown[] = [];
      for await (const wf of client.workflow.list({ query: `WorkflowType = '${AGENT_WORKFLOW}'` })) {
        if (agents.length >= 1000) break;
        const host = wf.workflowId.replace(/^agent-/, '');
        let rec: Awaited<ReturnType<typeof agentRecord>>;
        try {
          rec = await within(() => agentRecord(client, host));
        } catch (e) {
          // Listed, not skipped: an agent whose registration does not answer is one to look at.
          agents.push({
            hostId: host,
            status: 'unknown',
            error: `its registration did not answer: ${(e as Error).message.slice(0, 200)}`,
            workflowStatus: wf.status.name,
          });
          continue;
        }
        if (!rec) continue;
        // The record is in hand: only the task queue's last poll is still needed (not agentRoute, which
        // would query the registration again).
        const seen = await within(() => lastPoll(client, d.namespace, rec.hostId)).catch(() => undefined);
        agents.push({
          ...rec,
          status: rec.retired ? 'retired' : pollIsLive(seen) ? 'live' : 'offline',
          lastSeen: seen?.toISOString(),
          workflowStatus: wf.status.name,
        });
      }
      return { agents };
    });

    r.get('/v1/automation', async () => within(() => control.state()));

    r.post('/v1/automation/killswitch', async (req, reply) => {
      const b = body(KillSwitch, req, reply);
      if (!b) return reply;
      const op = operatorOf(req);
      if (!allowed(op, b.engaged ? 'engage-kill-switch' : 'release-kill-switch', reply)) return reply;
      const state = await within(() =>
        control.setKillSwitch({ engaged: b.engaged, by: op.id, reason: b.reason }),
      );
      return { killSwitch: state };
    });

    r.post('/v1/automation/budget', async (req, reply) => {
      const b = body(Budget, req, reply);
      if (!b) return reply;
      const op = operatorOf(req);
      if (!allowed(op, 'set-budget', reply)) return reply;
      return { budget: await within(() => control.setBudget({ ...b, by: op.id })) };
    });

    r.get<{ Querystring: { all?: string } }>('/v1/containments', async (req) => {
      const running = req.query.all === 'true' ? '' : ` AND ExecutionStatus = 'Running'`;
      const out: (ContainmentState & { id: string })[] = [];
      for await (const wf of client.workflow.list({
        query: `WorkflowType = '${CONTAINMENT_WORKFLOW}'${running}`,
      })) {
        const s = await within(() => client.workflow.getHandle(wf.workflowId).query(containmentQuery)).catch(
          () => undefined,
        );
        if (s) out.push({ id: wf.workflowId, ...s });
        if (out.length >= 500) break;
      }
      return { containments: out };
    });

    r.post<{ Params: { id: string } }>('/v1/containments/:id/extend', async (req, reply) => {
      const b = body(Extend, req, reply);
      if (!b) return reply;
      const op = operatorOf(req);
      if (!allowed(op, 'extend-containment', reply)) return reply;
      try {
        const s = await within(() =>
          client.workflow.getHandle(req.params.id).executeUpdate(extendUpdate, {
            args: [{ operator: op.id, role: op.role, forMs: b.for, reason: b.reason }],
          }),
        );
        return { containment: s };
      } catch (e) {
        return refusedByWorkflow(e, reply);
      }
    });

    r.post<{ Params: { id: string } }>('/v1/containments/:id/release', async (req, reply) => {
      const b = body(Release, req, reply);
      if (!b) return reply;
      const op = operatorOf(req);
      if (!allowed(op, 'release-containment', reply)) return reply;
      try {
        const s = await within(() =>
          client.workflow
            .getHandle(req.params.id)
            .executeUpdate(releaseUpdate, { args: [{ operator: op.id, role: op.role, reason: b.reason }] }),
        );
        return { containment: s };
      } catch (e) {
        return refusedByWorkflow(e, reply);
      }
    });
  });
}
