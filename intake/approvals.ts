/**
 * Approvals over HTTP (and the base of the CLI's): authenticated operators list pending approvals and
 * decide them. The server re-checks the policy for the operator (defense in depth), then runs the
 * workflow's `decide` Update with a deadline; the workflow's validator is the final word. A refused
 * attempt never reaches history through the validator, so it is recorded here (SQLite) and signalled
 * to the incident's timeline. So are refused resolves, bad bodies and, at a bounded rate, decision attempts
 * without a valid token.
 */
import {
  Client,
  QueryNotRegisteredError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  type ConnectionLike,
} from '@temporalio/client';
import { ApplicationFailure, type DataConverter } from '@temporalio/common';
import type Database from 'better-sqlite3';
import { openSqlite } from './sqlite.js';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import {
  approvalRejectedSignal,
  approvalsQuery,
  decideUpdate,
  resolveSignal,
  type ApprovalReceipt,
} from '../src/contracts/approval.js';
import { INCIDENT_WORKFLOW } from '../src/contracts/incident.js';
import type { ActionName } from '../src/policy/actions.js';
import { approvalClosed, type ApprovalAttempt, type ApprovalRequestRecord } from '../src/policy/approval.js';
import type { Operator, OperatorStore } from './operators.js';

/** The policy check the server applies before the Update (the policy engine, loaded by the worker too). */
export type MayApprove = (
  op: Operator,
  action: ActionName,
  isRequester: boolean,
) => { allow: boolean; reasons: string[] };

/** What the policy engine answers for an approver (activities/policy/engine.ts `mayApprove`). */
export interface ApproverPolicy {
  mayApprove(req: {
    operator: { id: string; role: Operator['role'] };
    action: ActionName;
    severity: 'high';
    host: string;
    isRequester: boolean;
  }): { allow: boolean; reasons: string[] };
}

/**
 * The server's check from the policy engine: the operator's role for the action's class, and never the
 * requester (host and severity are not the approver's to decide here: the request's own are in the Update).
 */
export function approverCheck(policy: ApproverPolicy): MayApprove {
  return (op, action, isRequester) =>
    policy.mayApprove({
      operator: { id: op.id, role: op.role },
      action,
      severity: 'high',
      host: '',
      isRequester,
    });
}

export class AttemptLog {
  private readonly db: Database.Database;
  constructor(file: string) {
    this.db = openSqlite(file, {
      schema: `CREATE TABLE IF NOT EXISTS approval_attempts (
      id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, incident_id TEXT NOT NULL, approval_id TEXT NOT NULL,
      operator TEXT NOT NULL, via TEXT NOT NULL, decision TEXT NOT NULL, outcome TEXT NOT NULL, code TEXT, message TEXT)`,
    });
  }
  record(a: {
    incidentId: string;
    approvalId: string;
    operator: string;
    via: string;
    decision: string;
    outcome: 'accepted' | 'refused';
    code?: string;
    message?: string;
  }) {
    this.db
      .prepare(
        'INSERT INTO approval_attempts (at, incident_id, approval_id, operator, via, decision, outcome, code, message) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
      )
      .run(
        new Date().toISOString(),
        a.incidentId,
        a.approvalId,
        a.operator,
        a.via,
        a.decision,
        a.outcome,
        a.code ?? null,
        a.message ?? null,
      );
  }
  list(incidentId?: string): Record<string, unknown>[] {
    return incidentId
      ? (this.db
          .prepare('SELECT * FROM approval_attempts WHERE incident_id = ? ORDER BY id')
          .all(incidentId) as Record<string, unknown>[])
      : (this.db.prepare('SELECT * FROM approval_attempts ORDER BY id DESC LIMIT 200').all() as Record<
          string,
          unknown
        >[]);
  }
  close() {
    this.db.close();
  }
}

/**
 * At most `limit` calls in each `windowMs` are let through: refusals that a sender without credentials (or with
 * a leaked secret) can repeat without end are recorded at this rate, not without bound. A call let through gets
 * how many were held back since the last one let through (so the record can say so); one held back gets false.
 */
export function rateBound(
  limit: number,
  windowMs: number,
  now: () => number = Date.now,
): () => number | false {
  let start = Number.NEGATIVE_INFINITY;
  let n = 0;
  let dropped = 0;
  return () => {
    const t = now();
    // A clock that moved back starts a new window too (else nothing would be recorded until it caught up).
    if (t - start > windowMs || t < start) [start, n] = [t, 0];
    if (++n > limit) {
      dropped++;
      return false;
    }
    const before = dropped;
    dropped = 0;
    return before;
  };
}

