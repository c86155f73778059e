import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/errors.js';
import { FakeCrowdStrike } from '../../../test/fakes/edr/crowdstrike.js';
import { FAST, failureOf, request } from '../../../test/helpers/edr.js';
import { parseRetryAfter, rateLimitDelayMs } from '../../lib/failures.js';
import { loadEdrConfig, routeResponder } from './config.js';
import { createEdrActivities, createEdrResponders } from './index.js';

function configError(env: Record<string, string>): ConfigError {
  try {
    loadEdrConfig(env);
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error('expected a ConfigError');
}

describe('EDR routing and configuration', () => {
  it('routes each host by the first glob that matches, case-insensitively, and the rest to the agent', () => {
    const routes = loadEdrConfig({
      VIGIL_RESPONDERS: '{"web-0?":"sentinelone","web-*":"crowdstrike","*.corp.example":"defender"}',
      VIGIL_CROWDSTRIKE_CLIENT_ID: 'id',
      VIGIL_CROWDSTRIKE_CLIENT_SECRET: 's',
      VIGIL_DEFENDER_TENANT_ID: 't',
      VIGIL_DEFENDER_CLIENT_ID: 'id',
      VIGIL_DEFENDER_CLIENT_SECRET: 's',
      VIGIL_SENTINELONE_BASE_URL: 'https://usea1.sentinelone.net/',
      VIGIL_SENTINELONE_API_TOKEN: 'tok',
    }).VIGIL_RESPONDERS;
    expect(routeResponder('web-01', routes)).toBe('sentinelone');
    expect(routeResponder('WEB-01', routes)).toBe('sentinelone');
    expect(routeResponder('web-100', routes)).toBe('crowdstrike');
    expect(routeResponder('dc1.corp.example', routes)).toBe('defender');
    expect(routeResponder('corp.example', routes)).toBe('agent');
    expect(routeResponder('db-01', routes)).toBe('agent');
    // A dot in a glob is a dot, not "any character".
    expect(routeResponder('dc1xcorpxexample', routes)).toBe('agent');
  });

  it('routes every host to the agent when VIGIL_RESPONDERS is unset, and needs no vendor keys', () => {
    const c = loadEdrConfig({});
    expect(routeResponder('anything', c.VIGIL_RESPONDERS)).toBe('agent');
  });

  it('names every missing key of a vendor the routes use', () => {
    const e = configError({
      VIGIL_RESPONDERS: '{"web-*":"crowdstrike","*":"defender"}',
      VIGIL_DEFENDER_TENANT_ID: 't',
    });
    expect(e.problems.map((p) => p.key).sort()).toEqual([
      'VIGIL_CROWDSTRIKE_CLIENT_ID',
      'VIGIL_CROWDSTRIKE_CLIENT_SECRET',
      'VIGIL_DEFENDER_CLIENT_ID',
      'VIGIL_DEFENDER_CLIENT_SECRET',
    ]);
    expect(e.message).toContain(
      'VIGIL_CROWDSTRIKE_CLIENT_SECRET: is required because VIGIL_RESPONDERS routes hosts to crowdstrike',
    );
    const s1 = configError({ VIGIL_RESPONDERS: '{"*":"sentinelone"}' });
    expect(s1.problems.map((p) => p.key).sort()).toEqual([
      'VIGIL_SENTINELONE_API_TOKEN',
      'VIGIL_SENTINELONE_BASE_URL',
    ]);
  });

  it('names VIGIL_RESPONDERS for bad JSON, an unknown responder or a bad glob', () => {
    expect(configError({ VIGIL_RESPONDERS: '{web-*:crowdstrike}' }).problems[0]!.key).toBe(
      'VIGIL_RESPONDERS',
    );
    const unknown = configError({ VIGIL_RESPONDERS: '{"web-*":"carbonblack"}' });
    expect(unknown.problems[0]!.key).toBe('VIGIL_RESPONDERS.web-*');
    const glob = configError({ VIGIL_RESPONDERS: '{"web-[0-9]":"agent"}' });
    expect(glob.problems[0]!.key).toMatch(/^VIGIL_RESPONDERS/);
  });

  it('never echoes a secret value in a config error', () => {
    const e = configError({
      VIGIL_RESPONDERS: '{"*":"crowdstrike"}',
      VIGIL_CROWDSTRIKE_CLIENT_SECRET: 'topsecret-value-123',
      VIGIL_CROWDSTRIKE_BASE_URL: 'not a url',
    });
    expect(e.problems.map((p) => p.key).sort()).toEqual([
      'VIGIL_CROWDSTRIKE_BASE_URL',
      'VIGIL_CROWDSTRIKE_CLIENT_ID',
    ]);
    expect(e.message).not.toContain('topsecret-value-123');
  });

  it('dispatches to the host vendor, and refuses hosts that belong to the agent', async () => {
    const fake = await new FakeCrowdStrike().start();
    try {
      fake.addDevice('web-01');
      const config = loadEdrConfig({
        ...FAST,
        VIGIL_RESPONDERS: '{"web-*":"crowdstrike","*":"agent"}',
        VIGIL_CROWDSTRIKE_BASE_URL: fake.url,
        VIGIL_CROWDSTRIKE_CLIENT_ID: fake.clientId,
        VIGIL_CROWDSTRIKE_CLIENT_SECRET: fake.clientSecret,
      });
      const edr = createEdrResponders(config);
      expect([...edr.vendors.keys()]).toEqual(['crowdstrike']);
      expect(edr.routeResponder('db-01')).toBe('agent');
      const res = await edr.execute(request({ host: 'web-01', dryRun: true }));
      expect(res.responder).toBe('crowdstrike');
      const f = await failureOf(edr.execute(request({ host: 'db-01' })));
      expect(f.type).toBe('Misconfigured');
      expect(f.message).toContain('db-01 is served by the agent responder');

      const acts = createEdrActivities(config);
      expect(await acts.responderFor({ host: 'web-07' })).toBe('crowdstrike');
      expect((await failureOf(acts.responderFor({ host: '' }))).type).toBe('InvalidInput');
    } finally {
      await fake.close();
    }
  });

  it('lists the zod issues of a malformed request as InvalidInput', async () => {
    const edr = createEdrResponders(
      loadEdrConfig({
        VIGIL_RESPONDERS: '{"*":"sentinelone"}',
        VIGIL_SENTINELONE_BASE_URL: 'http://127.0.0.1:9',
        VIGIL_SENTINELONE_API_TOKEN: 't',
      }),
    );
    const f = await failureOf(edr.execute({ ...request(), action: 'reboot' as never, idempotencyKey: 'x' }));
    expect(f.type).toBe('InvalidInput');
    expect(f.message).toContain('action');
    expect(f.message).toContain('idempotencyKey');
    const p = await failureOf(edr.execute(request({ params: { allow: 'not-a-list' } })));
    expect(p.type).toBe('InvalidInput');
    expect(p.message).toContain('allow');
  });
});

describe('rate-limit delays', () => {
  const now = Date.parse('2026-11-26T12:00:00Z');
  it('reads Retry-After as seconds or as an HTTP date', () => {
    expect(parseRetryAfter('30', now)).toBe(30_000);
    expect(parseRetryAfter('Thu, 26 Nov 2026 12:00:45 GMT', now)).toBe(45_000);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
  });
  it("reads CrowdStrike's X-RateLimit-RetryAfter as the epoch second to retry at", () => {
    const h = (v: Record<string, string>) => (n: string) => v[n];
    expect(rateLimitDelayMs(h({ 'x-ratelimit-retryafter': String(now / 1000 + 9) }), now)).toBe(9_000);
    expect(rateLimitDelayMs(h({ 'x-ratelimit-retryafter': '4' }), now)).toBe(4_000);
    expect(rateLimitDelayMs(h({ 'retry-after': '2', 'x-ratelimit-retryafter': '99' }), now)).toBe(2_000);
    expect(rateLimitDelayMs(h({}), now)).toBeUndefined();
  });
});
