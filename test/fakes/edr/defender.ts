/**
 * A local Microsoft Defender for Endpoint API plus its token endpoint, following the documented shapes
 * (references in activities/response/edr/defender.ts): the identity platform's client-credentials token
 * (`{token_type, expires_in, access_token}`, errors `{error, error_description}`), OData `$filter` on
 * machines (computerDnsName eq / startswith) and machine actions (machineId eq), isolate / unisolate /
 * StopAndQuarantineFile creating MachineActions that go Pending -> Succeeded (or Failed on demand), the
 * 400 ActiveRequestAlreadyExists while one of the same type is pending, `{error: {code, message}}`
 * errors, and 429 with Retry-After.
 */
import { FakeEdrServer, first, randomToken, type LoggedRequest, type Reply } from './server.js';

export interface FakeMachineAction {
  id: string;
  type: 'Isolate' | 'Unisolate' | 'StopAndQuarantineFile';
  scope: string | null;
  requestor: string;
  requestorComment: string;
  status: 'Pending' | 'InProgress' | 'Succeeded' | 'Failed' | 'TimeOut' | 'Cancelled';
  machineId: string;
  computerDnsName: string;
  creationDateTimeUtc: string;
  lastUpdateDateTimeUtc: string;
  fileIdentifier: string | null;
  fileIdentifierType: string | null;
}

export class FakeDefender extends FakeEdrServer {
  readonly machines = new Map<string, { id: string; computerDnsName: string; healthStatus: string }>();
  readonly actions: FakeMachineAction[] = [];
  private readonly tokens = new Map<string, number>();
  tokenTtlS = 3599;
  settleMs = 30;
  /** The status new actions end in. */
  outcome: 'Succeeded' | 'Failed' = 'Succeeded';
  tokensIssued = 0;
  private seq = 0;

  constructor(
    readonly tenantId = '11111111-2222-3333-4444-555555555555',
    readonly clientId = 'mde-app-id',
    readonly clientSecret = 'mde~secret~Zq81xYw0rT',
  ) {
    super();
  }

  addMachine(computerDnsName: string, id = randomToken('m')): string {
    this.machines.set(id, { id, computerDnsName, healthStatus: 'Active' });
    return id;
  }

  expireTokens(): void {
    for (const t of this.tokens.keys()) this.tokens.set(t, 0);
  }

  private error(status: number, code: string, message: string): Reply {
    return { status, body: { error: { code, message, target: randomToken('') } } };
  }

  protected rateLimited(retryAfterS: number): Reply {
    const r = this.error(429, 'TooManyRequests', 'Rate limit is exceeded. Try again later.');
    r.headers = { 'Retry-After': String(retryAfterS) };
    return r;
  }

  protected serverError(status: number): Reply {
    return this.error(status, 'InternalServerError', 'An error occurred while processing the request');
  }

  /** A machine action as if someone (an analyst, another tool) had requested it. */
  createAction(
    machineId: string,
    type: FakeMachineAction['type'],
    comment: string,
    file?: string,
    scope: string | null = null,
  ): FakeMachineAction {
    const now = new Date(Date.now() + this.seq++).toISOString();
    const a: FakeMachineAction = {
      id: randomToken('ma-'),
      type,
      scope,
      requestor: this.clientId,
      requestorComment: comment,
      status: 'Pending',
      machineId,
      computerDnsName: this.machines.get(machineId)!.computerDnsName,
      creationDateTimeUtc: now,
      lastUpdateDateTimeUtc: now,
      fileIdentifier: file ?? null,
      fileIdentifierType: file ? 'Sha1' : null,
    };
    this.actions.push(a);
    setTimeout(() => {
      a.status = this.outcome;
      a.lastUpdateDateTimeUtc = new Date().toISOString();
    }, this.settleMs);
    return a;
  }

