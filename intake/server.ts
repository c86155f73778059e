/**
 * The intake HTTP server. Every request is authenticated before its body is parsed; invalid events are
 * answered 4xx with the reasons and kept in the dead-letter store; valid ones are acknowledged only after
 * Temporal accepted them; a sender over its rate, or a Temporal that is busy or away, gets 429/503 with
 * Retry-After. Conservation: authenticated events = started + joined + dead-lettered (+ refused for retry).
 */
import { timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { HEADER_SIGNATURE } from '../src/signing.js';
import { createAuthenticator, hostMatcher, sha256, sourceAllowed, type Principal } from './auth.js';
import { ACCEPTED_CODINGS, contentCoding, decodeBody, type Decoded } from './content-encoding.js';
import type { IntakeConfig } from './config.js';
import type { DeadLetterReason, DeadLetterStore } from './dead-letter.js';
import type { IncidentStarter } from './incidents.js';
import { DEFAULT_LIMITS, groupCommitter, type Committed } from './group-commit.js';
import type { IntakeMetrics } from './metrics.js';
import { eventId, normalize, normalizeDocument, type Normalized } from './normalize.js';
import type { OsqueryNodeStore } from './osquery-nodes.js';
import { registerApprovalRoutes, type ApprovalDeps } from './approvals.js';
import { registerResponseRoutes, type ResponseDeps } from './response.js';
import { registerCodecRoutes } from './codec-server.js';
import { registerVerdictRoutes, type VerdictDeps } from './verdicts.js';
import type { AesGcmCodec } from '../src/codec/aes-gcm.js';
import { OPERATOR_ROLES, type OperatorRole } from '../src/policy/actions.js';
import { RateLimiter } from './rate-limit.js';
import { registerRpaRoutes, type RpaDeps } from './rpa.js';

export interface IntakeDeps {
  config: Pick<
    IntakeConfig,
    | 'VIGIL_INTAKE_KEYS'
    | 'VIGIL_INTAKE_TOKENS'
    | 'VIGIL_OSQUERY_ENROLL_SECRETS'
    | 'VIGIL_ADMIN_TOKEN_SHA256'
    | 'VIGIL_METRICS_PUBLIC'
    | 'VIGIL_BODY_LIMIT'
    | 'VIGIL_REPLAY_WINDOW'
    | 'VIGIL_CORRELATION_KEY'
    | 'VIGIL_MAX_INFLIGHT'
    | 'VIGIL_RATE_LIMIT'
    | 'VIGIL_RATE_BURST'
  > &
    Partial<Pick<IntakeConfig, 'VIGIL_INTAKE_GROUP_COMMIT'>>;
  deadLetters: DeadLetterStore;
  nodes: OsqueryNodeStore;
  starter: IncidentStarter;
  metrics: IntakeMetrics;
  /** Is Temporal reachable? For /readyz. */
  ready: () => Promise<boolean>;
  /** Operators and approvals (the approval HTTP API and operator administration). */
  approvals?: ApprovalDeps;
  /** Agents, kill switch, budget and containments for operators (see intake/response.ts). */
  response?: ResponseDeps;
  /** Analyst verdicts (true / false positive) for operators (see intake/verdicts.ts). */
  verdicts?: VerdictDeps;
  /** The payload codec endpoint for the Temporal UI. */
  codec?: { codec: AesGcmCodec; corsOrigin?: string; devOpen?: boolean };
  /** The RPA bot API and bot administration (intake/rpa.ts). */
  rpa?: RpaDeps;
  logger?: boolean;
}

/** The answer for one document (a request body, or one NDJSON line, or one osquery log item). */
export interface DocResult {
  index: number;
  status: number;
  incidentId?: string;
  runId?: string;
  eventId?: string;
  /** Every event of the document (osquery batches hold several). */
  events?: { incidentId: string; eventId: string; started: boolean }[];
  skipped?: { count: number; reason: string };
  error?: string;
  reason?: string;
  issues?: string[];
  deadLetterId?: number;
  retryAfter?: number;
}

type Raw = { Body: Buffer; Params: { source: string } };
/** NDJSON lines (and osquery log items) of one request being worked on at once. */
const LINES_IN_FLIGHT = 64;
const OSQUERY_SOURCE = 'osquery';

function header(req: FastifyRequest, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

export function buildIntake(deps: IntakeDeps): FastifyInstance {
  const { config, deadLetters, nodes, starter, metrics } = deps;
  const adminHash = Buffer.from(config.VIGIL_ADMIN_TOKEN_SHA256, 'hex');
  const authenticate = createAuthenticator(
    config.VIGIL_INTAKE_KEYS,
    config.VIGIL_INTAKE_TOKENS,
    Math.floor(config.VIGIL_REPLAY_WINDOW / 1000),
  );
  const limiter = new RateLimiter(config.VIGIL_RATE_LIMIT, config.VIGIL_RATE_BURST);
  const enrollSecrets = config.VIGIL_OSQUERY_ENROLL_SECRETS.map((s) => ({
    ...s,
    hash: Buffer.from(s.sha256, 'hex'),
    hosts: hostMatcher(s.hosts),
  }));
  const configured = new Map<string, Principal>([
    ...config.VIGIL_INTAKE_KEYS.map(
      (k) => [k.id, { id: k.id, method: 'hmac', sources: k.sources, hosts: hostMatcher(k.hosts) }] as const,
    ),
    ...config.VIGIL_INTAKE_TOKENS.map(
      (t) => [t.id, { id: t.id, method: 'token', sources: t.sources, hosts: hostMatcher(t.hosts) }] as const,
    ),
  ]);
  const nodePrincipal = (host: string): Principal => ({
    id: `osquery-node:${host}`,
    method: 'osquery-node',
    sources: [OSQUERY_SOURCE],
    hosts: hostMatcher([host]),
  });
  /** The principal a dead letter was sent by, as configured now (a retry is not a way around a binding). */
  const principalById = (id: string | null): Principal | undefined =>
    !id
      ? undefined
      : id.startsWith('osquery-node:')
        ? nodePrincipal(id.slice('osquery-node:'.length))
        : configured.get(id);
  let inflight = 0;
  // Events of one incident that arrive while a signal for it is in flight go together in the next one.
  const committer = groupCommitter(starter, {
    // Off: batches of one, so every event goes alone as `detection`.
    ...(config.VIGIL_INTAKE_GROUP_COMMIT === false ? { limits: { ...DEFAULT_LIMITS, maxEvents: 1 } } : {}),
    observe: (events, seconds) => {
      metrics.temporalStart.observe(seconds);
      metrics.signalEvents.observe(events);
    },
  });

  const app = Fastify({
    bodyLimit: config.VIGIL_BODY_LIMIT,
    logger: deps.logger
      ? {
          level: 'info',
          redact: [
            'req.headers.authorization',
            `req.headers["${HEADER_SIGNATURE}"]`,
            'req.headers["x-api-key"]',
            'req.headers["x-vigil-token"]',
          ],
        }
      : false,
    return503OnClosing: true,
    requestTimeout: 30_000,
  });

  // Keep the exact bytes as sent: the signature is over them. A compressed body is inflated after
  // authentication (content-encoding.ts); events, their ids and dead letters are of the inflated bytes.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(
    '*',
    { parseAs: 'buffer', bodyLimit: config.VIGIL_BODY_LIMIT },
    (_req, body, done) => done(null, body),
  );

  app.addHook('onResponse', async (_req, reply) => {
    metrics.latency.observe({ status: String(reply.statusCode) }, reply.elapsedTime / 1000);
  });

  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, _req, reply) => {
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : 500;
    if (status === 413)
      return reply.code(413).send({ error: 'payload too large', limit: config.VIGIL_BODY_LIMIT });
    if (status >= 500) app.log.error(err);
    return reply.code(status).send({ error: status >= 500 ? 'internal error' : err.message, code: err.code });
  });

  /** A body whose Content-Encoding the intake does not read (RFC 9110: 415 with Accept-Encoding). */
  const unsupportedCoding = (reply: FastifyReply, reason: string) =>
    reply
      .code(415)
      .header('accept-encoding', ACCEPTED_CODINGS)
      .send({ error: 'unsupported-content-encoding', reason });

  /** The body inflated, or the answer when it cannot be: 413 past the body limit, 400 when corrupt. */
  const undecodable = (reply: FastifyReply, d: Exclude<Decoded, { ok: true }>, extra: object = {}) =>
    d.status === 413
      ? reply
          .code(413)
          .send({ error: 'payload too large', limit: config.VIGIL_BODY_LIMIT, reason: d.issues[0], ...extra })
      : reply.code(400).send({ error: 'malformed-encoding', issues: d.issues, ...extra });

  const isAdmin = (req: FastifyRequest) => {
    const auth = header(req, 'authorization');
    if (!auth?.startsWith('Bearer ')) return false;
    const h = sha256(auth.slice(7));
    return timingSafeEqual(h, adminHash);
  };

  const count = (source: string, sender: string, outcome: string, n = 1) => {
    const label = source.length <= 32 && /^[a-z0-9_-]+$/.test(source) ? source : 'other';
    metrics.events.inc({ source: label, sender, outcome }, n);
  };

  const refuse = async (
    source: string,
    principal: Principal,
    body: Buffer,
    contentType: string | undefined,
    receivedAt: string,
    index: number,
    reason: DeadLetterReason,
    status: number,
    issues: string[],
  ): Promise<DocResult> => {
    const deadLetterId = await deadLetters.addDurably({
      source,
      keyId: principal.id,
      reason,
      issues,
      contentType,
      body,
      receivedAt,
    });
    count(source, principal.id, 'dead_lettered');
    return { index, status, error: reason, issues, deadLetterId };
  };

  /** One document: authorize, normalize, bind to hosts, hand every event to Temporal. */
  async function ingest(
    principal: Principal,
    source: string,
    body: Buffer,
    index: number,
    receivedAt: string,
    contentType?: string,
    parsed?: { raw: unknown },
  ): Promise<DocResult> {
    if (!sourceAllowed(principal, source)) {
      return refuse(source, principal, body, contentType, receivedAt, index, 'source-not-allowed', 403, [
        `credential "${principal.id}" may not post to source "${source.slice(0, 64)}"`,
      ]);
    }
    const n: Normalized = parsed
      ? normalizeDocument(source, parsed.raw, eventId(source, body), config.VIGIL_CORRELATION_KEY, receivedAt)
      : normalize(source, body, config.VIGIL_CORRELATION_KEY, receivedAt);
    if (!n.ok)
      return refuse(source, principal, body, contentType, receivedAt, index, n.reason, n.status, n.issues);
    const foreign = n.items
      .filter((i) => !principal.hosts.allows(i.event.host.id))
      .map((i) => i.event.host.id);
    if (foreign.length) {
      return refuse(source, principal, body, contentType, receivedAt, index, 'host-not-allowed', 403, [
        `credential "${principal.id}" may not report on host(s) ${[...new Set(foreign)].map((h) => `"${h.slice(0, 255)}"`).join(', ')}`,
      ]);
    }
    if (n.skipped) count(source, principal.id, 'skipped', n.skipped.count);
    if (!n.items.length) return { index, status: 200, skipped: n.skipped };

    if (inflight + n.items.length > config.VIGIL_MAX_INFLIGHT) {
      count(source, principal.id, 'busy', n.items.length);
      return {
        index,
        status: 429,
        error: 'busy',
        reason: 'too many events in flight; retry later',
        retryAfter: 1,
      };
    }
    inflight += n.items.length;
    const events: NonNullable<DocResult['events']> = [];
    let runId: string | undefined;
    let settled: PromiseSettledResult<Committed>[];
    try {
      // Every event of the document is submitted now (those of one incident go in one signal); each
      // settles only once the call that carried it was accepted or failed.
      const bytes = Math.ceil(body.length / n.items.length);
      settled = await Promise.allSettled(
        n.items.map((item) => committer.submit(item.incidentId, item.correlationKey, item.event, bytes)),
      );
    } finally {
      inflight -= n.items.length;
    }
    let failed: unknown;
    let unavailable = 0;
    for (const [i, r] of settled.entries()) {
      const item = n.items[i] as (typeof n.items)[number];
      if (r.status === 'rejected') {
        failed ??= r.reason;
        unavailable++;
        continue;
      }
      count(source, principal.id, r.value.started ? 'started' : 'joined');
      events.push({ incidentId: item.incidentId, eventId: item.event.id, started: r.value.started });
      runId ??= r.value.runId;
    }
    if (unavailable) {
      count(source, principal.id, 'unavailable', unavailable);
      app.log.warn({ err: (failed as Error | undefined)?.message }, 'Temporal did not accept the event');
      // Events already accepted stay accepted; a resend is recognized by its event id and counted once.
      return {
        index,
        status: 503,
        error: 'unavailable',
        reason: 'the workflow engine did not accept the event; retry later',
        retryAfter: 5,
        events,
      };
    }
    const [firstEvent] = events;
    return {
      index,
      status: 202,
      incidentId: firstEvent?.incidentId,
      eventId: firstEvent?.eventId,
      runId,
      ...(events.length > 1 ? { events } : {}),
      ...(n.skipped ? { skipped: n.skipped } : {}),
    };
  }

  const sendDoc = (reply: FastifyReply, r: DocResult) => {
    if (r.retryAfter) void reply.header('retry-after', String(r.retryAfter));
    const { index: _index, status, retryAfter: _ra, ...body } = r;
    return reply
      .code(status)
      .send(
        status === 202
          ? { status: 'accepted', ...body }
          : status === 200
            ? { status: 'skipped', ...body }
            : body,
      );
  };

  /** NDJSON batches: each line on its own; 202 when every line was accepted or skipped, else 207. */
  const sendBatch = (reply: FastifyReply, results: DocResult[]) => {
    const accepted = results.filter((r) => r.status === 202 || r.status === 200).length;
    const retry = Math.max(0, ...results.map((r) => r.retryAfter ?? 0));
    if (retry) void reply.header('retry-after', String(retry));
    return reply
      .code(accepted === results.length ? 202 : 207)
      .send({ accepted, refused: results.length - accepted, results });
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
    const coding = contentCoding(header(req, 'content-encoding'));
    if (!coding.ok) return unsupportedCoding(reply, coding.reason);
    const sent = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    // The signature is over the bytes as sent (compressed, if they are); nothing is inflated before it holds.
    const auth = authenticate(req.headers, 'POST', req.url, sent);
    if (!auth.ok) {
      count(source, 'unknown', 'unauthenticated');
      return reply.code(401).send({ error: 'unauthenticated', reason: auth.reason });
    }
    const principal = auth.principal;
    const receivedAt = new Date().toISOString();
    const contentType = header(req, 'content-type');
    const decoded = await decodeBody(sent, coding.coding, config.VIGIL_BODY_LIMIT);
    if (!decoded.ok && decoded.status === 413) return undecodable(reply, decoded);
    const body = decoded.ok ? decoded.body : sent;
    const batch = /ndjson|jsonl|json-seq/i.test(contentType ?? '');
    const lines = batch && decoded.ok ? splitLines(body) : [body];
    const rate = limiter.take(principal.id, Math.max(1, lines.length));
    if (!rate.ok) {
      count(source, principal.id, 'rate_limited', lines.length);
      return reply
        .code(429)
        .header('retry-after', String(rate.retryAfterSeconds))
        .send({
          error: 'rate limited',
          reason: `credential "${principal.id}" is over ${config.VIGIL_RATE_LIMIT} events/s`,
          retryAfter: rate.retryAfterSeconds,
        });
    }
    // A corrupt stream is malformed input like bad JSON: dead-lettered as sent, with the reason.
    if (!decoded.ok)
      return sendDoc(
        reply,
        await refuse(
          source,
          principal,
          sent,
          contentType,
          receivedAt,
          0,
          'malformed-encoding',
          400,
          decoded.issues,
        ),
      );
    if (!batch) return sendDoc(reply, await ingest(principal, source, body, 0, receivedAt, contentType));
    // Lines start in order with a bounded number waiting, so lines of one incident share signals.
    const results = await inOrder(lines, LINES_IN_FLIGHT, (line, i) =>
      ingest(principal, source, line, i, receivedAt, 'application/json'),
    );
    return sendBatch(reply, results);
  });

  // osquery's TLS plugins: enroll with a shared secret, then post logs with the node key.
  app.post('/v1/osquery/enroll', async (req, reply) => {
    const ip = req.ip;
    const rate = limiter.take(`enroll:${ip}`, Math.max(1, config.VIGIL_RATE_BURST / 100));
    if (!rate.ok)
      return reply
        .code(429)
        .header('retry-after', String(rate.retryAfterSeconds))
        .send({ node_invalid: true });
    const coding = contentCoding(header(req, 'content-encoding'));
    if (!coding.ok) return unsupportedCoding(reply, coding.reason);
    const sent = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const decoded = await decodeBody(sent, coding.coding, config.VIGIL_BODY_LIMIT);
    if (!decoded.ok) return undecodable(reply, decoded, { node_invalid: true });
    const b = parseJson(decoded.body) as { enroll_secret?: unknown; host_identifier?: unknown } | undefined;
    const secret = typeof b?.enroll_secret === 'string' ? b.enroll_secret : '';
    const host = typeof b?.host_identifier === 'string' ? b.host_identifier.trim() : '';
    const h = sha256(secret);
    let match: (typeof enrollSecrets)[number] | undefined;
    for (const s of enrollSecrets) if (timingSafeEqual(h, s.hash)) match = s;
    if (!match || !host || host.length > 255) {
      count(OSQUERY_SOURCE, 'unknown', 'unauthenticated');
      return reply
        .code(401)
        .send({ node_invalid: true, error: !host ? 'host_identifier is required' : 'invalid enroll secret' });
    }
    if (!match.hosts.allows(host)) {
      count(OSQUERY_SOURCE, match.id, 'unauthenticated');
      return reply
        .code(403)
        .send({ node_invalid: true, error: `enroll secret "${match.id}" may not enroll host "${host}"` });
    }
    return { node_key: nodes.enroll(host, match.id), node_invalid: false };
  });

  app.post('/v1/osquery/log', async (req, reply) => {
    // --logger_tls_compress gzips the log post. The node key is inside the body, so it is inflated (up to
    // the body limit) before the sender is known; a corrupt one is answered 400, not dead-lettered.
    const coding = contentCoding(header(req, 'content-encoding'));
    if (!coding.ok) return unsupportedCoding(reply, coding.reason);
    const sent = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const decoded = await decodeBody(sent, coding.coding, config.VIGIL_BODY_LIMIT);
    if (!decoded.ok) return undecodable(reply, decoded, { node_invalid: false });
    const body = decoded.body;
    const b = parseJson(body) as { node_key?: unknown; log_type?: unknown; data?: unknown } | undefined;
    const node = typeof b?.node_key === 'string' ? nodes.lookup(b.node_key) : undefined;
    if (!node) {
      count(OSQUERY_SOURCE, 'unknown', 'unauthenticated');
      // osquery re-enrolls when it reads node_invalid.
      return reply.code(401).send({ node_invalid: true });
    }
    const principal = nodePrincipal(node.hostIdentifier);
    if (b?.log_type !== 'result') return { node_invalid: false }; // status logs are osquery's own health, not detections
    const data = Array.isArray(b.data) ? (b.data as unknown[]) : [];
    const rate = limiter.take(principal.id, Math.max(1, data.length));
    if (!rate.ok)
      return reply
        .code(429)
        .header('retry-after', String(rate.retryAfterSeconds))
        .send({ node_invalid: false, error: 'rate limited' });
    const receivedAt = new Date().toISOString();
    const results = await inOrder(data, LINES_IN_FLIGHT, (item, i) =>
      ingest(principal, OSQUERY_SOURCE, itemBytes(item, body), i, receivedAt, 'application/json', {
        raw: item,
      }),
    );
    // Anything to retry: answer 503 so osquery keeps the batch and resends it (accepted items count once).
    const retry = results.filter((r) => r.status === 429 || r.status === 503);
    if (retry.length)
      return reply
        .code(503)
        .header('retry-after', String(Math.max(...retry.map((r) => r.retryAfter ?? 5))))
        .send({ node_invalid: false, error: 'retry later' });
    return {
      node_invalid: false,
      accepted: results.filter((r) => r.status < 300).length,
      refused: results.filter((r) => r.status >= 300).length,
    };
  });

  if (deps.rpa) registerRpaRoutes(app, deps.rpa, { isAdmin, registry: metrics.registry });

  if (deps.codec) registerCodecRoutes(app, { ...deps.codec, operators: deps.approvals?.operators });

  if (deps.response) registerResponseRoutes(app, deps.response);

  if (deps.verdicts) registerVerdictRoutes(app, deps.verdicts);

  if (deps.approvals) {
    const approvals = deps.approvals;
    registerApprovalRoutes(app, approvals);
    // Operator administration (admin bearer token). The token is returned once and stored hashed.
    app.register(async (admin) => {
      admin.addHook('onRequest', async (req, reply) => {
        if (!isAdmin(req))
          return reply.code(401).header('www-authenticate', 'Bearer').send({ error: 'admin token required' });
      });
      admin.get('/v1/admin/operators', async () => ({ operators: approvals.operators.list() }));
      admin.post('/v1/admin/operators', async (req, reply) => {
        const b = parseJson(req.body) as { id?: unknown; role?: unknown; slackUserId?: unknown } | undefined;
        const role =
          typeof b?.role === 'string' && (OPERATOR_ROLES as readonly string[]).includes(b.role)
            ? (b.role as OperatorRole)
            : undefined;
        if (typeof b?.id !== 'string' || !role)
          return reply.code(400).send({
            error: 'invalid-request',
            issues: [`id (string) and role (${OPERATOR_ROLES.join('|')}) are required`],
          });
        try {
          return approvals.operators.add(
            b.id,
            role,
            typeof b.slackUserId === 'string' ? b.slackUserId : undefined,
          );
        } catch (e) {
          return reply.code(400).send({ error: 'invalid-request', issues: [(e as Error).message] });
        }
      });
      // Link (or, with null, unlink) an operator's Slack user id; the operator's token is untouched.
      admin.put<{ Params: { id: string } }>('/v1/admin/operators/:id/slack', async (req, reply) => {
        const b = parseJson(req.body) as { slackUserId?: unknown } | undefined;
        if (typeof b?.slackUserId !== 'string' && b?.slackUserId !== null)
          return reply.code(400).send({
            error: 'invalid-request',
            issues: ['slackUserId: a Slack user id (U...), or null to unlink'],
          });
        try {
          const op = approvals.operators.linkSlack(req.params.id, b.slackUserId);
          return op ?? reply.code(404).send({ error: 'no such operator' });
        } catch (e) {
          return reply.code(400).send({ error: 'invalid-request', issues: [(e as Error).message] });
        }
      });
      admin.delete<{ Params: { id: string } }>('/v1/admin/operators/:id', async (req, reply) =>
        approvals.operators.disable(req.params.id)
          ? { disabled: req.params.id }
          : reply.code(404).send({ error: 'no such operator' }),
      );
    });
  }

  // Dead-letter administration (bearer admin token).
  app.register(async (admin) => {
    admin.addHook('onRequest', async (req, reply) => {
      if (!isAdmin(req))
        return reply.code(401).header('www-authenticate', 'Bearer').send({ error: 'admin token required' });
    });
    admin.get<{ Querystring: { state?: string; limit?: string; after?: string } }>(
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
      // Kept as sent: bytes that could not be inflated then cannot be now.
      if (d.reason === 'malformed-encoding') {
        deadLetters.markFailedRetry(d.id, d.reason, d.issues);
        return reply.code(422).send({ error: d.reason, issues: d.issues, deadLetterId: d.id });
      }
      // The sender's credential, as configured now, must still allow this source and host.
      const principal = principalById(d.keyId);
      if (!principal) {
        deadLetters.markFailedRetry(d.id, d.reason, [
          `the credential "${d.keyId ?? '?'}" that sent it is no longer configured`,
        ]);
        return reply.code(403).send({ error: 'credential-gone', deadLetterId: d.id });
      }
      const r = await ingestRetry(principal, d.source, d.body);
      if (r.status === 202 || r.status === 200) {
        deadLetters.markResubmitted(d.id, r.incidentId ?? '');
        return { status: 'resubmitted', incidentId: r.incidentId, eventId: r.eventId };
      }
      if (r.status === 429 || r.status === 503)
        return reply
          .code(503)
          .header('retry-after', String(r.retryAfter ?? 5))
          .send({ error: 'unavailable' });
      deadLetters.markFailedRetry(d.id, (r.error ?? 'invalid-event') as DeadLetterReason, r.issues ?? []);
      return reply
        .code(r.status === 403 ? 403 : 422)
        .send({ error: r.error, issues: r.issues, deadLetterId: d.id });
    });
  });

  /** A retry re-runs every check without writing a second dead letter for the same bytes. */
  async function ingestRetry(principal: Principal, source: string, body: Buffer): Promise<DocResult> {
    if (!sourceAllowed(principal, source))
      return {
        index: 0,
        status: 403,
        error: 'source-not-allowed',
        issues: [`credential "${principal.id}" may not post to source "${source}"`],
      };
    const n = normalize(source, body, config.VIGIL_CORRELATION_KEY);
    if (!n.ok) return { index: 0, status: n.status, error: n.reason, issues: n.issues };
    const foreign = n.items.filter((i) => !principal.hosts.allows(i.event.host.id));
    if (foreign.length)
      return {
        index: 0,
        status: 403,
        error: 'host-not-allowed',
        issues: foreign.map(
          (i) => `credential "${principal.id}" may not report on host "${i.event.host.id}"`,
        ),
      };
    let first: DocResult = { index: 0, status: 200, skipped: n.skipped };
    try {
      for (const item of n.items) {
        const r = await committer.submit(item.incidentId, item.correlationKey, item.event, body.length);
        count(source, principal.id, r.started ? 'started' : 'joined');
        if (first.status !== 202)
          first = {
            index: 0,
            status: 202,
            incidentId: item.incidentId,
            eventId: item.event.id,
            runId: r.runId,
          };
      }
    } catch {
      return { index: 0, status: 503, retryAfter: 5 };
    }
    return first;
  }

  return app;
}

