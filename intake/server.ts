/**
 * The intake HTTP server. Every request is authenticated before its body is parsed; invalid events are
 * answered 4xx with the reasons and kept in the dead-letter store; valid ones are acknowledged 202 only
 * after Temporal accepted them; when Temporal is busy or away the answer is 429/503 with Retry-After.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { HEADER_KEY_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP, verify } from '../src/signing.js';
import type { IntakeConfig, IntakeKey } from './config.js';
import type { DeadLetterStore } from './dead-letter.js';
import type { IncidentStarter } from './incidents.js';
import type { IntakeMetrics } from './metrics.js';
import { normalize, type Normalized } from './normalize.js';

export interface IntakeDeps {
  config: Pick<
    IntakeConfig,
    | 'VIGIL_INTAKE_KEYS'
    | 'VIGIL_ADMIN_TOKEN_SHA256'
    | 'VIGIL_METRICS_PUBLIC'
    | 'VIGIL_BODY_LIMIT'
    | 'VIGIL_REPLAY_WINDOW'
    | 'VIGIL_CORRELATION_KEY'
    | 'VIGIL_MAX_INFLIGHT'
  >;
  deadLetters: DeadLetterStore;
  starter: IncidentStarter;
  metrics: IntakeMetrics;
  /** Is Temporal reachable? For /readyz. */
  ready: () => Promise<boolean>;
  logger?: boolean;
}

type Raw = { Body: Buffer; Params: { source: string } };

