/**
 * A local SentinelOne Management API (v2.1) for tests, following the shapes public integrations document
 * (references in activities/response/edr/sentinelone.ts): `Authorization: ApiToken <token>`, errors
 * `{errors: [{code, detail, title}]}`, agents with `networkStatus`, agents/actions/disconnect and connect
 * with `{filter: {ids}}` answering `{data: {affected}}`, the status moving through disconnecting/connecting
 * for `settleMs`, and 429 with Retry-After.
 */
import { FakeEdrServer, first, type LoggedRequest, type Reply } from './server.js';

export type NetworkStatus = 'connected' | 'disconnecting' | 'disconnected' | 'connecting';

interface Agent {
  id: string;
  computerName: string;
  networkStatus: NetworkStatus;
  isActive: boolean;
}

export class FakeSentinelOne extends FakeEdrServer {
  readonly agents = new Map<string, Agent>();
  settleMs = 30;

  constructor(public apiToken = 's1-token-eyJraWQiOiJ0ZXN0In0x9') {
    super();
  }

  addAgent(
    computerName: string,
    networkStatus: NetworkStatus = 'connected',
    id = String(Date.now()) + Math.floor(Math.random() * 1e6),
  ): string {
    this.agents.set(id, { id, computerName, networkStatus, isActive: true });
    return id;
  }

  private error(status: number, code: number, title: string, detail: string | null = null): Reply {
    return { status, body: { errors: [{ code, detail, title }] } };
  }

  protected rateLimited(retryAfterS: number): Reply {
    const r = this.error(429, 4290010, 'Too Many Requests', 'Rate limit exceeded');
    r.headers = { 'Retry-After': String(retryAfterS) };
    return r;
  }

  protected serverError(status: number): Reply {
    return this.error(status, 5000010, 'Server Error', null);
  }

  protected route(r: LoggedRequest): Reply {
    if (r.authorization !== `ApiToken ${this.apiToken}`) {
      return this.error(401, 4010010, 'Authentication Failed', null);
    }
    if (r.method === 'GET' && r.path === '/web/api/v2.1/agents') {
      const name = first(r.query, 'computerName');
      const ids = first(r.query, 'ids')?.split(',');
      const data = [...this.agents.values()].filter(
        (a) =>
          (name === undefined || a.computerName.toLowerCase() === name.toLowerCase()) &&
          (!ids || ids.includes(a.id)),
      );
      return {
        status: 200,
        body: {
          data: data.map((a) => ({ ...a })),
          pagination: { totalItems: data.length, nextCursor: null },
        },
      };
    }
    const act = /^\/web\/api\/v2\.1\/agents\/actions\/(disconnect|connect)$/.exec(r.path);
    if (r.method === 'POST' && act) {
      const ids = ((r.body ?? {}) as { filter?: { ids?: unknown } }).filter?.ids;
      if (!Array.isArray(ids) || ids.length === 0) {
        return this.error(400, 4000010, 'Validation Error', 'filter: at least one filter is required');
      }
      const hit = ids.map((id) => this.agents.get(String(id))).filter((a): a is Agent => !!a);
      for (const a of hit) {
        a.networkStatus = act[1] === 'disconnect' ? 'disconnecting' : 'connecting';
        setTimeout(() => {
          if (a.networkStatus === 'disconnecting') a.networkStatus = 'disconnected';
          if (a.networkStatus === 'connecting') a.networkStatus = 'connected';
        }, this.settleMs);
      }
      return { status: 200, body: { data: { affected: hit.length } } };
    }
    return this.error(404, 4040010, 'Not Found', `no route ${r.method} ${r.path}`);
  }
}
