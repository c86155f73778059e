/** firstLookups: the settings and the lookups asked ahead, side by side, each failure where it belongs. */
import { describe, expect, it } from 'vitest';
import type { ResponderRoute } from '../../src/contracts/agent.js';
import type { Enrichment, PlaybookSettings } from '../../src/contracts/playbook.js';
import type { DetectionEvent } from '../../src/events/detection-event.js';
import { join } from 'node:path';
import type { ReserveRequest } from '../../src/contracts/automation.js';
import { paramsDigest, paramsFor, policyRequest } from '../../src/policy/plan.js';
import { evaluateRules } from '../../src/policy/rules.js';
import { repoRoot } from '../../src/paths.js';
import { reverseShell } from '../../test/helpers/events.js';
import { PolicyEngine } from '../policy/engine.js';
import { createPolicyActivities } from '../policy/index.js';
import { loadPlaybookSettings } from '../settings/config.js';
import { createLookupActivities } from './index.js';

const settings = { quietPeriodMs: 1000 } as PlaybookSettings;
const enrichment: Enrichment = {
  lineage: ['bash', 'nginx'],
  flags: [],
  techniques: [],
  attackVersion: '16.1',
};
const route: ResponderRoute = { kind: 'none', why: 'no agent' };
const event = { id: 'ev-1', host: { id: 'h1' } } as DetectionEvent;

function lookups(o: { settingsFail?: boolean; enrichFail?: boolean; routeFail?: boolean } = {}) {
  const asked: string[] = [];
  const a = createLookupActivities({
    playbookSettings: async () => {
      asked.push('settings');
      if (o.settingsFail) throw new Error('settings unreadable');
      return settings;
    },
    enrichEvent: async (ev) => {
      asked.push(`enrich ${ev.id}`);
      if (o.enrichFail) throw new Error('attack table gone');
      return enrichment;
    },
    findResponder: async (host) => {
      asked.push(`route ${host}`);
      if (o.routeFail) throw new Error('temporal unreachable');
      return route;
    },
  });
  return { a, asked };
}

describe('firstLookups', () => {
  it('answers the settings and each lookup asked, nothing more', async () => {
    const { a, asked } = lookups();
    expect(await a.firstLookups({ enrich: event, route: 'h1' })).toEqual({
      settings,
      enrichment: { ok: true, value: enrichment },
      route: { ok: true, value: route },
    });
    expect(asked.sort()).toEqual(['enrich ev-1', 'route h1', 'settings']);
    const only = lookups();
    expect(await only.a.firstLookups({})).toEqual({ settings });
    expect(only.asked).toEqual(['settings']);
  });

  it('answers a failed enrichment or route as a failed part (the step asks again with its own budget)', async () => {
    const { a } = lookups({ enrichFail: true, routeFail: true });
    expect(await a.firstLookups({ enrich: event, route: 'h1' })).toEqual({
      settings,
      enrichment: { ok: false, error: 'attack table gone' },
      route: { ok: false, error: 'temporal unreachable' },
    });
  });

  it('fails as a whole when the settings fail (retried by the local activity preset)', async () => {
    const { a } = lookups({ settingsFail: true });
    await expect(a.firstLookups({ enrich: event })).rejects.toThrow('settings unreadable');
  });
});

