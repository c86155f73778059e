/**
 * The codec endpoint for the Temporal Web UI (its "remote codec" protocol: POST {endpoint}/decode and
 * /encode with {payloads:[{metadata:{k: base64}, data: base64}]}): an authorized analyst sees event
 * contents that Temporal itself only stores encrypted. Requests need an operator token; the dev stack may
 * open it to the loopback UI origin (VIGIL_CODEC_DEV_OPEN), since the dev UI sends no token.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Payload } from '@temporalio/common';
import type { AesGcmCodec } from '../src/codec/aes-gcm.js';
import type { OperatorStore } from './operators.js';

interface JsonPayload {
  metadata?: Record<string, string>;
  data?: string;
}

const toPayload = (p: JsonPayload): Payload => ({
  metadata: Object.fromEntries(
    Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')]),
  ),
  data: Buffer.from(p.data ?? '', 'base64'),
});
const toJson = (p: Payload): JsonPayload => ({
  metadata: Object.fromEntries(
    Object.entries(p.metadata ?? {}).map(([k, v]) => [
      k,
      Buffer.from(v ?? new Uint8Array()).toString('base64'),
    ]),
  ),
  data: Buffer.from(p.data ?? new Uint8Array()).toString('base64'),
});

export function registerCodecRoutes(
  app: FastifyInstance,
  d: { codec: AesGcmCodec; operators?: OperatorStore; corsOrigin?: string; devOpen?: boolean },
): void {
  const cors = (reply: FastifyReply) => {
    if (!d.corsOrigin) return;
    void reply
      .header('access-control-allow-origin', d.corsOrigin)
      .header('access-control-allow-credentials', 'true')
      .header('access-control-allow-headers', 'content-type, x-namespace, authorization')
      .header('access-control-allow-methods', 'POST, OPTIONS')
      .header('vary', 'origin');
  };
  const allowed = (req: FastifyRequest) => {
    const auth = req.headers.authorization;
    if (auth?.startsWith('Bearer ') && d.operators?.authenticate(auth.slice(7).trim())) return true;
    const loopback = req.ip === '127.0.0.1' || req.ip === '::1' || req.ip === '::ffff:127.0.0.1';
    return !!d.devOpen && loopback && (!d.corsOrigin || req.headers.origin === d.corsOrigin);
  };
  for (const op of ['decode', 'encode'] as const) {
    app.options(`/codec/${op}`, async (_req, reply) => {
      cors(reply);
      return reply.code(204).send();
    });
    app.post(`/codec/${op}`, async (req, reply) => {
      cors(reply);
      if (!allowed(req)) return reply.code(401).send({ error: 'operator token required' });
      let body: { payloads?: JsonPayload[] };
      try {
        body = JSON.parse(Buffer.isBuffer(req.body) ? req.body.toString('utf8') : '{}') as {
          payloads?: JsonPayload[];
        };
      } catch {
        return reply.code(400).send({ error: 'body must be {"payloads": [...]}' });
      }
      if (!Array.isArray(body.payloads) || body.payloads.length > 1000)
        return reply.code(400).send({ error: 'body must be {"payloads": [...]} (at most 1000)' });
      try {
        const payloads = body.payloads.map(toPayload);
        const out = op === 'decode' ? await d.codec.decode(payloads) : await d.codec.encode(payloads);
        return { payloads: out.map(toJson) };
      } catch (e) {
        return reply.code(400).send({ error: `cannot ${op}: ${(e as Error).message}` });
      }
    });
  }
}
