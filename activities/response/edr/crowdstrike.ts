/**
 * CrowdStrike Falcon: the only file that knows its API.
 *
 * - Auth: OAuth2 client credentials, `POST /oauth2/token` (form `client_id`, `client_secret`) answers 201
 *   `{access_token, token_type: "bearer", expires_in}` (about 30 minutes).
 *   https://developer.crowdstrike.com/api-reference/collections/oauth2/ ; falconpy docs/service-collections/oauth2.md
 * - Every response is `{meta: {query_time, powered_by, trace_id}, resources: [...], errors: [{code, message}]}`;
 *   a refused token is 401 `errors[0].message = "access denied, invalid bearer token"`.
 * - Host lookup: `GET /devices/queries/devices/v1?filter=hostname:'<name>'` (FQL) -> device ids;
 *   `GET /devices/entities/devices/v2?ids=<aid>` -> `status`: normal | containment_pending | contained |
 *   lift_containment_pending.
 * - Containment: `POST /devices/entities/devices-actions/v2?action_name=contain|lift_containment` with
 *   `{ids: [aid]}` (https://developer.crowdstrike.com/api-reference/collections/hosts/#performactionv2,
 *   PSFalcon wiki Invoke-FalconHostAction). Concurrent actions on a host are last-write-wins, so we read
 *   the state first and send nothing when it already is (or is becoming) what we want.
 * - Rate limits: 429 with `X-RateLimit-RetryAfter` = the epoch second to retry at (read as such by PSFalcon
 *   and gofalcon), mapped in activities/lib/failures.ts.
 * - Not offered: kill-process-tree (Real Time Response `kill <pid>` ends one process, not its tree, and
 *   cannot check the process's start time, so it could kill a reused pid) and quarantine-file (the
 *   quarantine API only releases or deletes what Falcon itself quarantined; there is no "quarantine this
 *   hash on this host").
 */
import { ErrorType } from '../../../src/errors.js';
import type { ContainmentAction } from '../../../src/contracts/response.js';
import { failure } from '../../lib/failures.js';
import { isOk, pollUntil, sendWithBearer, TokenCache, VendorHttp, type VendorRequest } from './http.js';
import type {
  ContainmentState,
  EdrClient,
  EdrContext,
  EdrHost,
  EdrOutcome,
  Op,
  PollSettings,
} from './types.js';

export interface CrowdStrikeSettings extends PollSettings {
  baseUrl: string;
  clientId: string;
  clientSecret: string;
  timeoutMs: number;
}

interface FalconBody<R = unknown> {
  meta?: { trace_id?: string };
  resources?: R[] | null;
  errors?: { code?: number; message?: string }[] | null;
}

interface FalconDevice {
  device_id: string;
  hostname?: string;
  status?: string;
  last_seen?: string;
}

const STATE: Record<string, ContainmentState> = {
  normal: 'normal',
  containment_pending: 'containing',
  contained: 'contained',
  lift_containment_pending: 'releasing',
};

function falconReason(status: number, body: unknown): string {
  const b = (body ?? {}) as FalconBody;
  const msgs = (b.errors ?? []).map((e) => e.message).filter((m): m is string => !!m);
  const trace = b.meta?.trace_id ? ` (trace ${b.meta.trace_id})` : '';
  return `${msgs.length ? msgs.join('; ') : `HTTP ${status}`}${trace}`;
}

