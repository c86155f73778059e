/**
 * The automation control's leases, against a real Temporal server and the real playbook worker (which runs
 * the control workflow): reservations are handed out from a block of leased slots that counts against the
 * budget, a retried reservation gets the same answer, the budget still refuses once spent, unused slots go
 * back when the lease ends, an engaged kill switch refuses reservations although slots are still leased,
 * and a grant says when the switch was last seen released.
 */
import { describe, expect, it } from 'vitest';
import { createAutomationControl, KILL_SWITCH_REUSE_MS, leaseSize } from '../src/control/automation.js';
import type { ReserveRequest } from '../src/contracts/automation.js';
import { clientAndSmtp, startWorker, uniqueQueue, workerEnv } from './helpers/temporal.js';

const env = clientAndSmtp();

const req = (n: number): ReserveRequest => ({
  key: `inc-${n}:suspend-process:abc`,
  incidentId: `inc-${n}`,
  action: 'suspend-process',
  host: 'h1',
  at: new Date().toISOString(),
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A playbook worker (it runs the control workflow) on its own queue; ours leases, the operator changes. */
async function withControl(
  name: string,
  budget: { limit: number; windowSeconds: number },
  fn: (c: {
    ours: ReturnType<typeof createAutomationControl>;
    operator: ReturnType<typeof createAutomationControl>;
  }) => Promise<void>,
) {
  const queue = uniqueQueue(name);
  const worker = await startWorker(workerEnv(env.smtp.port, queue));
  const ours = createAutomationControl(env.client, { taskQueue: queue, budget });
  const operator = createAutomationControl(env.client, { taskQueue: queue, budget });
  try {
    await fn({ ours, operator });
  } finally {
    await operator
      .setKillSwitch({ engaged: false, by: 'lead-1', reason: 'test over' })
      .catch(() => undefined);
    await ours.close();
    await worker.stop();
  }
}

describe('automation leases', () => {
  it('sizes leases from the budget', () => {
    expect(leaseSize(0)).toBe(1);
    expect(leaseSize(20)).toBe(2);
    expect(leaseSize(40)).toBe(4);
    expect(leaseSize(100_000)).toBe(16);
  });

  it('hands out leased slots, answers a retry the same, and refuses once the budget is spent', () =>
    withControl('lease', { limit: 6, windowSeconds: 3600 }, async ({ ours, operator }) => {
      const first = await ours.reserve(req(1));
      expect(first).toMatchObject({ granted: true, limit: 6 });
      // Leases of leaseSize(6) = 1 slot, the next one leased ahead of need.
      expect(await ours.reserve(req(1))).toEqual(first);
      const answers = [];
      for (let n = 2; n <= 7; n++) answers.push(await ours.reserve(req(n)));
      expect(answers.slice(0, 5).every((a) => a.granted)).toBe(true);
      expect(answers[5]).toMatchObject({ granted: false, reason: 'budget', used: 6, limit: 6 });
      expect((await operator.state()).used).toBe(6);
    }));

  // A 10 s window: a lease may be handed out for 5 s at most.
  it('gives unused leased slots back on close and when the lease expires', () =>
    withControl('lease-back', { limit: 40, windowSeconds: 10 }, async ({ ours, operator }) => {
      expect(await ours.reserve(req(1))).toMatchObject({ granted: true });
      // leaseSize(40) = 4 slots leased, 1 handed out.
      expect((await operator.state()).used).toBeGreaterThanOrEqual(leaseSize(40));
      await sleep(5500);
      // Expired: the unused slots went back; only the one used still counts, inside its window.
      expect((await operator.state()).used).toBe(1);
      expect(await ours.reserve(req(2))).toMatchObject({ granted: true });
      await ours.close();
      expect((await operator.state()).used).toBe(2);
    }));

  it('refuses while the kill switch is engaged although slots are still leased, and dates each grant by the switch', () =>
    withControl('lease-ks', { limit: 100, windowSeconds: 3600 }, async ({ ours, operator }) => {
      const before = Date.now();
      const granted = await ours.reserve(req(1));
      expect(granted).toMatchObject({ granted: true });
      const checkedAt = granted.granted ? Date.parse(granted.checkedAt ?? '') : NaN;
      expect(checkedAt).toBeGreaterThanOrEqual(before);
      expect(checkedAt).toBeLessThanOrEqual(Date.now());
      await operator.setKillSwitch({ engaged: true, by: 'lead-1', reason: 'test' });
      await sleep(KILL_SWITCH_REUSE_MS + 50);
      expect(await ours.reserve(req(2))).toMatchObject({ granted: false, reason: 'kill-switch' });
      await operator.setKillSwitch({ engaged: false, by: 'lead-1', reason: 'test over' });
      // warm() asks ahead: the next reservation uses that sighting, so its grant is dated before it.
      await sleep(KILL_SWITCH_REUSE_MS + 50);
      ours.warm();
      await sleep(100);
      const t = Date.now();
      const again = await ours.reserve(req(3));
      expect(again).toMatchObject({ granted: true });
      expect(again.granted && Date.parse(again.checkedAt ?? '')).toBeLessThan(t);
    }));

  it('keeps the kill-switch sighting fresh while reservations keep coming, and stops asking when they stop', async () => {
    const queue = uniqueQueue('lease-warm');
    const worker = await startWorker(workerEnv(env.smtp.port, queue));
    const budget = { limit: 100, windowSeconds: 3600 };
    const ours = createAutomationControl(env.client, { taskQueue: queue, budget, keepWarmMs: 1500 });
    const checked = (a: Awaited<ReturnType<typeof ours.reserve>>) =>
      a.granted ? Date.parse(a.checkedAt ?? '') : NaN;
    try {
      expect(await ours.reserve(req(1))).toMatchObject({ granted: true });
      // Kept fresh in the background: a reservation well past KILL_SWITCH_REUSE_MS finds a sighting that
      // was asked before it and is still young enough, so it does not wait for a query of its own.
      for (let n = 2; n <= 4; n++) {
        await sleep(KILL_SWITCH_REUSE_MS * 2);
        const t = Date.now();
        const a = await ours.reserve(req(n));
        expect(checked(a)).toBeLessThan(t);
        expect(t - checked(a)).toBeLessThanOrEqual(KILL_SWITCH_REUSE_MS);
      }
      // Quiet for longer than keepWarmMs: nothing is asked any more, so the next reservation asks itself.
      await sleep(2500);
      const t = Date.now();
      expect(checked(await ours.reserve(req(5)))).toBeGreaterThanOrEqual(t);
    } finally {
      await ours.close();
      await worker.stop();
    }
  });

  it('drops its leased slots when an admin changes the budget', () =>
    withControl('lease-budget', { limit: 100, windowSeconds: 3600 }, async ({ ours, operator }) => {
      expect(await ours.reserve(req(1))).toMatchObject({ granted: true });
      await operator.setBudget({ limit: 1, windowSeconds: 3600, by: 'admin-1' });
      await sleep(KILL_SWITCH_REUSE_MS + 50);
      // The sighting shows the new budget: the leased slots go back and the next lease gets none.
      expect(await ours.reserve(req(2))).toMatchObject({ granted: false, reason: 'budget', limit: 1 });
      expect((await operator.state()).used).toBe(1);
    }));
});
