/**
 * The EDR responder: the same shape as the local agent's (`execute(ResponseRequest) -> ResponseResult`),
 * executed through a vendor's API for hosts we cannot run an agent on. Vendor-neutral: it validates the
 * request, refuses what the vendor does not offer, makes a repeated idempotency key answer the first
 * result without a second action, resolves the host, and either plans (dry run) or acts and verifies.
 */
import { ErrorType } from '../../../src/errors.js';
import {
  ACTION_PARAMS,
  FileTarget,
  ResponseRequest,
  type ResponseResult,
  type ResponseRequest as ResponseRequestInput,
} from '../../../src/contracts/response-schemas.js';
import { failure, parseInput } from '../../lib/failures.js';
import { withHeartbeat } from '../../lib/heartbeat.js';
import { shortHash } from '../../lib/idempotency.js';
import type { EdrConfig, EdrVendor } from './config.js';
import { createCrowdStrikeClient } from './crowdstrike.js';
import { createDefenderClient } from './defender.js';
import { HOSTNAME_RE } from './http.js';
import { createSentinelOneClient } from './sentinelone.js';
import type { EdrClient, EdrContext } from './types.js';

export interface EdrResponder {
  readonly vendor: EdrVendor;
  execute(req: ResponseRequestInput): Promise<ResponseResult>;
}

/** Results remembered per idempotency key in this process (the vendor-side state check covers the rest). */
const REMEMBERED = 10_000;

export function createVendorClient(vendor: EdrVendor, c: EdrConfig): EdrClient {
  const poll = { verifyTimeoutMs: c.VIGIL_EDR_VERIFY_TIMEOUT, pollIntervalMs: c.VIGIL_EDR_POLL_INTERVAL };
  const missing = (key: string): never => {
    throw failure(ErrorType.Misconfigured, `${vendor}: ${key} is not set`);
  };
  switch (vendor) {
    case 'crowdstrike':
      return createCrowdStrikeClient({
        ...poll,
        baseUrl: c.VIGIL_CROWDSTRIKE_BASE_URL,
        clientId: c.VIGIL_CROWDSTRIKE_CLIENT_ID ?? missing('VIGIL_CROWDSTRIKE_CLIENT_ID'),
        clientSecret: c.VIGIL_CROWDSTRIKE_CLIENT_SECRET ?? missing('VIGIL_CROWDSTRIKE_CLIENT_SECRET'),
        timeoutMs: c.VIGIL_EDR_TIMEOUT,
      });
    case 'defender':
      return createDefenderClient({
        ...poll,
        tenantId: c.VIGIL_DEFENDER_TENANT_ID ?? missing('VIGIL_DEFENDER_TENANT_ID'),
        clientId: c.VIGIL_DEFENDER_CLIENT_ID ?? missing('VIGIL_DEFENDER_CLIENT_ID'),
        clientSecret: c.VIGIL_DEFENDER_CLIENT_SECRET ?? missing('VIGIL_DEFENDER_CLIENT_SECRET'),
        apiUrl: c.VIGIL_DEFENDER_API_URL,
        loginUrl: c.VIGIL_DEFENDER_LOGIN_URL,
        scope: c.VIGIL_DEFENDER_SCOPE ?? 'https://api.securitycenter.microsoft.com/.default',
        isolationType: c.VIGIL_DEFENDER_ISOLATION_TYPE,
        timeoutMs: c.VIGIL_EDR_TIMEOUT,
      });
    case 'sentinelone':
      return createSentinelOneClient({
        ...poll,
        baseUrl: c.VIGIL_SENTINELONE_BASE_URL ?? missing('VIGIL_SENTINELONE_BASE_URL'),
        apiToken: c.VIGIL_SENTINELONE_API_TOKEN ?? missing('VIGIL_SENTINELONE_API_TOKEN'),
        timeoutMs: c.VIGIL_EDR_TIMEOUT,
      });
  }
}

export function createEdrResponder(opts: { vendor: EdrVendor; config: EdrConfig }): EdrResponder {
  return responderForClient(createVendorClient(opts.vendor, opts.config));
}

