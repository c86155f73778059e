/** firstLookups: the settings and the lookups asked ahead, side by side, each failure where it belongs. */
import { describe, expect, it } from 'vitest';
import type { ResponderRoute } from '../../src/contracts/agent.js';
import type { Enrichment, PlaybookSettings } from '../../src/contracts/playbook.js';
import type { DetectionEvent } from '../../src/events/detection-event.js';
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
