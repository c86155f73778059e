/**
 * The bot API: RPA bots claim jobs of their queues with a lease, heartbeat, and complete or fail them.
 * Every request is authenticated with the bot's own token (intake/rpa-bots.ts) and authorized per queue;
 * the lease checks are the queue workflow's Update validators (the final word: a late or foreign
 * completion is refused there, atomically with the lease state). A result is validated against its job
 * type here, before the workflow sees it: a malformed one is a 400 with the zod issues and the job stays
 * held. After the workflow recorded an outcome, the waiting activity is completed through its task token;
 * if that delivery fails (the activity is between attempts, Temporal is away), the activity's next attempt
 * reads the recorded outcome. Bot tokens never reach Temporal. Every request is counted
 * (vigil_intake_rpa_requests_total{op,queue,bot,outcome}).
 */
import {
  ActivityCancelledError,
  ActivityNotFoundError,
  Client,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  type ConnectionLike,
} from '@temporalio/client';
import { ApplicationFailure, type DataConverter, type UpdateDefinition } from '@temporalio/common';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Counter, type Registry } from 'prom-client';
import { z } from 'zod';
import { checkRpaResult, RpaFailureReport, RpaJobType } from '../src/contracts/rpa.js';
import {
  cancelUpdate,
  claimUpdate,
  completeUpdate,
  failUpdate,
  heartbeatUpdate,
  jobQuery,
  jobsQuery,
  RPA_JOB_ID_PATTERN,
  RPA_LIMITS,
  RPA_QUEUE_PATTERN,
  rpaQueueWorkflowId,
  RpaRefusal,
  type RpaCompletion,
  type LeaseReceipt,
} from '../src/contracts/rpa-queue.js';
import { ErrorType } from '../src/errors.js';
import { RateLimiter } from './rate-limit.js';
import type { RpaBot, RpaBotStore } from './rpa-bots.js';

export interface RpaDeps {
  bots: RpaBotStore;
  connection: ConnectionLike;
  namespace: string;
  /** The payload codec, so job inputs and results travel encrypted. */
  dataConverter?: DataConverter;
  /** Deadline of one call to Temporal (default 10 s). */
  timeoutMs?: number;
  /** The longest lease a bot may ask for (default 1 h). */
  maxLeaseMs?: number;
  /** Requests per second per bot (default 20, burst 4x). */
  botRate?: number;
}

const STATUS: Record<string, number> = {
  [RpaRefusal.NoJob]: 204,
  [RpaRefusal.NotFound]: 404,
  [RpaRefusal.NotHolder]: 409,
  [RpaRefusal.LeaseExpired]: 409,
  [RpaRefusal.Finished]: 409,
  [RpaRefusal.QueueFull]: 429,
  [RpaRefusal.Invalid]: 400,
};

type Params = { queue: string; jobId: string };
type Outcome =
  { ok: true; value: LeaseReceipt } | { ok: false; status: number; error: string; message: string };

const LeaseBody = z.strictObject({
  leaseId: z.string().min(1).max(64),
  /** Seconds: the new lease length (default: the one claimed). */
  lease: z.number().int().positive().optional(),
  progress: z.string().max(RPA_LIMITS.progressChars).optional(),
});
const CompleteBody = z.strictObject({ leaseId: z.string().min(1).max(64), result: z.unknown() });
const BotBody = z.strictObject({
  name: z.string().min(1).max(64),
  queues: z.array(z.string()).min(1).max(64),
});

const issues = (e: z.ZodError) => e.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
function json(body: unknown): unknown {
  if (!Buffer.isBuffer(body) || !body.length) return undefined;
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
}

