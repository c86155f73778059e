import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeDefender } from '../../../test/fakes/edr/defender.js';
import { FAST, failureOf, request, serialized } from '../../../test/helpers/edr.js';
import { loadEdrConfig } from './config.js';
import { createEdrResponder } from './responder.js';

let fake: FakeDefender;
let mid: string;
const SHA1 = '3395856ce81f2b7382dee72602f798b642f14140';

function responder(over: Record<string, string> = {}) {
  const config = loadEdrConfig({
    ...FAST,
    VIGIL_RESPONDERS: '{"*.corp.example":"defender","web-*":"defender"}',
    VIGIL_DEFENDER_TENANT_ID: fake.tenantId,
    VIGIL_DEFENDER_CLIENT_ID: fake.clientId,
    VIGIL_DEFENDER_CLIENT_SECRET: fake.clientSecret,
    VIGIL_DEFENDER_API_URL: fake.url,
    VIGIL_DEFENDER_LOGIN_URL: fake.url,
    ...over,
  });
  return createEdrResponder({ vendor: 'defender', config });
}

const posts = (verb: string) => fake.calls('POST', new RegExp(`^/api/machines/[^/]+/${verb}$`));

beforeEach(async () => {
  fake = await new FakeDefender().start();
  mid = fake.addMachine('web-01.corp.example');
});
afterEach(async () => fake.close());