/** The responder around one vendor client (exported for callers that build the client themselves). */
export function responderForClient(client: EdrClient): EdrResponder {
  const vendor = client.vendor;
  const done = new Map<string, { fingerprint: string; result: ResponseResult }>();
  const inflight = new Map<string, { fingerprint: string; promise: Promise<ResponseResult> }>();

  function remember(key: string, fingerprint: string, result: ResponseResult): void {
    done.set(key, { fingerprint, result });
    if (done.size > REMEMBERED) done.delete(done.keys().next().value!);
  }

  async function run(req: ResponseRequest): Promise<ResponseResult> {
    const started = new Date();
    const host = await client.findHost(req.host);
    const base = { action: req.action, op: req.op, host: req.host, responder: vendor };
    if (req.dryRun) {
      return {
        ...base,
        status: 'dry-run',
        already: false,
        plan: client.plan(host, req.action, req.op, req.params),
        verified: `resolved ${req.host} to ${vendor} id ${host.id} (${host.stateDetail}); nothing changed`,
        effect: { hostId: host.id, state: host.state },
        at: started.toISOString(),
      };
    }
    const tag = shortHash(req.idempotencyKey, 16);
    const ctx: EdrContext = {
      idempotencyKey: req.idempotencyKey,
      incidentId: req.incidentId,
      tag,
      comment: `Vigil incident ${req.incidentId.slice(0, 200)}: ${req.action} ${req.op} [vigil:${tag}]`,
    };
    let outcome;
    if (req.action === 'isolate-host') {
      outcome = await client.isolate(host, req.op, ctx);
    } else if (req.action === 'quarantine-file' && client.quarantineFile) {
      const file = parseInput(FileTarget, req.params, `${vendor} quarantine-file params`);
      outcome = await client.quarantineFile(host, req.op, file, ctx);
    } else {
      throw unsupported(req, 'not implemented');
    }
    const at = new Date();
    const decided = req.decidedAt ? Date.parse(req.decidedAt) : NaN;
    return {
      ...base,
      status: req.op === 'apply' ? 'applied' : 'undone',
      already: outcome.already,
      plan: outcome.plan,
      verified: outcome.verified,
      effect: outcome.effect,
      at: at.toISOString(),
      ...(Number.isFinite(decided) ? { decisionToEffectMs: Math.max(0, at.getTime() - decided) } : {}),
    };
  }

  function unsupported(req: ResponseRequest, why: string) {
    return failure(
      ErrorType.Misconfigured,
      `${vendor} does not support ${req.action} (${req.op}) for ${req.host}: ${why}`,
      { vendor, action: req.action, op: req.op, unsupported: true },
    );
  }

  return {
    vendor,
    async execute(input) {
      const req = parseInput(ResponseRequest, input, `${vendor} responder`);
      if (!HOSTNAME_RE.test(req.host)) {
        throw failure(
          ErrorType.InvalidInput,
          `${vendor} responder: invalid input: host: "${req.host}" is not a hostname`,
        );
      }
      parseInput(ACTION_PARAMS[req.action], req.params, `${vendor} ${req.action} params`);
      const why = client.unsupported(req.action, req.op);
      if (why) throw unsupported(req, why);

      if (req.dryRun) return withHeartbeat(() => run(req));
      const fingerprint = `${req.action}|${req.op}|${req.host.toLowerCase()}`;
      const prior = done.get(req.idempotencyKey) ?? inflight.get(req.idempotencyKey);
      if (prior && prior.fingerprint !== fingerprint) {
        throw failure(
          ErrorType.InvalidInput,
          `${vendor} responder: idempotency key already used for another request (${prior.fingerprint.replace(/\|/g, ' ')})`,
        );
      }
      const first = done.get(req.idempotencyKey);
      if (first) return { ...first.result, already: true };
      const running = inflight.get(req.idempotencyKey);
      if (running) return { ...(await running.promise), already: true };

      const promise = withHeartbeat(() => run(req));
      inflight.set(req.idempotencyKey, { fingerprint, promise });
      try {
        const result = await promise;
        remember(req.idempotencyKey, fingerprint, result);
        return result;
      } finally {
        inflight.delete(req.idempotencyKey);
      }
    },
  };
}