/** `fn` over `items`, started in index order with at most `limit` pending; results by index. */
async function inOrder<T, R>(
  items: readonly T[],
  limit: number,
  fn: (x: T, i: number) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return out;
}

function parseJson(body: unknown): unknown {
  if (!Buffer.isBuffer(body)) return undefined;
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
}

/**
 * An osquery log item's own bytes (its id and dead letter); an item nested too deep for JSON.stringify
 * (normalizeDocument refuses it) is kept as the whole request instead of failing the batch, which osquery
 * would resend forever.
 */
function itemBytes(item: unknown, body: Buffer): Buffer {
  try {
    return Buffer.from(JSON.stringify(item));
  } catch {
    return body;
  }
}

/**
 * NDJSON lines (CRLF tolerated, blank lines ignored), as the exact bytes of each line; a json-seq record's
 * leading RS (RFC 7464) is not part of it.
 */
function splitLines(body: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let start = 0;
  for (let i = 0; i <= body.length; i++) {
    if (i === body.length || body[i] === 0x0a) {
      let end = i;
      if (end > start && body[end - 1] === 0x0d) end--;
      if (start < end && body[start] === 0x1e) start++;
      const line = body.subarray(start, end);
      if (line.toString('utf8').trim()) out.push(line);
      start = i + 1;
    }
  }
  return out;
}
