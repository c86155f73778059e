/** The executor activity's kill-switch rule, with our own responder interface faked (STYLE: unit tests). */
import { ApplicationFailure } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { KILL_SWITCH_FRESH_MS, type Responder, type ResponseResult } from '../../src/contracts/response.js';
import { createExecutorActivities } from './index.js';

function fakeResponder(knownKeys: string[]) {
  const calls: string[] = [];
  const responder: Responder = {
    name: 'agent',
    execute: async (r) => {
      calls.push(r.idempotencyKey);
      return {
        action: r.action,
        op: r.op,
        host: r.host,
        status: 'applied',
        already: knownKeys.includes(r.idempotencyKey),
        responder: 'agent',
        plan: [],
        verified: '/proc/1/stat state T',
        effect: {},
        at: new Date().toISOString(),
      } satisfies ResponseResult;
    },
    known: (key) => knownKeys.includes(key),
    close: () => undefined,
  };
  return { responder, calls };
}

const request = (key: string) => ({
  action: 'suspend-process' as const,
  op: 'apply' as const,
  host: 'h1',
  params: { pid: 4242 },
  idempotencyKey: key,
  dryRun: false,
  incidentId: 'inc-1',
});
const engaged = async () => ({ engaged: true, by: 'lead-1', at: '2026-11-26T10:00:00Z', reason: 'storm' });

describe('executeContainment and the kill switch', () => {
  it('refuses a new automatic action while the kill switch is engaged, without touching the host', async () => {
    const { responder, calls } = fakeResponder([]);
    const a = createExecutorActivities({ responder, killSwitch: engaged });
    const e = await a
      .executeContainment({ request: request('key-new-0001'), mode: 'automatic' })
      .catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ApplicationFailure);
    expect((e as ApplicationFailure).type).toBe('Forbidden');
    expect(calls).toEqual([]);
  });

  it('finishes an automatic action an earlier attempt began, even after the switch was engaged', async () => {
    const { responder, calls } = fakeResponder(['key-begun-0001']);
    const a = createExecutorActivities({ responder, killSwitch: engaged });
    const r = await a.executeContainment({ request: request('key-begun-0001'), mode: 'automatic' });
    expect(r.status).toBe('applied');
    expect(calls).toEqual(['key-begun-0001']);
  });

  it('runs approved actions and undos whatever the switch says', async () => {
    const { responder, calls } = fakeResponder([]);
    const a = createExecutorActivities({ responder, killSwitch: engaged });
    await a.executeContainment({
      request: request('key-appr-0001'),
      mode: 'approved',
      approvalId: 'isolate-host-1',
    });
    await a.executeContainment({ request: { ...request('key-undo-0001'), op: 'undo' }, mode: 'undo' });
    expect(calls).toEqual(['key-appr-0001', 'key-undo-0001']);
  });

  it('trusts a slot grant checked within KILL_SWITCH_FRESH_MS, and asks the control for anything older or from the future', async () => {
    const { responder, calls } = fakeResponder([]);
    let asked = 0;
    const a = createExecutorActivities({
      responder,
      killSwitch: async () => {
        asked += 1;
        return engaged();
      },
    });
    const at = (ageMs: number) => new Date(Date.now() - ageMs).toISOString();
    const r = await a.executeContainment({
      request: request('key-fresh-0001'),
      mode: 'automatic',
      killSwitchCheckedAt: at(50),
    });
    expect(r.status).toBe('applied');
    expect(asked).toBe(0);
    for (const [i, age] of [KILL_SWITCH_FRESH_MS + 200, -5_000].entries()) {
      const e = await a
        .executeContainment({
          request: request(`key-stale-000${i}`),
          mode: 'automatic',
          killSwitchCheckedAt: at(age),
        })
        .catch((x: unknown) => x);
      expect((e as ApplicationFailure).type).toBe('Forbidden');
    }
    expect(asked).toBe(2);
    expect(calls).toEqual(['key-fresh-0001']);
  });
});