/** The note a recorded refusal carries when earlier ones went unrecorded past the rate bound. */
export const droppedNote = (dropped: number) =>
  dropped ? `; ${dropped} earlier refusal(s) past the rate bound were not recorded` : '';

const STATUS_FOR_CODE: Record<string, number> = {
  'not-found': 404,
  'already-decided': 409,
  expired: 409,
  'wrong-parameters': 409,
  duplicate: 409,
  unauthorized: 403,
  requester: 403,
};

export interface ApprovalDeps {
  operators: OperatorStore;
  attempts: AttemptLog;
  connection: ConnectionLike;
  namespace: string;
  mayApprove: MayApprove;
  updateTimeoutMs?: number;
  /** The payload codec, so the server can read and write encrypted Update and query payloads. */
  dataConverter?: DataConverter;
}

const Decision = z.object({
  decision: z.enum(['approve', 'deny']),
  paramsHash: z.string().regex(/^[0-9a-f]{16}$/, 'paramsHash: the 16 hex digits shown with the approval'),
  reason: z.string().max(2000).optional(),
  via: z.enum(['cli', 'http']).default('http'),
});

/** The answer to one decision attempt, whoever made it (HTTP, CLI or Slack). */
export type DecideResult =
  | {
      ok: true;
      receipt: ApprovalReceipt;
      record: ApprovalRequestRecord;
    }
  | { ok: false; status: number; code: string; message: string; record?: ApprovalRequestRecord };

export interface DecideRequest {
  incidentId: string;
  approvalId: string;
  paramsHash: string;
  decision: 'approve' | 'deny';
  operator: Operator;
  via: ApprovalAttempt['via'];
  reason?: string;
}

/**
 * The one decision path every channel uses: find the approval, re-check the policy for the operator, run
 * the workflow's `decide` Update with a deadline (its validator is the final word), and record every
 * refusal in the attempt log and the incident's timeline (a refused Update never reaches history).
 */
export function createApprovalDecider(d: ApprovalDeps) {
  const client = new Client({
    connection: d.connection,
    namespace: d.namespace,
    dataConverter: d.dataConverter,
  });
  const timeout = d.updateTimeoutMs ?? 10_000;
  const approvalsOf = async (incidentId: string): Promise<ApprovalRequestRecord[]> =>
    client.withDeadline(Date.now() + timeout, () =>
      client.workflow.getHandle(incidentId).query(approvalsQuery),
    );

  /** Record a refused attempt; `signal` also puts it on the incident's timeline (authenticated callers only). */
  const recordRefusal = async (a: {
    incidentId: string;
    approvalId: string;
    operator: string;
    via: string;
    decision: string;
    code: string;
    message: string;
    signal?: boolean;
  }): Promise<void> => {
    d.attempts.record({ ...a, outcome: 'refused' });
    if (a.signal === false) return;
    await client
      .withDeadline(Date.now() + timeout, () =>
        client.workflow.getHandle(a.incidentId).signal(approvalRejectedSignal, {
          approvalId: a.approvalId,
          operator: a.operator,
          via: a.via,
          code: a.code,
          message: a.message,
          at: new Date().toISOString(),
        }),
      )
      .catch(() => undefined);
  };

  const decide = async (q: DecideRequest): Promise<DecideResult> => {
    const { incidentId: id, approvalId, decision, operator: op, via } = q;
    const refuse = async (
      status: number,
      code: string,
      message: string,
      record?: ApprovalRequestRecord,
      signal = true,
    ): Promise<DecideResult> => {
      await recordRefusal({
        incidentId: id,
        approvalId,
        operator: op.id,
        via,
        decision,
        code,
        message,
        signal,
      });
      return { ok: false, status, code, message, record };
    };
    const unavailable: DecideResult = {
      ok: false,
      status: 503,
      code: 'unavailable',
      message: 'the workflow engine did not answer in time; retry',
    };
    let record: ApprovalRequestRecord | undefined;
    try {
      record = (await approvalsOf(id)).find((a) => a.approvalId === approvalId);
    } catch (e) {
      // No incident to signal; a worker that is down is an outage, not a missing incident.
      if (unreadable(e) === 'not-found')
        return refuse(404, 'not-found', `no open incident ${id}`, undefined, false);
      return unavailable;
    }
    if (!record) return refuse(404, 'not-found', `no approval ${approvalId} in ${id}`);
    // Already decided (the incident may even have closed since: the answer is the decision, not an outage),
    // or past its deadline (the workflow refuses it too, even before its deadline timer fires).
    const closed = approvalClosed(record, Date.now());
    if (closed) return refuse(409, closed.code, closed.message, record);
    const policy = d.mayApprove(op, record.action, record.requester === op.id);
    if (!policy.allow)
      return refuse(
        403,
        'unauthorized',
        `the policy does not let ${op.id} (${op.role}) decide ${record.action}`,
        record,
      );
    try {
      const receipt = await client.withDeadline(Date.now() + timeout, () =>
        client.workflow.getHandle(id).executeUpdate(decideUpdate, {
          args: [
            {
              approvalId,
              paramsHash: q.paramsHash,
              decision,
              operator: { id: op.id, role: op.role },
              via,
              reason: q.reason,
            },
          ],
        }),
      );
      d.attempts.record({ incidentId: id, approvalId, operator: op.id, via, decision, outcome: 'accepted' });
      return { ok: true, receipt, record };
    } catch (e) {
      if (e instanceof WorkflowUpdateFailedError && e.cause instanceof ApplicationFailure) {
        const code = e.cause.type ?? 'refused';
        return refuse(STATUS_FOR_CODE[code] ?? 409, code, e.cause.message, record);
      }
      if (e instanceof WorkflowNotFoundError)
        return refuse(409, 'incident-closed', `incident ${id} closed before the decision arrived`, record);
      return unavailable;
    }
  };

  return { client, approvalsOf, decide, recordRefusal };
}
export type ApprovalDecider = ReturnType<typeof createApprovalDecider>;

