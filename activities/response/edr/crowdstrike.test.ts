import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeCrowdStrike } from '../../../test/fakes/edr/crowdstrike.js';
import { FAST, failureOf, request, serialized } from '../../../test/helpers/edr.js';
import { loadEdrConfig } from './config.js';
import { createEdrResponder } from './responder.js';

let fake: FakeCrowdStrike;
let aid: string;

function responder(over: Record<string, string> = {}) {
  const config = loadEdrConfig({
    ...FAST,
    VIGIL_RESPONDERS: '{"web-*":"crowdstrike","*":"agent"}',
    VIGIL_CROWDSTRIKE_BASE_URL: fake.url,
    VIGIL_CROWDSTRIKE_CLIENT_ID: fake.clientId,
    VIGIL_CROWDSTRIKE_CLIENT_SECRET: fake.clientSecret,
    ...over,
  });
  return createEdrResponder({ vendor: 'crowdstrike', config });
}

const actions = () => fake.calls('POST', '/devices/entities/devices-actions/v2');

beforeEach(async () => {
  fake = await new FakeCrowdStrike().start();
  aid = fake.addDevice('web-01');
  fake.addDevice('db-01');
});
afterEach(async () => fake.close());

describe('CrowdStrike Falcon responder', () => {
  it('contains a host, confirms the containment, then lifts it', async () => {
    const r = responder();
    const decidedAt = new Date(Date.now() - 1000).toISOString();
    const applied = await r.execute(request({ decidedAt }));
    expect(applied).toMatchObject({
      action: 'isolate-host',
      op: 'apply',
      host: 'web-01',
      status: 'applied',
      already: false,
      responder: 'crowdstrike',
      effect: { deviceId: aid, status: 'contained' },
    });
    expect(applied.verified).toContain('falcon status contained');
    expect(applied.decisionToEffectMs).toBeGreaterThanOrEqual(1000);
    expect(fake.devices.get(aid)!.status).toBe('contained');
    expect(actions()).toHaveLength(1);
    expect(actions()[0]!.query.action_name).toEqual(['contain']);
    expect(actions()[0]!.body).toEqual({ ids: [aid] });
    expect(fake.calls('GET', '/devices/queries/devices/v1')[0]!.query.filter).toEqual(["hostname:'web-01'"]);

    const released = await r.execute(request({ op: 'undo' }));
    expect(released).toMatchObject({ status: 'undone', already: false, effect: { status: 'normal' } });
    expect(released.verified).toContain('falcon status normal');
    expect(fake.devices.get(aid)!.status).toBe('normal');
    expect(actions().map((a) => a.query.action_name?.[0])).toEqual(['contain', 'lift_containment']);
    // One token for the whole cycle: cached, not fetched per call.
    expect(fake.tokensIssued).toBe(1);
  });

  it('answers already=true and sends nothing for a host that is already contained', async () => {
    fake.devices.get(aid)!.status = 'contained';
    const res = await responder().execute(request());
    expect(res).toMatchObject({ status: 'applied', already: true });
    expect(actions()).toHaveLength(0);
  });

  it('waits for a containment already pending instead of sending a second one', async () => {
    fake.devices.get(aid)!.status = 'containment_pending';
    setTimeout(() => (fake.devices.get(aid)!.status = 'contained'), 50);
    const res = await responder().execute(request());
    expect(res).toMatchObject({ status: 'applied', already: true });
    expect(actions()).toHaveLength(0);
  });

  it('resolves the host on a dry run and changes nothing', async () => {
    const res = await responder().execute(request({ dryRun: true }));
    expect(res.status).toBe('dry-run');
    expect(res.plan.join('\n')).toContain(`action_name=contain {ids:[${aid}]}`);
    expect(res.effect).toEqual({ hostId: aid, state: 'normal' });
    expect(actions()).toHaveLength(0);
    expect(fake.devices.get(aid)!.status).toBe('normal');
  });

  it('sends one action for a repeated idempotency key, sequential, concurrent or from another worker', async () => {
    const r = responder();
    const req = request();
    const [a, b] = await Promise.all([r.execute(req), r.execute(req)]);
    const c = await r.execute(req);
    expect(actions()).toHaveLength(1);
    expect([a.already, b.already].sort()).toEqual([false, true]);
    expect(c).toMatchObject({ status: 'applied', already: true, effect: a.effect });
    // A second worker (no shared memory) sees the contained state and sends nothing either.
    const other = await responder().execute(req);
    expect(other.already).toBe(true);
    expect(actions()).toHaveLength(1);
  });

  it('refuses to reuse an idempotency key for a different request', async () => {
    const r = responder();
    const req = request();
    await r.execute(req);
    const f = await failureOf(r.execute({ ...req, op: 'undo' }));
    expect(f.type).toBe('InvalidInput');
    expect(actions()).toHaveLength(1);
  });

  it('fetches a new token once the old one expired and carries on', async () => {
    const r = responder();
    await r.execute(request());
    fake.expireTokens();
    const res = await r.execute(request({ op: 'undo' }));
    expect(res.status).toBe('undone');
    expect(fake.tokensIssued).toBe(2);
    expect(fake.calls('POST', '/oauth2/token')).toHaveLength(2);
  });

  it('maps a 429 to RateLimited with the wait X-RateLimit-RetryAfter names', async () => {
    fake.rateLimit(1, 7, /devices-actions/);
    const f = await failureOf(responder().execute(request()));
    expect(f.type).toBe('RateLimited');
    expect(f.nonRetryable).toBe(false);
    expect(Number(f.nextRetryDelay)).toBeGreaterThan(5_000);
    expect(Number(f.nextRetryDelay)).toBeLessThanOrEqual(7_000);
    expect(fake.devices.get(aid)!.status).toBe('normal');
  });

  it('treats a 4xx as final and says what Falcon said', async () => {
    fake.rejectActions = { status: 400, message: 'Device is not eligible for containment' };
    const f = await failureOf(responder().execute(request()));
    expect(f.type).toBe('UpstreamRejected');
    expect(f.nonRetryable).toBe(true);
    expect(f.message).toContain('Device is not eligible for containment');
    expect(f.message).toMatch(/trace trace-/);
  });

  it('treats a 5xx as retryable, and the retry contains the host once', async () => {
    fake.fail(503, 1, /devices-actions/);
    const r = responder();
    const req = request();
    const f = await failureOf(r.execute(req));
    expect(f.type).toBe('Unavailable');
    expect(f.nonRetryable).toBe(false);
    const res = await r.execute(req);
    expect(res).toMatchObject({ status: 'applied', already: false });
    expect(fake.devices.get(aid)!.status).toBe('contained');
  });

  it('fails retryably when Falcon has not confirmed in time, and the retry sends nothing new', async () => {
    fake.settleMs = 400;
    const r = responder({ VIGIL_EDR_VERIFY_TIMEOUT: '100ms' });
    const req = request();
    const f = await failureOf(r.execute(req));
    expect(f.type).toBe('Unavailable');
    expect(f.message).toContain('containment_pending');
    await new Promise((res) => setTimeout(res, 400));
    const res = await r.execute(req);
    expect(res).toMatchObject({ status: 'applied', already: true });
    expect(actions()).toHaveLength(1);
  });

  it('answers NotFound for a host Falcon does not know', async () => {
    const f = await failureOf(responder().execute(request({ host: 'web-99' })));
    expect(f.type).toBe('NotFound');
    expect(f.nonRetryable).toBe(true);
    expect(f.message).toContain('web-99');
  });

  it('refuses to guess between two devices with the same hostname', async () => {
    fake.addDevice('web-01');
    const f = await failureOf(responder().execute(request()));
    expect(f.type).toBe('UpstreamRejected');
    expect(f.message).toContain('refusing to guess');
    expect(actions()).toHaveLength(0);
  });

  it('keeps the client secret out of a refused login, even when the server echoes it', async () => {
    fake.echoSecret = true;
    const wrong = 'wrong-secret-7c1d9e22ab';
    const f = await failureOf(responder({ VIGIL_CROWDSTRIKE_CLIENT_SECRET: wrong }).execute(request()));
    expect(f.type).toBe('Unauthenticated');
    expect(f.nonRetryable).toBe(true);
    expect(f.message).toContain('Failed to issue access token');
    expect(f.message).toContain('[redacted]');
    expect(serialized(f)).not.toContain(wrong);
    expect(serialized(f)).not.toContain(fake.clientSecret);
  });

  it('refuses kill-process-tree and quarantine-file, naming the vendor and the action', async () => {
    for (const [action, params] of [
      ['kill-process-tree', { pid: 4242 }],
      ['quarantine-file', { path: '/tmp/x', sha1: 'a'.repeat(40) }],
    ] as const) {
      const f = await failureOf(responder().execute(request({ action, params })));
      expect(f.type).toBe('Misconfigured');
      expect(f.nonRetryable).toBe(true);
      expect(f.message).toContain('crowdstrike');
      expect(f.message).toContain(action);
    }
    expect(fake.requests).toHaveLength(0);
  });

  it('rejects a hostname that could smuggle an FQL clause, before calling Falcon', async () => {
    const f = await failureOf(responder().execute(request({ host: "web-01'+status:'normal" })));
    expect(f.type).toBe('InvalidInput');
    expect(fake.requests).toHaveLength(0);
  });

  it('reports an unreachable Falcon as retryable', async () => {
    const r = responder();
    await fake.close();
    const f = await failureOf(r.execute(request()));
    expect(f.type).toBe('Unavailable');
    expect(f.nonRetryable).toBe(false);
    expect(f.message).toContain('unreachable');
  });
});
