/**
 * SentinelOne: the only file that knows its Management API (v2.1; the reference lives in each console at
 * /api-doc; the calls below are the ones every public integration uses, e.g. demisto/content
 * Packs/SentinelOne, swimlane t_sentinelone connect_agents, Tracecat integrations.sentinel_one).
 *
 * - Auth: `Authorization: ApiToken <token>` (a service user's token; it does not refresh, it expires on
 *   the date set in the console). A refused token is 401 `{errors: [{code, detail, title}]}`.
 * - Lookup: `GET /web/api/v2.1/agents?computerName=<name>` -> `{data: [{id, computerName, networkStatus}],
 *   pagination}`, networkStatus: connected | disconnecting | disconnected | connecting.
 * - Network quarantine: `POST /web/api/v2.1/agents/actions/disconnect` and `/connect` with
 *   `{filter: {ids: [id]}, data: {}}` -> `{data: {affected: n}}`.
 * - Not offered: kill-process-tree and quarantine-file. SentinelOne's kill/quarantine are mitigations of a
 *   threat its own engine detected (`/threats/mitigate/{action}` by threat id), not of a pid or file we
 *   name; mapping ours onto "whatever threat matches" would act on something nobody approved.
 */
import { ErrorType } from '../../../src/errors.js';
import type { ContainmentAction } from '../../../src/contracts/response.js';
import { failure } from '../../lib/failures.js';
import { isOk, pollUntil, VendorHttp, type VendorRequest } from './http.js';
import type { ContainmentState, EdrClient, EdrHost, EdrOutcome, Op, PollSettings } from './types.js';

export interface SentinelOneSettings extends PollSettings {
  baseUrl: string;
  apiToken: string;
  timeoutMs: number;
}

interface S1Agent {
  id: string;
  computerName?: string;
  networkStatus?: string;
}

const STATE: Record<string, ContainmentState> = {
  connected: 'normal',
  disconnecting: 'containing',
  disconnected: 'contained',
  connecting: 'releasing',
};

function s1Reason(status: number, body: unknown): string {
  const errs =
    ((body ?? {}) as { errors?: { code?: unknown; title?: unknown; detail?: unknown }[] }).errors ?? [];
  const parts = errs.map((e) =>
    [
      e.title,
      e.detail,
      typeof e.code === 'number' || typeof e.code === 'string' ? `code ${e.code}` : undefined,
    ]
      .filter((x) => x !== undefined && x !== null && x !== '')
      .map(String)
      .join(', '),
  );
  return parts.filter(Boolean).join('; ') || `HTTP ${status}`;
}

