/**
 * Which responder serves which host, and each EDR vendor's keys. `VIGIL_RESPONDERS` is a JSON object of
 * host globs -> responder (`agent` or a vendor), matched in the order written, case-insensitively; a host
 * no glob matches is served by the agent. A vendor named in the map needs all of its keys: a missing one
 * stops the worker at start with a ConfigError naming it.
 */
import { z } from 'zod';
import { Duration, parseEnv, type Env } from '../../../src/config.js';

export const EDR_VENDORS = ['crowdstrike', 'defender', 'sentinelone'] as const;
export type EdrVendor = (typeof EDR_VENDORS)[number];
export const RESPONDER_NAMES = ['agent', ...EDR_VENDORS] as const;
export type ResponderName = (typeof RESPONDER_NAMES)[number];

/** A host glob: letters, digits, `.`, `-`, `_` plus `*` (any run) and `?` (one character). */
const HostGlob = z
  .string()
  .min(1)
  .max(253)
  .regex(/^[A-Za-z0-9._*?-]+$/, 'a host glob uses letters, digits, . - _ and the wildcards * ?');

export const ResponderRoutes = z.record(HostGlob, z.enum(RESPONDER_NAMES));
export type ResponderRoutes = z.infer<typeof ResponderRoutes>;

const RoutesJson = z.string().transform((s, ctx) => {
  try {
    return JSON.parse(s) as unknown;
  } catch {
    ctx.addIssue({ code: 'custom', message: 'is not JSON (e.g. {"web-*":"crowdstrike","*":"agent"})' });
    return z.NEVER;
  }
});

const Url = z.url({ protocol: /^https?$/ }).transform((u) => u.replace(/\/+$/, ''));
const Secret = z.string().min(1);

/**
 * Only the routes (no vendor secrets): what the playbook worker needs to pick a host's responder. It holds
 * no EDR credentials; the response worker does.
 */
export const ResponderRoutesConfig = z.object({
  VIGIL_RESPONDERS: RoutesJson.pipe(ResponderRoutes).default({ '*': 'agent' }),
});
export function loadResponderRoutes(env: Env): ResponderRoutes {
  return parseEnv(ResponderRoutesConfig, env, 'responder routes').VIGIL_RESPONDERS;
}

export const EdrConfig = z
  .object({
    VIGIL_RESPONDERS: RoutesJson.pipe(ResponderRoutes).default({ '*': 'agent' }),
    /** Per-request deadline for every call to a vendor. */
    VIGIL_EDR_TIMEOUT: Duration.default(10_000),
    /** How long one activity attempt waits for the vendor to confirm an action before it fails (retryable). */
    VIGIL_EDR_VERIFY_TIMEOUT: Duration.default(60_000),
    VIGIL_EDR_POLL_INTERVAL: Duration.default(2_000),

    VIGIL_CROWDSTRIKE_BASE_URL: Url.default('https://api.crowdstrike.com'),
    VIGIL_CROWDSTRIKE_CLIENT_ID: Secret.optional(),
    VIGIL_CROWDSTRIKE_CLIENT_SECRET: Secret.optional(),

    VIGIL_DEFENDER_TENANT_ID: z
      .string()
      .regex(/^[A-Za-z0-9.-]+$/, 'a tenant id (GUID) or domain')
      .optional(),
    VIGIL_DEFENDER_CLIENT_ID: Secret.optional(),
    VIGIL_DEFENDER_CLIENT_SECRET: Secret.optional(),
    VIGIL_DEFENDER_API_URL: Url.default('https://api.securitycenter.microsoft.com'),
    VIGIL_DEFENDER_LOGIN_URL: Url.default('https://login.microsoftonline.com'),
    /** The token's scope; follows the API URL's host for sovereign clouds. */
    VIGIL_DEFENDER_SCOPE: z.string().min(1).optional(),
    VIGIL_DEFENDER_ISOLATION_TYPE: z.enum(['Full', 'Selective']).default('Full'),

    VIGIL_SENTINELONE_BASE_URL: Url.optional(),
    VIGIL_SENTINELONE_API_TOKEN: Secret.optional(),
  })
  .superRefine((c, ctx) => {
    const used = new Set(Object.values(c.VIGIL_RESPONDERS));
    const need: Record<EdrVendor, (keyof typeof c)[]> = {
      crowdstrike: ['VIGIL_CROWDSTRIKE_CLIENT_ID', 'VIGIL_CROWDSTRIKE_CLIENT_SECRET'],
      defender: ['VIGIL_DEFENDER_TENANT_ID', 'VIGIL_DEFENDER_CLIENT_ID', 'VIGIL_DEFENDER_CLIENT_SECRET'],
      sentinelone: ['VIGIL_SENTINELONE_BASE_URL', 'VIGIL_SENTINELONE_API_TOKEN'],
    };
    for (const vendor of EDR_VENDORS) {
      if (!used.has(vendor)) continue;
      for (const key of need[vendor]) {
        if (c[key] === undefined) {
          ctx.addIssue({
            code: 'custom',
            path: [key],
            message: `is required because VIGIL_RESPONDERS routes hosts to ${vendor}`,
          });
        }
      }
    }
  });
export type EdrConfig = z.infer<typeof EdrConfig>;

export function loadEdrConfig(env: Env): EdrConfig {
  return parseEnv(EdrConfig, env, 'EDR responder configuration');
}

function globToRegExp(glob: string): RegExp {
  const body = glob
    .replace(/[.+^${}()|[\]\\-]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${body}$`, 'i');
}

/** Which responder serves `host`: the first glob (in the order written) that matches; `agent` if none. */
export function routeResponder(host: string, routes: ResponderRoutes): ResponderName {
  for (const [glob, responder] of Object.entries(routes)) {
    if (globToRegExp(glob).test(host)) return responder;
  }
  return 'agent';
}
