/**
 * Microsoft Defender for Endpoint: the only file that knows its API.
 *
 * - Auth: Microsoft identity platform client credentials,
 *   `POST {login}/{tenant}/oauth2/v2.0/token` (form client_id, client_secret, grant_type=client_credentials,
 *   scope=https://api.securitycenter.microsoft.com/.default) -> `{token_type, expires_in, access_token}`;
 *   errors `{error: "invalid_client", error_description: "AADSTS7000215: ..."}`.
 *   https://learn.microsoft.com/defender-endpoint/api/exposed-apis-create-app-webapp
 * - API errors: `{error: {code, message, target}}`; 429 with Retry-After (100 calls/minute per action API).
 * - Machines: `GET /api/machines?$filter=computerDnsName eq '<name>'` (OData; `startswith` also documented)
 *   https://learn.microsoft.com/defender-endpoint/api/get-machines
 * - `POST /api/machines/{id}/isolate` `{Comment, IsolationType: Full|Selective}`, `POST .../unisolate`
 *   `{Comment}`, `POST .../StopAndQuarantineFile` `{Comment, Sha1}`: each answers 201 with a MachineAction
 *   `{id, type, status: Pending|InProgress|Succeeded|Failed|TimeOut|Cancelled, requestorComment, machineId,
 *   fileIdentifier, creationDateTimeUtc}`; a second action of the same kind while one is pending answers
 *   400 `{error: {code: "ActiveRequestAlreadyExists"}}`, which we treat as "ours is already in flight".
 *   https://learn.microsoft.com/defender-endpoint/api/isolate-machine , .../unisolate-machine ,
 *   .../stop-and-quarantine-file , .../machineaction , .../get-machineactions-collection
 * - Isolation state: Defender has no "isolated" flag on the machine; the latest Isolate/Unisolate machine
 *   action that did not fail says it. Idempotency across workers: our Comment carries `[vigil:<tag>]` (a
 *   hash of the idempotency key), so a retry finds its own earlier action and polls it instead of sending.
 * - Not offered: kill-process-tree (no machine action for it) and undoing quarantine-file (the API has no
 *   restore action; restore from the portal).
 */
import { ErrorType } from '../../../src/errors.js';
import type { ContainmentAction, FileTarget } from '../../../src/contracts/response.js';
import { failure } from '../../lib/failures.js';
import {
  isOk,
  pollUntil,
  sendWithBearer,
  TokenCache,
  VendorHttp,
  type VendorRequest,
  type VendorResponse,
} from './http.js';
import type {
  ContainmentState,
  EdrClient,
  EdrContext,
  EdrHost,
  EdrOutcome,
  Op,
  PollSettings,
} from './types.js';

export interface DefenderSettings extends PollSettings {
  tenantId: string;
  clientId: string;
  clientSecret: string;
  apiUrl: string;
  loginUrl: string;
  scope: string;
  isolationType: 'Full' | 'Selective';
  timeoutMs: number;
}

interface MachineAction {
  id: string;
  type: string;
  status: string;
  machineId?: string;
  requestorComment?: string | null;
  fileIdentifier?: string | null;
  creationDateTimeUtc?: string;
}

interface Machine {
  id: string;
  computerDnsName?: string;
}

const FINAL_BAD = new Set(['Failed', 'TimeOut', 'Cancelled']);
const IN_FLIGHT = new Set(['Pending', 'InProgress']);

function defenderReason(status: number, body: unknown): string {
  const b = (body ?? {}) as { error?: unknown; error_description?: unknown };
  if (typeof b.error === 'object' && b.error !== null) {
    const e = b.error as { code?: unknown; message?: unknown };
    return [e.code, e.message].filter((x) => typeof x === 'string' && x).join(': ') || `HTTP ${status}`;
  }
  // The identity platform's OAuth error shape.
  if (typeof b.error === 'string') {
    const desc = typeof b.error_description === 'string' ? `: ${b.error_description.split('\n')[0]}` : '';
    return `${b.error}${desc}`;
  }
  return `HTTP ${status}`;
}

function errorCode(res: VendorResponse): string | undefined {
  const e = (res.data as { error?: { code?: unknown } } | undefined)?.error;
  return typeof e === 'object' && e !== null && typeof e.code === 'string' ? e.code : undefined;
}

function odataString(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}

