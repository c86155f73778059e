/**
 * EDR response: containment through CrowdStrike Falcon, Microsoft Defender for Endpoint or SentinelOne for
 * hosts that run no Vigil agent. `VIGIL_RESPONDERS` says which responder serves which host.
 *
 * - `createEdrResponder({vendor, config})`: one vendor's responder, `execute(ResponseRequest)`.
 * - `createEdrResponders(config)`: every vendor the routes name (built once, sharing their token caches),
 *   `routeResponder(host)` and `execute(req)` dispatching to the host's vendor.
 * - `createEdrActivities(config)`: the activities a response worker registers.
 */
import { z } from 'zod';
import { ErrorType } from '../../../src/errors.js';
import type { ResponseRequest, ResponseResult } from '../../../src/contracts/response.js';
import { failure, parseInput } from '../../lib/failures.js';
import { EDR_VENDORS, routeResponder, type EdrConfig, type EdrVendor, type ResponderName } from './config.js';
import { createEdrResponder, type EdrResponder } from './responder.js';

export {
  createEdrResponder,
  createVendorClient,
  responderForClient,
  type EdrResponder,
} from './responder.js';
export {
  EdrConfig,
  loadEdrConfig,
  loadResponderRoutes,
  routeResponder,
  EDR_VENDORS,
  RESPONDER_NAMES,
  type EdrVendor,
  type ResponderName,
  type ResponderRoutes,
} from './config.js';

export interface EdrResponders {
  /** Which responder (agent or vendor) serves `host`. */
  routeResponder(host: string): ResponderName;
  /** Execute through the host's vendor; a host routed to the agent is a non-retryable Misconfigured. */
  execute(req: ResponseRequest): Promise<ResponseResult>;
  readonly vendors: ReadonlyMap<EdrVendor, EdrResponder>;
}

export function createEdrResponders(config: EdrConfig): EdrResponders {
  const used = new Set(Object.values(config.VIGIL_RESPONDERS));
  const vendors = new Map<EdrVendor, EdrResponder>();
  for (const v of EDR_VENDORS) if (used.has(v)) vendors.set(v, createEdrResponder({ vendor: v, config }));
  const route = (host: string) => routeResponder(host, config.VIGIL_RESPONDERS);
  return {
    routeResponder: route,
    vendors,
    async execute(req) {
      const host = typeof req?.host === 'string' ? req.host : '';
      const name = route(host);
      const r = name === 'agent' ? undefined : vendors.get(name);
      if (!r) {
        throw failure(
          ErrorType.Misconfigured,
          `host ${host || '(none)'} is served by the ${name} responder, not an EDR (VIGIL_RESPONDERS)`,
        );
      }
      return r.execute(req);
    },
  };
}

const HostInput = z.strictObject({ host: z.string().min(1).max(253) });

/** Activities for the response worker: `responderFor` (routing) and `edrRespond` (execution). */
export function createEdrActivities(config: EdrConfig) {
  const edr = createEdrResponders(config);
  return {
    async responderFor(input: { host: string }): Promise<ResponderName> {
      return edr.routeResponder(parseInput(HostInput, input, 'responderFor').host);
    },
    async edrRespond(req: ResponseRequest): Promise<ResponseResult> {
      return edr.execute(req);
    },
  };
}
export type EdrActivities = ReturnType<typeof createEdrActivities>;