export function createCrowdStrikeClient(s: CrowdStrikeSettings): EdrClient {
  const tokens: TokenCache = new TokenCache(async () => {
    const res = await http.send<{ access_token?: string; expires_in?: number }>({
      method: 'POST',
      url: '/oauth2/token',
      form: { client_id: s.clientId, client_secret: s.clientSecret },
    });
    if (!isOk(res) || !res.data.access_token) {
      throw http.failureFor(res, 'refused the client credentials at /oauth2/token');
    }
    return { token: res.data.access_token, expiresInS: Number(res.data.expires_in ?? 1799) };
  });
  const http = new VendorHttp({
    vendor: 'crowdstrike',
    baseURL: s.baseUrl,
    timeoutMs: s.timeoutMs,
    secrets: () => [s.clientSecret, ...(tokens.token ? [tokens.token] : [])],
    reasonOf: falconReason,
  });

  async function call<R>(req: VendorRequest, what: string): Promise<FalconBody<R>> {
    const res = await sendWithBearer<FalconBody<R>>(http, tokens, req);
    if (!isOk(res)) throw http.failureFor(res, what);
    return res.data ?? {};
  }

  async function device(id: string): Promise<FalconDevice> {
    const body = await call<FalconDevice>(
      { method: 'GET', url: '/devices/entities/devices/v2', params: { ids: id } },
      `device ${id} lookup`,
    );
    const d = body.resources?.find((r) => r.device_id === id);
    if (!d) throw failure(ErrorType.NotFound, `crowdstrike: device ${id} not found`);
    return d;
  }

  function toHost(d: FalconDevice, name: string): EdrHost {
    const status = d.status ?? 'unknown';
    const state = STATE[status];
    if (!state) {
      throw failure(
        ErrorType.UpstreamRejected,
        `crowdstrike: device ${d.device_id} has unknown status "${status}"`,
      );
    }
    return { id: d.device_id, name: d.hostname ?? name, state, stateDetail: `falcon status ${status}` };
  }

  return {
    vendor: 'crowdstrike',

    unsupported(action: ContainmentAction, _op: Op) {
      if (action === 'isolate-host') return null;
      if (action === 'kill-process-tree')
        return 'Real Time Response kill ends one pid, not a tree, and cannot check the process start time';
      if (action === 'quarantine-file')
        return 'the Falcon API cannot quarantine a file by hash on one host (it only releases or deletes what Falcon quarantined)';
      return 'the Falcon API has no such host action';
    },

    async findHost(hostname) {
      const q = await call<string>(
        { method: 'GET', url: '/devices/queries/devices/v1', params: { filter: `hostname:'${hostname}'` } },
        `host lookup for ${hostname}`,
      );
      const ids = q.resources ?? [];
      if (ids.length === 0)
        throw failure(ErrorType.NotFound, `crowdstrike: no device with hostname ${hostname}`);
      if (ids.length > 1) {
        throw failure(
          ErrorType.UpstreamRejected,
          `crowdstrike: ${ids.length} devices are named ${hostname} (${ids.join(', ')}); refusing to guess`,
        );
      }
      return toHost(await device(ids[0]!), hostname);
    },

    plan(host, _action, op) {
      const name = op === 'apply' ? 'contain' : 'lift_containment';
      const want = op === 'apply' ? 'contained' : 'normal';
      return host.state === want || host.state === (op === 'apply' ? 'containing' : 'releasing')
        ? [`device ${host.id} (${host.name}) is already ${host.stateDetail}: send nothing, confirm ${want}`]
        : [
            `POST /devices/entities/devices-actions/v2?action_name=${name} {ids:[${host.id}]} (${host.name}, now ${host.stateDetail})`,
            `poll GET /devices/entities/devices/v2 until status ${want}`,
          ];
    },

    async isolate(host, op, _ctx: EdrContext): Promise<EdrOutcome> {
      const want: ContainmentState = op === 'apply' ? 'contained' : 'normal';
      const moving: ContainmentState = op === 'apply' ? 'containing' : 'releasing';
      const actionName = op === 'apply' ? 'contain' : 'lift_containment';
      const plan: string[] = [];
      let sent = false;
      let current = toHost(await device(host.id), host.name);
      if (current.state !== want && current.state !== moving) {
        await call(
          {
            method: 'POST',
            url: '/devices/entities/devices-actions/v2',
            params: { action_name: actionName },
            json: { ids: [host.id] },
          },
          `${actionName} of device ${host.id}`,
        );
        sent = true;
        plan.push(`POST devices-actions/v2 action_name=${actionName} ids=[${host.id}]`);
      } else {
        plan.push(`device ${host.id} already ${current.stateDetail}: nothing sent`);
      }
      if (current.state !== want) {
        const done = await pollUntil(
          async () => {
            current = toHost(await device(host.id), host.name);
            return current.state === want ? current : undefined;
          },
          s.verifyTimeoutMs,
          s.pollIntervalMs,
        );
        if (!done) {
          throw failure(
            ErrorType.Unavailable,
            `crowdstrike: ${actionName} of device ${host.id} requested but not confirmed yet (${current.stateDetail})`,
          );
        }
      }
      return {
        already: !sent,
        plan,
        verified: `${current.stateDetail} (device ${host.id})`,
        effect: { deviceId: host.id, hostname: current.name, status: want, actionName },
      };
    },
  };
}