describe('firstLookups deciding ahead (the fifth up-front marker)', () => {
  const policy = (reserved: ReserveRequest[]) =>
    createPolicyActivities(PolicyEngine.load(join(repoRoot(), 'policies')), {
      reserve: async (r) => {
        reserved.push(r);
        return { granted: true, used: reserved.length, limit: 20 };
      },
    });
  const defaults = loadPlaybookSettings({});
  const malicious: Enrichment = {
    lineage: ['bash', 'nginx'],
    flags: ['reverse-shell-pattern', 'shell-spawned-by-service'],
    techniques: [{ id: 'T1059.004', known: true, tactics: ['execution'] }],
    attackVersion: '16.1',
  };
  const agent = (capture?: boolean): ResponderRoute => ({
    kind: 'agent',
    taskQueue: 'vigil-agent-h-ahead',
    live: true,
    agent: {
      hostId: 'h-ahead',
      version: '1',
      capabilities: ['suspend-process', 'isolate-host'],
      dryRunOnly: [],
      pid: 1,
      startedAt: '2026-11-27T00:00:00Z',
      ...(capture ? { capture: { maxSeconds: 30, maxCalls: 50_000, prefilter: false } } : {}),
    },
  });
  const shell = (patch: (o: Record<string, unknown>) => void = () => undefined) =>
    reverseShell('h-ahead', (d) => {
      d.output_fields['proc.pid'] = 4242;
      d.output_fields['proc.exepath'] = '/usr/bin/bash';
      patch(d.output_fields);
    }).event;
  const incident = (ev: DetectionEvent) => ({
    incidentId: 'inc-h-ahead-1',
    eventCount: 1,
    severity: ev.detection.severity,
    techniques: [...ev.detection.techniques],
  });
  const playbook = { name: 'suspicious-process', version: '1.0.0' };
  const ahead = (o: {
    settings?: PlaybookSettings;
    route?: ResponderRoute;
    enrichFail?: boolean;
    policyFails?: boolean;
  }) => {
    const reserved: ReserveRequest[] = [];
    const asked: string[] = [];
    const p = policy(reserved);
    const a = createLookupActivities({
      playbookSettings: async () => o.settings ?? defaults,
      enrichEvent: async () => {
        if (o.enrichFail) throw new Error('attack table gone');
        return malicious;
      },
      findResponder: async () => o.route ?? agent(),
      decideActions: async (r) => {
        asked.push('decideActions');
        if (o.policyFails) throw new Error('policy set unreadable');
        return p.decideActions(r);
      },
      decideAndReserve: async (r) => {
        asked.push('decideAndReserve');
        if (o.policyFails) throw new Error('policy set unreadable');
        return p.decideAndReserve(r);
      },
    });
    return { a, reserved, asked };
  };

  it('takes the decision and the slot the playbook would ask for, from the same rule set and request', async () => {
    const ev = shell();
    const { a, reserved, asked } = ahead({});
    const got = await a.firstLookups({
      enrich: ev,
      route: 'h-ahead',
      decide: { playbook, incident: incident(ev) },
    });
    expect(got.decided?.ok).toBe(true);
    const d = got.decided?.ok ? got.decided.value : null;
    // The request the playbook builds itself from the same rules (decideResponses, src/policy/plan.ts).
    const rules = evaluateRules(ev, malicious, defaults, 1, '2026-11-27T00:00:00Z');
    expect(rules.verdict).toBe('malicious');
    expect(d?.request).toEqual(policyRequest(ev, rules, incident(ev), playbook));
    expect(d?.request.proposed).toEqual(['suspend-process', 'isolate-host']);
    // One slot, for the low-blast-radius action the policy made automatic, under the playbook's own key.
    const key = `inc-h-ahead-1:suspend-process:${paramsDigest(paramsFor('suspend-process', ev))}`;
    expect(d?.reserve).toEqual([key]);
    expect(reserved.map((r) => r.key)).toEqual([key]);
    expect(asked).toEqual(['decideAndReserve']);
    expect(d?.answer.decisions.map((x) => `${x.action}:${x.disposition}`)).toEqual([
      'suspend-process:automatic',
      'isolate-host:approval',
    ]);
    expect(d?.answer.slots?.['suspend-process']).toMatchObject({ granted: true });
  });

  it('decides nothing ahead when the model will score first, in shadow mode, or on a failed lookup', async () => {
    const ev = shell();
    const cases: [string, Parameters<typeof ahead>[0], DetectionEvent][] = [
      ['a live agent that captures a window', { route: agent(true) }, ev],
      ['the event carries a window', {}, { ...ev, telemetry: { syscalls: Array(40).fill('read') } }],
      ['shadow mode', { settings: { ...defaults, shadowPlaybooks: ['suspicious-process'] } }, ev],
      ['the enrichment failed', { enrichFail: true }, ev],
    ];
    for (const [why, o, e] of cases) {
      const { a, reserved, asked } = ahead(o);
      const got = await a.firstLookups({
        enrich: e,
        route: 'h-ahead',
        decide: { playbook, incident: incident(e) },
      });
      expect(got.decided, why).toEqual({ ok: true, value: null });
      expect(reserved, why).toEqual([]);
      expect(asked, why).toEqual([]);
    }
  });

  it('decides without a slot when nothing could run at once, and answers a policy failure as a failed part', async () => {
    // No pid: isolation (approval) is proposed, nothing is reserved, and no route is needed.
    const ev = shell((o) => {
      delete o['proc.pid'];
    });
    const { a, reserved, asked } = ahead({});
    const got = await a.firstLookups({ enrich: ev, decide: { playbook, incident: incident(ev) } });
    const d = got.decided?.ok ? got.decided.value : undefined;
    expect(d?.request.proposed).toEqual(['isolate-host']);
    expect(d?.reserve).toEqual([]);
    expect(d?.answer.slots).toBeUndefined();
    expect(reserved).toEqual([]);
    expect(asked).toEqual(['decideActions']);

    const failing = ahead({ policyFails: true });
    const e2 = shell();
    expect(
      (
        await failing.a.firstLookups({
          enrich: e2,
          route: 'h-ahead',
          decide: { playbook, incident: incident(e2) },
        })
      ).decided,
    ).toEqual({ ok: false, error: 'policy set unreadable' });
  });
});