export function createSentinelOneClient(s: SentinelOneSettings): EdrClient {
  const http = new VendorHttp({
    vendor: 'sentinelone',
    baseURL: s.baseUrl,
    timeoutMs: s.timeoutMs,
    secrets: () => [s.apiToken],
    reasonOf: s1Reason,
  });

  async function call<T>(req: VendorRequest, what: string): Promise<T> {
    const res = await http.send<T>({
      ...req,
      headers: { ...req.headers, Authorization: `ApiToken ${s.apiToken}` },
    });
    if (!isOk(res)) throw http.failureFor(res, what);
    return res.data;
  }

  async function agentsNamed(name: string): Promise<S1Agent[]> {
    const body = await call<{ data?: S1Agent[] }>(
      { method: 'GET', url: '/web/api/v2.1/agents', params: { computerName: name } },
      `agent lookup for ${name}`,
    );
    // computerName is an exact filter; compare anyway so a lenient server cannot hand us a neighbour.
    return (body.data ?? []).filter((a) => (a.computerName ?? '').toLowerCase() === name.toLowerCase());
  }

  async function agent(id: string, name: string): Promise<EdrHost> {
    const body = await call<{ data?: S1Agent[] }>(
      { method: 'GET', url: '/web/api/v2.1/agents', params: { ids: id } },
      `agent ${id}`,
    );
    const a = (body.data ?? []).find((x) => x.id === id);
    if (!a) throw failure(ErrorType.NotFound, `sentinelone: agent ${id} not found`);
    return toHost(a, name);
  }

  function toHost(a: S1Agent, name: string): EdrHost {
    const ns = a.networkStatus ?? 'unknown';
    const state = STATE[ns];
    if (!state)
      throw failure(
        ErrorType.UpstreamRejected,
        `sentinelone: agent ${a.id} has unknown networkStatus "${ns}"`,
      );
    return { id: a.id, name: a.computerName ?? name, state, stateDetail: `networkStatus ${ns}` };
  }

  return {
    vendor: 'sentinelone',

    unsupported(action: ContainmentAction, _op: Op) {
      if (action === 'isolate-host') return null;
      if (action === 'kill-process-tree' || action === 'quarantine-file')
        return 'SentinelOne kills and quarantines only threats its engine detected (by threat id), not a pid or file we name';
      return 'the SentinelOne API has no such agent action';
    },

    async findHost(hostname) {
      const found = await agentsNamed(hostname);
      if (found.length === 0)
        throw failure(ErrorType.NotFound, `sentinelone: no agent with computerName ${hostname}`);
      if (found.length > 1) {
        throw failure(
          ErrorType.UpstreamRejected,
          `sentinelone: ${found.length} agents are named ${hostname} (${found.map((a) => a.id).join(', ')}); refusing to guess`,
        );
      }
      return toHost(found[0]!, hostname);
    },

    plan(host, _action, op) {
      const path = op === 'apply' ? 'disconnect' : 'connect';
      const want = op === 'apply' ? 'contained' : 'normal';
      if (host.state === want || host.state === (op === 'apply' ? 'containing' : 'releasing')) {
        return [`agent ${host.id} (${host.name}) already ${host.stateDetail}: send nothing, confirm`];
      }
      return [
        `POST /web/api/v2.1/agents/actions/${path} {filter:{ids:[${host.id}]}} (${host.name}, now ${host.stateDetail})`,
        `poll GET /web/api/v2.1/agents?ids=${host.id} until networkStatus ${op === 'apply' ? 'disconnected' : 'connected'}`,
      ];
    },

    async isolate(host, op): Promise<EdrOutcome> {
      const want: ContainmentState = op === 'apply' ? 'contained' : 'normal';
      const moving: ContainmentState = op === 'apply' ? 'containing' : 'releasing';
      const path = op === 'apply' ? 'disconnect' : 'connect';
      let current = await agent(host.id, host.name);
      let sent = false;
      const plan: string[] = [];
      if (current.state !== want && current.state !== moving) {
        const body = await call<{ data?: { affected?: number } }>(
          {
            method: 'POST',
            url: `/web/api/v2.1/agents/actions/${path}`,
            json: { filter: { ids: [host.id] }, data: {} },
          },
          `${path} of agent ${host.id}`,
        );
        if ((body.data?.affected ?? 0) < 1) {
          throw failure(
            ErrorType.UpstreamRejected,
            `sentinelone: ${path} of agent ${host.id} affected no agent`,
          );
        }
        sent = true;
        plan.push(`POST agents/actions/${path} ids=[${host.id}] (affected ${body.data?.affected})`);
      } else {
        plan.push(`agent ${host.id} already ${current.stateDetail}: nothing sent`);
      }
      if (current.state !== want) {
        const done = await pollUntil(
          async () => {
            current = await agent(host.id, host.name);
            return current.state === want ? current : undefined;
          },
          s.verifyTimeoutMs,
          s.pollIntervalMs,
        );
        if (!done) {
          throw failure(
            ErrorType.Unavailable,
            `sentinelone: ${path} of agent ${host.id} requested but not confirmed yet (${current.stateDetail})`,
          );
        }
      }
      return {
        already: !sent,
        plan,
        verified: `${current.stateDetail} (agent ${host.id})`,
        effect: {
          agentId: host.id,
          hostname: current.name,
          networkStatus: op === 'apply' ? 'disconnected' : 'connected',
        },
      };
    },
  };
}