function header(req: FastifyRequest, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

export function buildIntake(deps: IntakeDeps): FastifyInstance {
  const { config, deadLetters, starter, metrics } = deps;
  const keys = new Map<string, IntakeKey>(config.VIGIL_INTAKE_KEYS.map((k) => [k.id, k]));
  const adminHash = Buffer.from(config.VIGIL_ADMIN_TOKEN_SHA256, 'hex');
  const windowSeconds = Math.floor(config.VIGIL_REPLAY_WINDOW / 1000);
  let inflight = 0;

  const app = Fastify({
    bodyLimit: config.VIGIL_BODY_LIMIT,
    logger: deps.logger
      ? { level: 'info', redact: ['req.headers.authorization', `req.headers["${HEADER_SIGNATURE}"]`] }
      : false,
    return503OnClosing: true,
    requestTimeout: 30_000,
  });

  // Keep the exact bytes: the signature is over them, and dead letters store them unchanged.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(
    '*',
    { parseAs: 'buffer', bodyLimit: config.VIGIL_BODY_LIMIT },
    (_req, body, done) => done(null, body),
  );

  app.addHook('onResponse', async (req, reply) => {
    metrics.latency.observe({ status: String(reply.statusCode) }, reply.elapsedTime / 1000);
  });

  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, _req, reply) => {
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : 500;
    if (status === 413)
      return reply.code(413).send({ error: 'payload too large', limit: config.VIGIL_BODY_LIMIT });
    if (status >= 500) app.log.error(err);
    return reply.code(status).send({ error: status >= 500 ? 'internal error' : err.message, code: err.code });
  });

  const isAdmin = (req: FastifyRequest) => {
    const auth = header(req, 'authorization');
    if (!auth?.startsWith('Bearer ')) return false;
    const h = createHash('sha256').update(auth.slice(7)).digest();
    return h.length === adminHash.length && timingSafeEqual(h, adminHash);
  };
  const requireAdmin = async (req: FastifyRequest, reply: FastifyReply) => {
    if (!isAdmin(req))
      return reply.code(401).header('www-authenticate', 'Bearer').send({ error: 'admin token required' });
  };

  app.get('/healthz', async () => ({ ok: true }));
  app.get('/readyz', async (_req, reply) =>
    (await deps.ready())
      ? { ready: true }
      : reply
          .code(503)
          .header('retry-after', '5')
          .send({ ready: false, reason: 'Temporal is not reachable' }),
  );
  app.get('/metrics', async (req, reply) => {
    if (!config.VIGIL_METRICS_PUBLIC && !isAdmin(req))
      return reply.code(401).send({ error: 'admin token required' });
    return reply.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });

  app.post<Raw>('/v1/events/:source', async (req, reply) => {
    const source = req.params.source;
    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const label = source.length <= 32 && /^[a-z0-9_-]+$/.test(source) ? source : 'other';

    // 1. Authenticate. A badly signed request is refused and not stored.
    const keyId = header(req, HEADER_KEY_ID);
    const key = keyId ? keys.get(keyId) : undefined;
    const v = key
      ? verify(
          key.secret,
          { timestamp: header(req, HEADER_TIMESTAMP), signature: header(req, HEADER_SIGNATURE) },
          'POST',
          req.url,
          body,
          windowSeconds,
        )
      : ({ ok: false, reason: keyId ? 'unknown key id' : `missing ${HEADER_KEY_ID} header` } as const);
    if (!v.ok || !key) {
      metrics.events.inc({ source: label, outcome: 'unauthenticated' });
      return reply.code(401).send({ error: 'unauthenticated', reason: v.ok ? 'unknown key' : v.reason });
    }
    const receivedAt = new Date().toISOString();
    const contentType = header(req, 'content-type');

    // 2. Authorize the key for this source; then normalize. Refusals are dead-lettered with the reason.
    const allowed = key.sources.includes('*') || key.sources.includes(source);
    const n: Normalized = allowed
      ? normalize(source, body, config.VIGIL_CORRELATION_KEY, receivedAt)
      : {
          ok: false,
          reason: 'source-not-allowed',
          status: 403,
          issues: [`key "${key.id}" may not post to source "${source.slice(0, 64)}"`],
        };
    if (!n.ok) {
      const id = deadLetters.add({
        source,
        keyId: key.id,
        reason: n.reason,
        issues: n.issues,
        contentType,
        body,
        receivedAt,
      });
      metrics.events.inc({ source: label, outcome: 'dead_lettered' });
      return reply.code(n.status).send({ error: n.reason, issues: n.issues, deadLetterId: id });
    }

    // 3. Hand to Temporal; acknowledge only what it accepted.
    if (inflight >= config.VIGIL_MAX_INFLIGHT) {
      metrics.events.inc({ source: label, outcome: 'busy' });
      return reply
        .code(429)
        .header('retry-after', '1')
        .send({ error: 'busy', reason: 'too many events in flight; retry later' });
    }
    inflight++;
    const t0 = performance.now();
    try {
      const { runId } = await starter.start(n.incidentId, n.correlationKey, n.event);
      metrics.temporalStart.observe((performance.now() - t0) / 1000);
      metrics.events.inc({ source: label, outcome: 'accepted' });
      return reply
        .code(202)
        .send({ status: 'accepted', incidentId: n.incidentId, runId, eventId: n.event.id });
    } catch (e) {
      metrics.events.inc({ source: label, outcome: 'unavailable' });
      req.log.warn({ err: (e as Error).message }, 'Temporal did not accept the event');
      return reply
        .code(503)
        .header('retry-after', '5')
        .send({ error: 'unavailable', reason: 'the workflow engine did not accept the event; retry later' });
    } finally {
      inflight--;
    }
  });

  // Dead-letter administration (bearer admin token).
  app.register(async (admin) => {
    admin.addHook('onRequest', requireAdmin);
    admin.get<{ Querystring: { state?: 'pending' | 'resubmitted'; limit?: string; after?: string } }>(
      '/v1/admin/dlq',
      async (req) => ({
        counts: deadLetters.counts(),
        items: deadLetters.list({
          state:
            req.query.state === 'pending' || req.query.state === 'resubmitted' ? req.query.state : undefined,
          limit: Number(req.query.limit ?? 100) || 100,
          afterId: Number(req.query.after ?? 0) || 0,
        }),
      }),
    );
    admin.get<{ Params: { id: string } }>('/v1/admin/dlq/:id', async (req, reply) => {
      const d = deadLetters.get(Number(req.params.id));
      if (!d) return reply.code(404).send({ error: 'no such dead letter' });
      const { body, ...meta } = d;
      return {
        ...meta,
        body: body.toString('base64'),
        preview: body.toString('utf8', 0, Math.min(body.length, 4096)),
      };
    });
    admin.post<{ Params: { id: string } }>('/v1/admin/dlq/:id/retry', async (req, reply) => {
      const d = deadLetters.get(Number(req.params.id));
      if (!d) return reply.code(404).send({ error: 'no such dead letter' });
      if (d.state === 'resubmitted')
        return reply.code(409).send({ error: 'already resubmitted', incidentId: d.incidentId });
      // The sender's key must (still) be allowed to post to this source: a retry is not a way around it.
      const sender = d.keyId ? keys.get(d.keyId) : undefined;
      if (!sender || !(sender.sources.includes('*') || sender.sources.includes(d.source))) {
        const issues = [`key "${d.keyId ?? '?'}" may not post to source "${d.source}"`];
        deadLetters.markFailedRetry(d.id, 'source-not-allowed', issues);
        return reply.code(403).send({ error: 'source-not-allowed', issues, deadLetterId: d.id });
      }
      const n = normalize(d.source, d.body, config.VIGIL_CORRELATION_KEY);
      if (!n.ok) {
        deadLetters.markFailedRetry(d.id, n.reason, n.issues);
        return reply.code(422).send({ error: n.reason, issues: n.issues, deadLetterId: d.id });
      }
      try {
        await starter.start(n.incidentId, n.correlationKey, n.event);
      } catch {
        return reply.code(503).header('retry-after', '5').send({ error: 'unavailable' });
      }
      deadLetters.markResubmitted(d.id, n.incidentId);
      return { status: 'resubmitted', incidentId: n.incidentId, eventId: n.event.id };
    });
  });

  return app;
}
