/**
 * A local CrowdStrike Falcon API for tests, following the documented endpoints (see
 * activities/response/edr/crowdstrike.ts for the references): OAuth2 client credentials with expiring
 * bearer tokens, the `{meta, resources, errors}` envelope, FQL hostname lookup, device entities with the
 * containment `status`, devices-actions v2 contain/lift_containment (pending, then done after `settleMs`),
 * and 429 with `X-RateLimit-RetryAfter` as an epoch second.
 */
import { FakeEdrServer, first, randomToken, type LoggedRequest, type Reply } from './server.js';

export type FalconStatus = 'normal' | 'containment_pending' | 'contained' | 'lift_containment_pending';

interface Device {
  device_id: string;
  hostname: string;
  status: FalconStatus;
  last_seen: string;
}

export class FakeCrowdStrike extends FakeEdrServer {
  readonly devices = new Map<string, Device>();
  private readonly tokens = new Map<string, number>();
  tokenTtlS = 1799;
  /** How long a contain/lift stays pending before the sensor "checks in". */
  settleMs = 30;
  tokensIssued = 0;
  /** Refuse containment actions with this status and message (e.g. a sensor that cannot be contained). */
  rejectActions: { status: number; message: string } | undefined;
  /** Echo the presented client secret in the token error, as a careless gateway might. */
  echoSecret = false;

  constructor(
    readonly clientId = 'cs-client-id',
    readonly clientSecret = 'cs-secret-5f0e2c9a71b84d',
  ) {
    super();
  }

  addDevice(hostname: string, status: FalconStatus = 'normal', id = randomToken('aid')): string {
    this.devices.set(id, { device_id: id, hostname, status, last_seen: new Date().toISOString() });
    return id;
  }

  /** Every token issued so far is now expired (as after 30 minutes). */
  expireTokens(): void {
    for (const t of this.tokens.keys()) this.tokens.set(t, 0);
  }

  private envelope(
    resources: unknown[],
    errors: { code: number; message: string }[] = [],
    status = 200,
  ): Reply {
    return {
      status,
      body: {
        meta: { query_time: 0.001, powered_by: 'fake-falcon', trace_id: randomToken('trace-') },
        resources,
        errors,
      },
      headers: { 'X-RateLimit-Limit': '6000', 'X-RateLimit-Remaining': '5999' },
    };
  }

  private error(status: number, message: string): Reply {
    return this.envelope([], [{ code: status, message }], status);
  }

  protected rateLimited(retryAfterS: number): Reply {
    const r = this.error(429, 'API rate limit exceeded.');
    r.headers = {
      'X-RateLimit-Limit': '6000',
      'X-RateLimit-Remaining': '0',
      'X-RateLimit-RetryAfter': String(Math.floor(Date.now() / 1000) + retryAfterS),
    };
    return r;
  }

  protected serverError(status: number): Reply {
    return this.error(status, 'internal server error');
  }

  protected route(r: LoggedRequest): Reply {
    if (r.method === 'POST' && r.path === '/oauth2/token') {
      const form = (r.body ?? {}) as Record<string, string>;
      if (form.client_id !== this.clientId || form.client_secret !== this.clientSecret) {
        const echo = this.echoSecret ? ` (client_secret=${form.client_secret ?? ''})` : '';
        return this.error(403, `Failed to issue access token - Not Authorized${echo}`);
      }
      const token = randomToken('cs-token-');
      this.tokens.set(token, Date.now() + this.tokenTtlS * 1000);
      this.tokensIssued++;
      return { status: 201, body: { access_token: token, token_type: 'bearer', expires_in: this.tokenTtlS } };
    }
    const m = /^Bearer (.+)$/.exec(r.authorization ?? '');
    const exp = m ? this.tokens.get(m[1]!) : undefined;
    if (exp === undefined || exp <= Date.now()) return this.error(401, 'access denied, invalid bearer token');

    if (r.method === 'GET' && r.path === '/devices/queries/devices/v1') {
      const filter = first(r.query, 'filter') ?? '';
      const fm = /^hostname:'([^']*)'$/.exec(filter);
      if (!fm) return this.error(400, `Invalid filter: ${filter}`);
      const name = fm[1]!.toLowerCase();
      return this.envelope(
        [...this.devices.values()].filter((d) => d.hostname.toLowerCase() === name).map((d) => d.device_id),
      );
    }
    if (r.method === 'GET' && r.path === '/devices/entities/devices/v2') {
      const ids = r.query.ids ?? [];
      if (ids.length === 0) return this.error(400, 'ids is required');
      const found = ids.map((id) => this.devices.get(id)).filter((d): d is Device => !!d);
      if (found.length === 0) return this.error(404, 'Device not found');
      return this.envelope(found.map((d) => ({ ...d })));
    }
    if (r.method === 'POST' && r.path === '/devices/entities/devices-actions/v2') {
      const action = first(r.query, 'action_name');
      const ids = ((r.body ?? {}) as { ids?: unknown }).ids;
      if (action !== 'contain' && action !== 'lift_containment') {
        return this.error(400, `Invalid action_name: ${String(action)}`);
      }
      if (!Array.isArray(ids) || ids.length === 0) return this.error(400, 'ids is required');
      if (this.rejectActions) return this.error(this.rejectActions.status, this.rejectActions.message);
      const devices = ids.map((id) => this.devices.get(String(id)));
      if (devices.some((d) => !d)) return this.error(404, 'Device not found');
      for (const d of devices as Device[]) {
        d.status = action === 'contain' ? 'containment_pending' : 'lift_containment_pending';
        setTimeout(() => {
          if (d.status === 'containment_pending') d.status = 'contained';
          if (d.status === 'lift_containment_pending') d.status = 'normal';
        }, this.settleMs);
      }
      const res = this.envelope((devices as Device[]).map((d) => ({ id: d.device_id, path: '' })));
      res.status = 202;
      return res;
    }
    return this.error(404, `no route ${r.method} ${r.path}`);
  }
}