  protected route(r: LoggedRequest): Reply {
    if (r.method === 'POST' && r.path === `/${this.tenantId}/oauth2/v2.0/token`) {
      const f = (r.body ?? {}) as Record<string, string>;
      if (f.grant_type !== 'client_credentials') {
        return {
          status: 400,
          body: { error: 'unsupported_grant_type', error_description: 'AADSTS70003: ...' },
        };
      }
      if (f.scope !== 'https://api.securitycenter.microsoft.com/.default') {
        return {
          status: 400,
          body: {
            error: 'invalid_scope',
            error_description: 'AADSTS1002012: The provided value for scope is not valid.',
          },
        };
      }
      if (f.client_id !== this.clientId || f.client_secret !== this.clientSecret) {
        return {
          status: 401,
          body: {
            error: 'invalid_client',
            error_description: `AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${this.clientId}'.\r\nTrace ID: x`,
            error_codes: [7000215],
          },
        };
      }
      const token = randomToken('mde-token-');
      this.tokens.set(token, Date.now() + this.tokenTtlS * 1000);
      this.tokensIssued++;
      return {
        status: 200,
        body: {
          token_type: 'Bearer',
          expires_in: this.tokenTtlS,
          ext_expires_in: this.tokenTtlS,
          access_token: token,
        },
      };
    }
    if (r.path.includes('/oauth2/')) {
      return {
        status: 400,
        body: { error: 'invalid_request', error_description: 'AADSTS90002: Tenant not found.' },
      };
    }
    const m = /^Bearer (.+)$/.exec(r.authorization ?? '');
    const exp = m ? this.tokens.get(m[1]!) : undefined;
    if (exp === undefined || exp <= Date.now())
      return this.error(401, 'Unauthorized', 'Authorization token is invalid or expired');

    if (r.method === 'GET' && r.path === '/api/machines') {
      const filter = first(r.query, '$filter') ?? '';
      const eq = /^computerDnsName eq '((?:[^']|'')*)'$/.exec(filter);
      const sw = /^startswith\(computerDnsName,'((?:[^']|'')*)'\)$/.exec(filter);
      if (!eq && !sw) return this.error(400, 'InvalidODataQuery', `Unsupported filter: ${filter}`);
      const needle = (eq ?? sw)![1]!.replace(/''/g, "'").toLowerCase();
      const value = [...this.machines.values()].filter((x) =>
        eq ? x.computerDnsName.toLowerCase() === needle : x.computerDnsName.toLowerCase().startsWith(needle),
      );
      return { status: 200, body: { '@odata.context': 'https://fake/api/$metadata#Machines', value } };
    }
    if (r.method === 'GET' && r.path === '/api/machineactions') {
      const filter = first(r.query, '$filter') ?? '';
      const fm = /^machineId eq '([^']*)'$/.exec(filter);
      if (!fm) return this.error(400, 'InvalidODataQuery', `Unsupported filter: ${filter}`);
      return {
        status: 200,
        body: { value: this.actions.filter((a) => a.machineId === fm[1]).map((a) => ({ ...a })) },
      };
    }
    const one = /^\/api\/machineactions\/([^/]+)$/.exec(r.path);
    if (r.method === 'GET' && one) {
      const a = this.actions.find((x) => x.id === one[1]);
      return a
        ? { status: 200, body: { ...a } }
        : this.error(404, 'ResourceNotFound', `Action ${one[1]} was not found`);
    }
    const act = /^\/api\/machines\/([^/]+)\/(isolate|unisolate|StopAndQuarantineFile)$/.exec(r.path);
    if (r.method === 'POST' && act) {
      const id = act[1]!;
      if (!this.machines.has(id)) return this.error(404, 'ResourceNotFound', `Machine ${id} was not found`);
      const b = (r.body ?? {}) as Record<string, unknown>;
      if (typeof b.Comment !== 'string' || !b.Comment)
        return this.error(400, 'InvalidRequestBody', 'Comment is required');
      const type =
        act[2] === 'isolate' ? 'Isolate' : act[2] === 'unisolate' ? 'Unisolate' : 'StopAndQuarantineFile';
      if (
        type === 'Isolate' &&
        b.IsolationType !== undefined &&
        b.IsolationType !== 'Full' &&
        b.IsolationType !== 'Selective'
      ) {
        return this.error(400, 'InvalidRequestBody', 'IsolationType must be Full or Selective');
      }
      if (
        type === 'StopAndQuarantineFile' &&
        (typeof b.Sha1 !== 'string' || !/^[0-9a-f]{40}$/i.test(b.Sha1))
      ) {
        return this.error(400, 'InvalidRequestBody', 'Sha1 is invalid');
      }
      if (
        this.actions.some(
          (a) =>
            a.machineId === id && a.type === type && (a.status === 'Pending' || a.status === 'InProgress'),
        )
      ) {
        return this.error(400, 'ActiveRequestAlreadyExists', `Action ${type} is already in progress`);
      }
      const a = this.createAction(
        id,
        type,
        b.Comment,
        type === 'StopAndQuarantineFile' ? String(b.Sha1).toLowerCase() : undefined,
        type === 'Isolate' ? (typeof b.IsolationType === 'string' ? b.IsolationType : 'Full') : null,
      );
      return { status: 201, body: { ...a } };
    }
    return this.error(404, 'ResourceNotFound', `no route ${r.method} ${r.path}`);
  }
}