export function registerRpaRoutes(
  app: FastifyInstance,
  d: RpaDeps,
  ctx: { isAdmin: (req: FastifyRequest) => boolean; registry: Registry },
): void {
  const client = new Client({
    connection: d.connection,
    namespace: d.namespace,
    dataConverter: d.dataConverter,
  });
  const timeout = d.timeoutMs ?? 10_000;
  const maxLeaseMs = Math.min(d.maxLeaseMs ?? 3_600_000, RPA_LIMITS.maxLeaseMs);
  const botLimiter = new RateLimiter(d.botRate ?? 20, (d.botRate ?? 20) * 4);
  // Verifying a token costs scrypt: an address without a recently verified token gets a few tries a second.
  const authLimiter = new RateLimiter(2, 10);
  const requests = new Counter({
    name: 'vigil_intake_rpa_requests_total',
    help: 'Bot API requests by operation, queue, bot and outcome (claimed, empty, completed, requeued, failed, invalid-result, unauthenticated, forbidden, not-lease-holder, lease-expired, job-finished, not-found, unavailable, ...)',
    labelNames: ['op', 'queue', 'bot', 'outcome'] as const,
    registers: [ctx.registry],
  });
  const deliveries = new Counter({
    name: 'vigil_intake_rpa_deliveries_total',
    help: 'Outcomes handed to the waiting activity: delivered, or left for its next attempt (undelivered), or the requester cancelled',
    labelNames: ['op', 'outcome'] as const,
    registers: [ctx.registry],
  });

  const handle = (queue: string) => client.workflow.getHandle(rpaQueueWorkflowId(queue));
  const within = <T>(fn: () => Promise<T>) => client.withDeadline(Date.now() + timeout, fn);

  /** Run an Update on the queue; refusals become HTTP answers. */
  async function update<R, A>(
    queue: string,
    def: UpdateDefinition<R, [A]>,
    arg: A,
  ): Promise<{ ok: true; value: R } | { ok: false; status: number; error: string; message: string }> {
    try {
      const value = await within(() => handle(queue).executeUpdate(def, { args: [arg] }));
      return { ok: true, value };
    } catch (e) {
      if (e instanceof WorkflowNotFoundError)
        return { ok: false, status: 404, error: RpaRefusal.NotFound, message: `queue ${queue} has no jobs` };
      if (e instanceof WorkflowUpdateFailedError && e.cause instanceof ApplicationFailure) {
        const code = e.cause.type ?? 'refused';
        return { ok: false, status: STATUS[code] ?? 409, error: code, message: e.cause.message };
      }
      app.log.warn({ err: (e as Error).message, queue }, 'RPA queue did not answer');
      return {
        ok: false,
        status: 503,
        error: 'unavailable',
        message: 'the workflow engine did not answer; retry',
      };
    }
  }

  /** Authenticate the bot and authorize it for the queue; answers and counts the refusal itself. */
  async function botFor(req: FastifyRequest, reply: FastifyReply, op: string): Promise<RpaBot | undefined> {
    const queue = (req.params as Partial<Params>).queue ?? '';
    const auth = req.headers.authorization;
    const token = auth?.startsWith('Bearer ') ? auth.slice(7).trim() : '';
    let bot = token ? d.bots.cached(token) : undefined;
    if (!bot && token) {
      const rate = authLimiter.take(req.ip);
      if (!rate.ok) {
        requests.inc({ op, queue: '-', bot: 'unknown', outcome: 'rate-limited' });
        await reply
          .code(429)
          .header('retry-after', String(rate.retryAfterSeconds))
          .send({ error: 'rate limited' });
        return undefined;
      }
      bot = d.bots.authenticate(token);
    }
    if (!bot) {
      requests.inc({ op, queue: '-', bot: 'unknown', outcome: 'unauthenticated' });
      await reply
        .code(401)
        .header('www-authenticate', 'Bearer')
        .send({ error: 'unauthenticated', reason: 'a valid bot token is required' });
      return undefined;
    }
    if (!RPA_QUEUE_PATTERN.test(queue) || !bot.queues.includes(queue)) {
      requests.inc({ op, queue: '-', bot: bot.name, outcome: 'forbidden' });
      await reply.code(403).send({
        error: 'forbidden',
        reason: `bot ${bot.name} may not work on queue "${queue.slice(0, 64)}"`,
      });
      return undefined;
    }
    const rate = botLimiter.take(bot.name);
    if (!rate.ok) {
      requests.inc({ op, queue, bot: bot.name, outcome: 'rate-limited' });
      await reply
        .code(429)
        .header('retry-after', String(rate.retryAfterSeconds))
        .send({ error: 'rate limited' });
      return undefined;
    }
    return bot;
  }

  const refused = (
    reply: FastifyReply,
    op: string,
    queue: string,
    bot: string,
    r: { status: number; error: string; message: string },
  ) => {
    requests.inc({ op, queue, bot, outcome: r.error });
    if (r.status === 204) return reply.code(204).send();
    if (r.status === 503 || r.status === 429) void reply.header('retry-after', r.status === 429 ? '30' : '2');
    return reply.code(r.status).send({ error: r.error, reason: r.message });
  };

  const tokenOf = (r: LeaseReceipt) => Buffer.from(r.taskToken, 'base64');

  app.register(async (r) => {
    r.get<{ Params: Pick<Params, 'queue'>; Querystring: { lease?: string; types?: string } }>(
      '/v1/rpa/queues/:queue/jobs/next',
      async (req, reply) => {
        const bot = await botFor(req, reply, 'claim');
        if (!bot) return reply;
        const { queue } = req.params;
        const seconds = Number(req.query.lease ?? 60);
        if (
          !Number.isInteger(seconds) ||
          seconds * 1000 < RPA_LIMITS.minLeaseMs ||
          seconds * 1000 > maxLeaseMs
        )
          return refused(reply, 'claim', queue, bot.name, {
            status: 400,
            error: 'invalid-request',
            message: `lease: whole seconds from 1 to ${maxLeaseMs / 1000}`,
          });
        const types = req.query.types?.split(',').filter(Boolean);
        if (types?.some((t) => !RpaJobType.safeParse(t).success))
          return refused(reply, 'claim', queue, bot.name, {
            status: 400,
            error: 'invalid-request',
            message: `types: a comma-separated list of ${RpaJobType.options.join(', ')}`,
          });
        const u = await update(queue, claimUpdate, {
          bot: bot.name,
          leaseMs: seconds * 1000,
          jobTypes: types,
        });
        if (!u.ok)
          return refused(reply, 'claim', queue, bot.name, u.status === 404 ? { ...u, status: 204 } : u);
        const { taskToken, ...job } = u.value;
        requests.inc({ op: 'claim', queue, bot: bot.name, outcome: 'claimed' });
        // Tell the waiting activity (and whoever watches it in the UI) which bot has the job.
        await within(() =>
          client.activity.heartbeat(Buffer.from(taskToken, 'base64'), {
            bot: bot.name,
            state: 'claimed',
            claim: job.claim,
            leaseExpiresAt: job.leaseExpiresAt,
          }),
        ).catch(() => undefined);
        return { queue, ...job };
      },
    );

    r.post<{ Params: Params }>('/v1/rpa/queues/:queue/jobs/:jobId/heartbeat', async (req, reply) => {
      const bot = await botFor(req, reply, 'heartbeat');
      if (!bot) return reply;
      const { queue, jobId } = req.params;
      const body = LeaseBody.safeParse(json(req.body));
      if (!RPA_JOB_ID_PATTERN.test(jobId) || !body.success)
        return refused(reply, 'heartbeat', queue, bot.name, {
          status: 400,
          error: 'invalid-request',
          message: body.success ? 'jobId is not a job id' : issues(body.error).join('; '),
        });
      const leaseMs = body.data.lease === undefined ? undefined : body.data.lease * 1000;
      if (leaseMs !== undefined && leaseMs > maxLeaseMs)
        return refused(reply, 'heartbeat', queue, bot.name, {
          status: 400,
          error: 'invalid-request',
          message: `lease: at most ${maxLeaseMs / 1000} seconds`,
        });
      const u: Outcome = await update(queue, heartbeatUpdate, {
        jobId,
        bot: bot.name,
        leaseId: body.data.leaseId,
        leaseMs,
      });
      if (!u.ok) return refused(reply, 'heartbeat', queue, bot.name, u);
      try {
        await within(() =>
          client.activity.heartbeat(tokenOf(u.value), {
            bot: bot.name,
            state: 'working',
            progress: body.data.progress,
            leaseExpiresAt: u.value.leaseExpiresAt,
          }),
        );
      } catch (e) {
        if (e instanceof ActivityCancelledError) {
          // The playbook no longer wants the job: close it in the queue and acknowledge the cancellation.
          await update(queue, cancelUpdate, { jobId, reason: 'the requesting workflow cancelled the job' });
          await within(() => client.activity.reportCancellation(tokenOf(u.value))).catch(() => undefined);
          deliveries.inc({ op: 'heartbeat', outcome: 'cancelled' });
          requests.inc({ op: 'heartbeat', queue, bot: bot.name, outcome: 'cancelled' });
          return reply
            .code(409)
            .send({ error: 'cancelled', reason: 'the requester cancelled the job; stop working on it' });
        }
        // Not found: the activity is between attempts; its next attempt picks the job up again.
      }
      requests.inc({ op: 'heartbeat', queue, bot: bot.name, outcome: 'extended' });
      return { jobId, leaseExpiresAt: u.value.leaseExpiresAt };
    });

    r.post<{ Params: Params }>('/v1/rpa/queues/:queue/jobs/:jobId/complete', async (req, reply) => {
      const bot = await botFor(req, reply, 'complete');
      if (!bot) return reply;
      const { queue, jobId } = req.params;
      const body = CompleteBody.safeParse(json(req.body));
      if (!RPA_JOB_ID_PATTERN.test(jobId) || !body.success || body.data.result === undefined)
        return refused(reply, 'complete', queue, bot.name, {
          status: 400,
          error: 'invalid-request',
          message: !body.success ? issues(body.error).join('; ') : 'body: {"leaseId", "result"} is required',
        });
      let jobType: string;
      try {
        const job = await within(() => handle(queue).query(jobQuery, jobId));
        if (!job)
          return refused(reply, 'complete', queue, bot.name, {
            status: 404,
            error: RpaRefusal.NotFound,
            message: `no job ${jobId} in queue ${queue}`,
          });
        jobType = job.jobType;
      } catch (e) {
        if (e instanceof WorkflowNotFoundError)
          return refused(reply, 'complete', queue, bot.name, {
            status: 404,
            error: RpaRefusal.NotFound,
            message: `queue ${queue} has no jobs`,
          });
        return refused(reply, 'complete', queue, bot.name, {
          status: 503,
          error: 'unavailable',
          message: 'the workflow engine did not answer; retry',
        });
      }
      const checked = checkRpaResult(jobType, body.data.result);
      if (!checked.ok) {
        requests.inc({ op: 'complete', queue, bot: bot.name, outcome: 'invalid-result' });
        return reply.code(400).send({
          error: 'invalid-result',
          reason: `the result does not match job type ${jobType}; the job stays open`,
          issues: checked.issues,
        });
      }
      const u: Outcome = await update(queue, completeUpdate, {
        jobId,
        bot: bot.name,
        leaseId: body.data.leaseId,
        result: checked.value,
      });
      if (!u.ok) return refused(reply, 'complete', queue, bot.name, u);
      const outcome = u.value.outcome;
      const completion: RpaCompletion = {
        jobId,
        bot: bot.name,
        result: checked.value,
        completedAt: outcome?.status === 'completed' ? outcome.completedAt : new Date().toISOString(),
        claims: u.value.claims,
      };
      const delivered = await deliver('complete', () =>
        client.activity.complete(tokenOf(u.value), completion),
      );
      requests.inc({ op: 'complete', queue, bot: bot.name, outcome: 'completed' });
      return { status: 'completed', jobId, delivered };
    });

    r.post<{ Params: Params }>('/v1/rpa/queues/:queue/jobs/:jobId/fail', async (req, reply) => {
      const bot = await botFor(req, reply, 'fail');
      if (!bot) return reply;
      const { queue, jobId } = req.params;
      const body = RpaFailureReport.safeParse(json(req.body));
      if (!RPA_JOB_ID_PATTERN.test(jobId) || !body.success)
        return refused(reply, 'fail', queue, bot.name, {
          status: 400,
          error: 'invalid-request',
          message: body.success ? 'jobId is not a job id' : issues(body.error).join('; '),
        });
      const { leaseId, code, message, retryable } = body.data;
      const u: Outcome = await update(queue, failUpdate, {
        jobId,
        bot: bot.name,
        leaseId,
        code,
        message,
        retryable,
      });
      if (!u.ok) return refused(reply, 'fail', queue, bot.name, u);
      if (u.value.state === 'pending') {
        requests.inc({ op: 'fail', queue, bot: bot.name, outcome: 'requeued' });
        return { status: 'requeued', jobId };
      }
      const delivered = await deliver('fail', () =>
        client.activity.fail(
          tokenOf(u.value),
          ApplicationFailure.create({
            type: ErrorType.UpstreamRejected,
            nonRetryable: true,
            message: `RPA job ${jobId}: bot ${bot.name} failed it: ${code}: ${message}`,
            details: [{ code, reason: 'bot-failed', bot: bot.name, jobId }],
          }),
        ),
      );
      requests.inc({ op: 'fail', queue, bot: bot.name, outcome: 'failed' });
      return { status: 'failed', jobId, delivered };
    });
  });

  /** Hand the outcome to the waiting activity; when it is between attempts, its next attempt reads it. */
  async function deliver(op: string, call: () => Promise<void>): Promise<boolean> {
    try {
      await within(call);
      deliveries.inc({ op, outcome: 'delivered' });
      return true;
    } catch (e) {
      deliveries.inc({ op, outcome: 'undelivered' });
      if (!(e instanceof ActivityNotFoundError))
        app.log.warn(
          { err: (e as Error).message },
          'RPA outcome recorded but not delivered; the next attempt reads it',
        );
      return false;
    }
  }

  // Bot administration (admin bearer token). The token is returned once and stored hashed.
  app.register(async (admin) => {
    admin.addHook('onRequest', async (req, reply) => {
      if (!ctx.isAdmin(req))
        return reply.code(401).header('www-authenticate', 'Bearer').send({ error: 'admin token required' });
    });
    admin.get('/v1/admin/rpa/bots', async () => ({ bots: d.bots.list() }));
    admin.post('/v1/admin/rpa/bots', async (req, reply) => {
      const b = BotBody.safeParse(json(req.body));
      if (!b.success) return reply.code(400).send({ error: 'invalid-request', issues: issues(b.error) });
      try {
        return d.bots.add(b.data.name, b.data.queues);
      } catch (e) {
        return reply.code(400).send({ error: 'invalid-request', issues: [(e as Error).message] });
      }
    });
    admin.delete<{ Params: { name: string } }>('/v1/admin/rpa/bots/:name', async (req, reply) =>
      d.bots.disable(req.params.name)
        ? { disabled: req.params.name }
        : reply.code(404).send({ error: 'no such bot' }),
    );
    admin.get<{ Params: { queue: string } }>('/v1/admin/rpa/queues/:queue/jobs', async (req, reply) => {
      if (!RPA_QUEUE_PATTERN.test(req.params.queue))
        return reply.code(400).send({ error: 'not a queue name' });
      try {
        return {
          queue: req.params.queue,
          jobs: await within(() => handle(req.params.queue).query(jobsQuery)),
        };
      } catch (e) {
        if (e instanceof WorkflowNotFoundError) return { queue: req.params.queue, jobs: [] };
        return reply.code(503).header('retry-after', '2').send({ error: 'unavailable' });
      }
    });
  });
}