describe('Microsoft Defender for Endpoint responder', () => {
  it('isolates a machine, waits for the machine action to succeed, then releases it', async () => {
    const r = responder();
    const req = request();
    const applied = await r.execute(req);
    expect(applied).toMatchObject({
      status: 'applied',
      already: false,
      responder: 'defender',
      effect: { machineId: mid, hostname: 'web-01.corp.example', isolationType: 'Full' },
    });
    expect(applied.verified).toMatch(/^Isolate Succeeded \(machine action ma-/);
    const [iso] = posts('isolate');
    expect(iso!.path).toBe(`/api/machines/${mid}/isolate`);
    expect(iso!.body).toMatchObject({ IsolationType: 'Full' });
    expect((iso!.body as { Comment: string }).Comment).toMatch(
      /^Vigil incident inc-web-01: isolate-host apply \[vigil:[0-9a-f]{16}\]$/,
    );
    // Polled by id until the action left Pending.
    expect(fake.calls('GET', /^\/api\/machineactions\/ma-/).length).toBeGreaterThan(0);
    // The short name was looked up exactly first, then as the FQDN's prefix.
    expect(fake.calls('GET', '/api/machines').map((c) => c.query.$filter?.[0])).toEqual([
      "computerDnsName eq 'web-01'",
      "startswith(computerDnsName,'web-01.')",
    ]);

    const released = await r.execute(request({ op: 'undo' }));
    expect(released).toMatchObject({ status: 'undone', already: false });
    expect(released.verified).toMatch(/^Unisolate Succeeded/);
    expect(posts('unisolate')).toHaveLength(1);
    expect(fake.actions.map((a) => `${a.type}:${a.status}`)).toEqual([
      'Isolate:Succeeded',
      'Unisolate:Succeeded',
    ]);
    expect(fake.tokensIssued).toBe(1);
    const token = fake.calls('POST', `/${fake.tenantId}/oauth2/v2.0/token`)[0]!.body;
    expect(token).toMatchObject({
      grant_type: 'client_credentials',
      scope: 'https://api.securitycenter.microsoft.com/.default',
    });
  });

  it('answers already=true for a machine whose last isolation succeeded', async () => {
    await responder().execute(request());
    const again = await responder().execute(request());
    expect(again).toMatchObject({ status: 'applied', already: true });
    expect(posts('isolate')).toHaveLength(1);
  });

  it('finds its own earlier machine action by the key tag, so a retry on another worker sends nothing', async () => {
    const req = request();
    const first = await responder().execute(req);
    // An analyst released it meanwhile; a late retry of the same request must not isolate it again.
    fake.createAction(mid, 'Unisolate', 'released by an analyst').status = 'Succeeded';
    const retry = await responder().execute(req);
    expect(first.already).toBe(false);
    expect(retry).toMatchObject({ status: 'applied', already: true, effect: first.effect });
    expect(posts('isolate')).toHaveLength(1);
  });

  it('does not resend when its own earlier machine action was cancelled, and says so', async () => {
    const req = request();
    await responder().execute(req);
    fake.createAction(mid, 'Unisolate', 'released by an analyst').status = 'Succeeded';
    fake.actions[0]!.status = 'Cancelled';
    const f = await failureOf(responder().execute(req));
    expect(f.type).toBe('UpstreamRejected');
    expect(f.message).toContain('ended Cancelled');
    expect(posts('isolate')).toHaveLength(1);
  });

  it('adopts an isolation already pending (ActiveRequestAlreadyExists) instead of failing', async () => {
    fake.settleMs = 150;
    const analysts = fake.createAction(mid, 'Isolate', 'isolated from the portal by an analyst');
    const res = await responder().execute(request());
    expect(res).toMatchObject({ status: 'applied', already: true, effect: { machineActionId: analysts.id } });
    expect(res.plan[0]).toContain('already pending');
    expect(posts('isolate')).toHaveLength(1); // answered 400 ActiveRequestAlreadyExists
    expect(fake.actions).toHaveLength(1);
  });

  it('stops and quarantines a file by sha1', async () => {
    const res = await responder().execute(
      request({ action: 'quarantine-file', params: { path: '/opt/app/evil.so', sha1: SHA1 } }),
    );
    expect(res).toMatchObject({ status: 'applied', already: false, effect: { machineId: mid, sha1: SHA1 } });
    expect(posts('StopAndQuarantineFile')[0]!.body).toMatchObject({ Sha1: SHA1 });
  });

  it('refuses quarantine without a sha1, its undo, and kill-process-tree, without acting', async () => {
    const noSha = await failureOf(
      responder().execute(request({ action: 'quarantine-file', params: { path: '/opt/app/evil.so' } })),
    );
    expect(noSha.type).toBe('InvalidInput');
    expect(noSha.message).toContain('sha1');
    const undo = await failureOf(
      responder().execute(
        request({ action: 'quarantine-file', op: 'undo', params: { path: '/x', sha1: SHA1 } }),
      ),
    );
    expect(undo.type).toBe('Misconfigured');
    expect(undo.message).toMatch(/defender does not support quarantine-file \(undo\)/);
    const kill = await failureOf(
      responder().execute(request({ action: 'kill-process-tree', params: { pid: 7 } })),
    );
    expect(kill.message).toMatch(/defender does not support kill-process-tree/);
    expect(fake.actions).toHaveLength(0);
  });

  it('fails for good when the machine action fails', async () => {
    fake.outcome = 'Failed';
    const f = await failureOf(responder().execute(request()));
    expect(f.type).toBe('UpstreamRejected');
    expect(f.nonRetryable).toBe(true);
    expect(f.message).toContain('ended Failed');
  });

  it('plans on a dry run and creates no machine action', async () => {
    const res = await responder().execute(request({ dryRun: true }));
    expect(res.status).toBe('dry-run');
    expect(res.plan[0]).toContain(`POST /api/machines/${mid}/isolate {IsolationType: Full}`);
    expect(fake.actions).toHaveLength(0);
    expect(fake.calls('POST', /^\/api\//)).toHaveLength(0);
  });

  it('refreshes an expired token once and carries on', async () => {
    const r = responder();
    await r.execute(request());
    fake.expireTokens();
    await r.execute(request({ op: 'undo' }));
    expect(fake.tokensIssued).toBe(2);
    expect(fake.requests.filter((x) => x.path.startsWith('/api/')).length).toBeGreaterThan(0);
  });

  it('maps 429 to RateLimited with the Retry-After delay', async () => {
    fake.rateLimit(1, 30, /isolate$/);
    const f = await failureOf(responder().execute(request()));
    expect(f.type).toBe('RateLimited');
    expect(Number(f.nextRetryDelay)).toBe(30_000);
    expect(fake.actions).toHaveLength(0);
  });

  it('treats a 5xx as retryable', async () => {
    fake.fail(502, 1, /^\/api\/machines$/);
    const f = await failureOf(responder().execute(request()));
    expect(f.type).toBe('Unavailable');
    expect(f.nonRetryable).toBe(false);
    expect(f.message).toContain('InternalServerError');
  });

  it('answers NotFound for an unknown machine', async () => {
    const f = await failureOf(responder().execute(request({ host: 'web-77' })));
    expect(f.type).toBe('NotFound');
    expect(f.message).toContain('web-77');
  });

  it('reports a refused client secret with the identity platform reason and without the secret', async () => {
    const wrong = 'Zz9~not-the-secret~41';
    const f = await failureOf(responder({ VIGIL_DEFENDER_CLIENT_SECRET: wrong }).execute(request()));
    expect(f.type).toBe('Unauthenticated');
    expect(f.nonRetryable).toBe(true);
    expect(f.message).toContain('invalid_client: AADSTS7000215');
    expect(serialized(f)).not.toContain(wrong);
    expect(serialized(f)).not.toContain(encodeURIComponent(wrong));
  });
});