/**
 * Why an incident's approvals could not be read: it does not exist (or is not an incident), or Temporal or
 * the incident's worker did not answer in time (a query needs a worker), which is not the same answer.
 */
export function unreadable(e: unknown): 'not-found' | 'unavailable' {
  return e instanceof WorkflowNotFoundError || e instanceof QueryNotRegisteredError
    ? 'not-found'
    : 'unavailable';
}

/** 503 with Retry-After: Temporal (or, for a query, the incident's worker) did not answer in time. */
function engineUnavailable(reply: FastifyReply) {
  return reply
    .code(503)
    .header('retry-after', '5')
    .send({ error: 'unavailable', message: 'the workflow engine did not answer in time; retry' });
}

/** Refused resolves share the decision log with approvals, under this approval id. */
const RESOLVE_ATTEMPT = 'resolve';

export function registerApprovalRoutes(app: FastifyInstance, d: ApprovalDeps): void {
  const { client, approvalsOf, decide, recordRefusal } = createApprovalDecider(d);
  const timeout = d.updateTimeoutMs ?? 10_000;
  // Anyone can send a request without a valid token: those refusals are recorded at a bounded rate.
  const unauthenticatedBound = rateBound(50, 10_000);

  const operatorOf = (req: FastifyRequest): Operator | undefined => {
    const auth = req.headers.authorization;
    return auth?.startsWith('Bearer ') ? d.operators.authenticate(auth.slice(7).trim()) : undefined;
  };
  const json = (body: unknown) => {
    try {
      return JSON.parse(Buffer.isBuffer(body) ? body.toString('utf8') : '{}') as unknown;
    } catch {
      return undefined;
    }
  };

  app.register(async (r) => {
    r.addHook('onRequest', async (req, reply) => {
      const op = operatorOf(req);
      if (!op) {
        // A decision attempt (approve, deny, resolve) is recorded: who the token claims to be, never the token.
        const { id, approvalId } = req.params as { id?: string; approvalId?: string };
        const dropped = req.method === 'POST' && id !== undefined ? unauthenticatedBound() : false;
        if (id !== undefined && dropped !== false) {
          const claims = /^Bearer vop_([a-z0-9][a-z0-9._-]{0,63})\./.exec(
            req.headers.authorization ?? '',
          )?.[1];
          await recordRefusal({
            incidentId: id,
            approvalId: approvalId ?? RESOLVE_ATTEMPT,
            operator: 'unauthenticated',
            via: 'http',
            decision: approvalId === undefined ? 'resolve' : 'unknown',
            code: 'unauthenticated',
            message: `no valid operator token${claims ? ` (it names ${claims})` : ''}, from ${req.ip}${droppedNote(dropped)}`,
            signal: false,
          });
        }
        return reply
          .code(401)
          .header('www-authenticate', 'Bearer')
          .send({ error: 'operator token required' });
      }
      (req as FastifyRequest & { operator?: Operator }).operator = op;
    });

    r.get('/v1/approvals', async () => {
      const out: ApprovalRequestRecord[] = [];
      const query = `WorkflowType = '${INCIDENT_WORKFLOW}' AND VigilStatus = 'awaiting-approval'`;
      for await (const wf of client.workflow.list({ query })) {
        try {
          out.push(...(await approvalsOf(wf.workflowId)).filter((a) => a.status === 'pending'));
        } catch {
          /* closed meanwhile */
        }
        if (out.length >= 200) break;
      }
      return { approvals: out };
    });

    r.get<{ Params: { id: string } }>('/v1/incidents/:id/approvals', async (req, reply) => {
      try {
        return { approvals: await approvalsOf(req.params.id), attempts: d.attempts.list(req.params.id) };
      } catch (e) {
        if (unreadable(e) === 'not-found')
          return reply.code(404).send({ error: `no open incident ${req.params.id}` });
        return engineUnavailable(reply);
      }
    });

    r.post<{ Params: { id: string; approvalId: string } }>(
      '/v1/incidents/:id/approvals/:approvalId',
      async (req, reply) => {
        const op = (req as FastifyRequest & { operator: Operator }).operator;
        const { id, approvalId } = req.params;
        const parsed = Decision.safeParse(json(req.body));
        if (!parsed.success) {
          const issues = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
          await recordRefusal({
            incidentId: id,
            approvalId,
            operator: op.id,
            via: 'http',
            decision: 'unknown',
            code: 'invalid-request',
            message: issues.join('; ').slice(0, 500),
          });
          return reply.code(400).send({ error: 'invalid-request', issues });
        }
        const { decision, paramsHash, reason, via } = parsed.data;
        const out = await decide({
          incidentId: id,
          approvalId,
          paramsHash,
          decision,
          operator: op,
          via,
          reason,
        });
        if (out.ok)
          return {
            ...out.receipt,
            action: out.record.action,
            params: out.record.params,
            decidedBy: op.id,
          };
        if (out.status === 503) reply.header('retry-after', '5');
        return reply
          .code(out.status)
          .send({ error: out.code === 'unavailable' ? 'unavailable' : out.code, message: out.message });
      },
    );

    r.post<{ Params: { id: string } }>('/v1/incidents/:id/resolve', async (req, reply) => {
      const op = (req as FastifyRequest & { operator: Operator }).operator;
      const id = req.params.id;
      const refuse = async (status: number, code: string, message: string, signal = true) => {
        await recordRefusal({
          incidentId: id,
          approvalId: RESOLVE_ATTEMPT,
          operator: op.id,
          via: 'http',
          decision: 'resolve',
          code,
          message,
          signal,
        });
        return reply
          .code(status)
          .send(code === 'invalid-request' ? { error: code, issues: [message] } : { error: code, message });
      };
      if (op.role === 'analyst')
        return refuse(403, 'unauthorized', 'a lead or admin resolves an incident left to a human');
      const body = z.object({ note: z.string().min(1).max(2000) }).safeParse(json(req.body));
      if (!body.success) return refuse(400, 'invalid-request', 'note: say what was done');
      let outcome: 'resolved' | 'not-found' | 'unavailable';
      try {
        const handle = client.workflow.getHandle(id);
        // Only an open incident is resolved: a containment hold, the control workflow or an RPA job under
        // this id would take the signal (and the answer would say "resolved") without meaning anything.
        const d = await client.withDeadline(Date.now() + timeout, () => handle.describe());
        if (d.type === INCIDENT_WORKFLOW && d.status.name === 'RUNNING') {
          await client.withDeadline(Date.now() + timeout, () =>
            handle.signal(resolveSignal, {
              operator: op.id,
              note: body.data.note,
              at: new Date().toISOString(),
            }),
          );
          outcome = 'resolved';
        } else outcome = 'not-found';
      } catch (e) {
        // No incident to signal (never was, or closed); anything else is an outage, not a refusal.
        outcome = unreadable(e);
      }
      if (outcome === 'not-found') return refuse(404, 'not-found', `no open incident ${id}`, false);
      if (outcome === 'unavailable') return engineUnavailable(reply);
      return { status: 'resolved', incidentId: id, by: op.id };
    });
  });

  // Operator administration (admin bearer token): tokens are shown once.
}
