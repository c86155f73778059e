import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeSentinelOne } from '../../../test/fakes/edr/sentinelone.js';
import { FAST, failureOf, request, serialized } from '../../../test/helpers/edr.js';
import { loadEdrConfig } from './config.js';
import { createEdrResponder } from './responder.js';

let fake: FakeSentinelOne;
let agentId: string;

function responder(over: Record<string, string> = {}) {
  const config = loadEdrConfig({
    ...FAST,
    VIGIL_RESPONDERS: '{"*":"sentinelone"}',
    VIGIL_SENTINELONE_BASE_URL: fake.url,
    VIGIL_SENTINELONE_API_TOKEN: fake.apiToken,
    ...over,
  });
  return createEdrResponder({ vendor: 'sentinelone', config });
}

const actions = (verb: string) => fake.calls('POST', `/web/api/v2.1/agents/actions/${verb}`);

beforeEach(async () => {
  fake = await new FakeSentinelOne().start();
  agentId = fake.addAgent('web-01');
  fake.addAgent('web-010');
});
afterEach(async () => fake.close());

describe('SentinelOne responder', () => {
  it('disconnects an agent from the network, confirms it, then reconnects it', async () => {
    const r = responder();
    const applied = await r.execute(request());
    expect(applied).toMatchObject({
      status: 'applied',
      already: false,
      responder: 'sentinelone',
      effect: { agentId, networkStatus: 'disconnected' },
    });
    expect(applied.verified).toBe(`networkStatus disconnected (agent ${agentId})`);
    expect(actions('disconnect')[0]!.body).toEqual({ filter: { ids: [agentId] }, data: {} });
    expect(actions('disconnect')[0]!.authorization).toBe(`ApiToken ${fake.apiToken}`);
    expect(fake.agents.get(agentId)!.networkStatus).toBe('disconnected');

    const released = await r.execute(request({ op: 'undo' }));
    expect(released).toMatchObject({
      status: 'undone',
      already: false,
      effect: { networkStatus: 'connected' },
    });
    expect(actions('connect')).toHaveLength(1);
    expect(fake.agents.get(agentId)!.networkStatus).toBe('connected');
  });

  it('sends nothing for an agent already disconnected', async () => {
    fake.agents.get(agentId)!.networkStatus = 'disconnected';
    const res = await responder().execute(request());
    expect(res).toMatchObject({ status: 'applied', already: true });
    expect(actions('disconnect')).toHaveLength(0);
  });

  it('sends one action for a repeated idempotency key', async () => {
    const r = responder();
    const req = request();
    await r.execute(req);
    const again = await r.execute(req);
    expect(again.already).toBe(true);
    expect(actions('disconnect')).toHaveLength(1);
  });

  it('plans on a dry run and leaves the agent connected', async () => {
    const res = await responder().execute(request({ dryRun: true }));
    expect(res.status).toBe('dry-run');
    expect(res.plan[0]).toContain(`agents/actions/disconnect {filter:{ids:[${agentId}]}}`);
    expect(actions('disconnect')).toHaveLength(0);
    expect(fake.agents.get(agentId)!.networkStatus).toBe('connected');
  });

  it('answers NotFound for an unknown computer name', async () => {
    const f = await failureOf(responder().execute(request({ host: 'web-02' })));
    expect(f.type).toBe('NotFound');
  });

  it('reports a refused API token as final, with the vendor reason and without the token', async () => {
    const wrong = 'eyJraWQiOiJ3cm9uZyJ9.not-valid-any-more';
    const f = await failureOf(responder({ VIGIL_SENTINELONE_API_TOKEN: wrong }).execute(request()));
    expect(f.type).toBe('Unauthenticated');
    expect(f.nonRetryable).toBe(true);
    expect(f.message).toContain('Authentication Failed');
    expect(serialized(f)).not.toContain(wrong);
  });

  it('maps 429 to RateLimited with the delay and 5xx to a retryable failure', async () => {
    fake.rateLimit(1, 12, /disconnect$/);
    const limited = await failureOf(responder().execute(request()));
    expect(limited.type).toBe('RateLimited');
    expect(Number(limited.nextRetryDelay)).toBe(12_000);
    fake.fail(500, 1, /disconnect$/);
    const down = await failureOf(responder().execute(request()));
    expect(down.type).toBe('Unavailable');
    expect(down.nonRetryable).toBe(false);
    expect(fake.agents.get(agentId)!.networkStatus).toBe('connected');
  });

  it('refuses kill-process-tree and quarantine-file, naming the vendor and action', async () => {
    const f = await failureOf(
      responder().execute(request({ action: 'kill-process-tree', params: { pid: 99 } })),
    );
    expect(f.type).toBe('Misconfigured');
    expect(f.message).toMatch(/^sentinelone does not support kill-process-tree/);
    expect(fake.requests).toHaveLength(0);
  });

  it('waits for a disconnect already in progress instead of sending another', async () => {
    fake.agents.get(agentId)!.networkStatus = 'disconnecting';
    setTimeout(() => (fake.agents.get(agentId)!.networkStatus = 'disconnected'), 50);
    const res = await responder().execute(request());
    expect(res).toMatchObject({ status: 'applied', already: true });
    expect(actions('disconnect')).toHaveLength(0);
  });
});