export function createDefenderClient(s: DefenderSettings): EdrClient {
  const tokens: TokenCache = new TokenCache(async () => {
    const res = await http.send<{ access_token?: string; expires_in?: number | string }>({
      method: 'POST',
      url: `${s.loginUrl}/${encodeURIComponent(s.tenantId)}/oauth2/v2.0/token`,
      form: {
        client_id: s.clientId,
        client_secret: s.clientSecret,
        grant_type: 'client_credentials',
        scope: s.scope,
      },
    });
    if (!isOk(res) || !res.data.access_token) {
      throw http.failureFor(res, 'the identity platform refused the client credentials');
    }
    return { token: res.data.access_token, expiresInS: Number(res.data.expires_in ?? 3599) };
  });
  const http = new VendorHttp({
    vendor: 'defender',
    baseURL: s.apiUrl,
    timeoutMs: s.timeoutMs,
    secrets: () => [s.clientSecret, ...(tokens.token ? [tokens.token] : [])],
    reasonOf: defenderReason,
  });

  const send = <T>(req: VendorRequest) => sendWithBearer<T>(http, tokens, req);
  async function call<T>(req: VendorRequest, what: string): Promise<T> {
    const res = await send<T>(req);
    if (!isOk(res)) throw http.failureFor(res, what);
    return res.data;
  }

  async function machinesWhere(filter: string): Promise<Machine[]> {
    const body = await call<{ value?: Machine[] }>(
      { method: 'GET', url: '/api/machines', params: { $filter: filter } },
      'machine lookup',
    );
    return body.value ?? [];
  }

  async function actionsOf(machineId: string): Promise<MachineAction[]> {
    const body = await call<{ value?: MachineAction[] }>(
      {
        method: 'GET',
        url: '/api/machineactions',
        params: { $filter: `machineId eq ${odataString(machineId)}` },
      },
      `machine actions of ${machineId}`,
    );
    return (body.value ?? []).sort((a, b) =>
      (b.creationDateTimeUtc ?? '').localeCompare(a.creationDateTimeUtc ?? ''),
    );
  }

  function isolationState(actions: MachineAction[]): {
    state: ContainmentState;
    detail: string;
    action?: MachineAction;
  } {
    const last = actions.find(
      (a) => (a.type === 'Isolate' || a.type === 'Unisolate') && !FINAL_BAD.has(a.status),
    );
    if (!last) return { state: 'normal', detail: 'no isolation action on record' };
    const detail = `${last.type} ${last.status} (machine action ${last.id})`;
    if (last.type === 'Isolate')
      return { state: last.status === 'Succeeded' ? 'contained' : 'containing', detail, action: last };
    return { state: last.status === 'Succeeded' ? 'normal' : 'releasing', detail, action: last };
  }

  async function waitFor(action: MachineAction, what: string): Promise<MachineAction> {
    let cur = action;
    const done = await pollUntil(
      async () => {
        if (!IN_FLIGHT.has(cur.status)) return cur;
        cur = await call<MachineAction>(
          { method: 'GET', url: `/api/machineactions/${encodeURIComponent(action.id)}` },
          `machine action ${action.id}`,
        );
        return IN_FLIGHT.has(cur.status) ? undefined : cur;
      },
      s.verifyTimeoutMs,
      s.pollIntervalMs,
    );
    if (!done) {
      throw failure(
        ErrorType.Unavailable,
        `defender: ${what} requested (machine action ${cur.id}) but still ${cur.status}`,
      );
    }
    if (done.status !== 'Succeeded') {
      throw failure(
        ErrorType.UpstreamRejected,
        `defender: ${what} ended ${done.status} (machine action ${done.id})`,
      );
    }
    return done;
  }

  /**
   * Send one machine action, or adopt the one already in flight: our own (tagged) from an earlier attempt,
   * or, on ActiveRequestAlreadyExists, the pending one of the same kind that `matches`.
   */
  async function actOnce(
    host: EdrHost,
    type: string,
    path: string,
    body: Record<string, unknown>,
    ctx: EdrContext,
    matches: (a: MachineAction) => boolean,
  ): Promise<{ action: MachineAction; sent: boolean; note: string }> {
    const tag = `[vigil:${ctx.tag}]`;
    const mine = (await actionsOf(host.id)).find(
      (a) => a.type === type && (a.requestorComment ?? '').includes(tag),
    );
    if (mine) {
      if (FINAL_BAD.has(mine.status)) {
        throw failure(
          ErrorType.UpstreamRejected,
          `defender: the ${type} sent earlier for this request ended ${mine.status} (machine action ${mine.id})`,
        );
      }
      return {
        action: mine,
        sent: false,
        note: `machine action ${mine.id} from an earlier attempt: nothing sent`,
      };
    }
    const res = await send<MachineAction>({
      method: 'POST',
      url: `/api/machines/${encodeURIComponent(host.id)}/${path}`,
      json: { Comment: ctx.comment, ...body },
    });
    if (isOk(res)) return { action: res.data, sent: true, note: `POST /api/machines/${host.id}/${path}` };
    if (res.status === 400 && errorCode(res) === 'ActiveRequestAlreadyExists') {
      const pending = (await actionsOf(host.id)).find(
        (a) => a.type === type && IN_FLIGHT.has(a.status) && matches(a),
      );
      if (pending) {
        return {
          action: pending,
          sent: false,
          note: `${type} already pending (machine action ${pending.id}): nothing sent`,
        };
      }
      throw failure(
        ErrorType.Unavailable,
        `defender: another ${type} is pending on machine ${host.id}; try again`,
      );
    }
    throw http.failureFor(res, `${type} of machine ${host.id}`);
  }

  return {
    vendor: 'defender',

    unsupported(action: ContainmentAction, op: Op) {
      if (action === 'isolate-host') return null;
      if (action === 'quarantine-file')
        return op === 'apply' ? null : 'the Defender API has no action that restores a quarantined file';
      if (action === 'kill-process-tree')
        return 'the Defender API has no machine action that kills a process';
      return 'the Defender API has no such machine action';
    },

    async findHost(hostname) {
      let found = await machinesWhere(`computerDnsName eq ${odataString(hostname.toLowerCase())}`);
      // Defender records the FQDN; a short name matches "<name>.<domain>".
      if (found.length === 0 && !hostname.includes('.')) {
        found = await machinesWhere(
          `startswith(computerDnsName,${odataString(`${hostname.toLowerCase()}.`)})`,
        );
      }
      if (found.length === 0) throw failure(ErrorType.NotFound, `defender: no machine named ${hostname}`);
      if (found.length > 1) {
        throw failure(
          ErrorType.UpstreamRejected,
          `defender: ${found.length} machines match ${hostname} (${found.map((m) => m.id).join(', ')}); refusing to guess`,
        );
      }
      const m = found[0]!;
      const st = isolationState(await actionsOf(m.id));
      return { id: m.id, name: m.computerDnsName ?? hostname, state: st.state, stateDetail: st.detail };
    },

    plan(host, action, op, params) {
      if (action === 'quarantine-file') {
        return [
          `POST /api/machines/${host.id}/StopAndQuarantineFile {Sha1: ${typeof params.sha1 === 'string' ? params.sha1 : '(missing)'}} (${host.name})`,
          'poll GET /api/machineactions/{id} until Succeeded',
        ];
      }
      const want = op === 'apply' ? 'contained' : 'normal';
      if (host.state === want)
        return [`machine ${host.id} (${host.name}) already ${host.stateDetail}: send nothing`];
      return [
        op === 'apply'
          ? `POST /api/machines/${host.id}/isolate {IsolationType: ${s.isolationType}} (${host.name}, now ${host.stateDetail})`
          : `POST /api/machines/${host.id}/unisolate (${host.name}, now ${host.stateDetail})`,
        'poll GET /api/machineactions/{id} until Succeeded',
      ];
    },

    async isolate(host, op, ctx): Promise<EdrOutcome> {
      const type = op === 'apply' ? 'Isolate' : 'Unisolate';
      const want: ContainmentState = op === 'apply' ? 'contained' : 'normal';
      const st = isolationState(await actionsOf(host.id));
      if (st.state === want) {
        return {
          already: true,
          plan: [`machine ${host.id} already ${st.detail}: nothing sent`],
          verified: st.detail,
          effect: { machineId: host.id, hostname: host.name, machineActionId: st.action?.id ?? null },
        };
      }
      const { action, sent, note } = await actOnce(
        host,
        type,
        op === 'apply' ? 'isolate' : 'unisolate',
        op === 'apply' ? { IsolationType: s.isolationType } : {},
        ctx,
        () => true,
      );
      const done = await waitFor(action, `${type} of machine ${host.id}`);
      return {
        already: !sent,
        plan: [note],
        verified: `${done.type} ${done.status} (machine action ${done.id})`,
        effect: {
          machineId: host.id,
          hostname: host.name,
          machineActionId: done.id,
          ...(op === 'apply' ? { isolationType: s.isolationType } : {}),
        },
      };
    },

    async quarantineFile(host, _op, file: FileTarget, ctx): Promise<EdrOutcome> {
      if (!file.sha1) {
        throw failure(
          ErrorType.InvalidInput,
          'defender: quarantine-file needs params.sha1 (StopAndQuarantineFile takes a Sha1)',
        );
      }
      const sha1 = file.sha1;
      const { action, sent, note } = await actOnce(
        host,
        'StopAndQuarantineFile',
        'StopAndQuarantineFile',
        { Sha1: sha1 },
        ctx,
        (a) => (a.fileIdentifier ?? '').toLowerCase() === sha1,
      );
      const done = await waitFor(action, `StopAndQuarantineFile ${sha1} on machine ${host.id}`);
      return {
        already: !sent,
        plan: [note],
        verified: `StopAndQuarantineFile ${done.status} (machine action ${done.id})`,
        effect: { machineId: host.id, hostname: host.name, machineActionId: done.id, sha1, path: file.path },
      };
    },
  };
}
