/**
 * The automation control seen from activities: reserve a slot for an automatic action (kill switch and
 * budget), read the state, and change it on an operator's behalf.
 *
 * Reservations do not cost a round trip each. The playbook worker leases a few slots at once (one `lease`
 * Update; they count against the budget from then on) and hands them out from memory; it leases the next
 * block in the background before the last slot is gone, and gives back what it did not use when a lease
 * expires (LEASE_TTL_MS, at most half the budget's window, so a slot is never used after the window
 * stopped counting it). The kill switch is not leased: every grant carries the time the switch was last
 * seen released (`checkedAt`), and that sighting is at most KILL_SWITCH_REUSE_MS old or the reservation
 * asks the control first. `warm()` refreshes the sighting ahead of need (the route lookup calls it, so on
 * the automated path the question is asked beside the enrichment), and while route lookups or reservations
 * keep coming (KEEP_WARM_MS) the sighting is refreshed in the background, so none of them waits for it. The executor checks the switch again
 * unless the sighting is within KILL_SWITCH_FRESH_MS, as before.
 */
import { controlTaskQueue } from '../contracts/queues.js';
import { randomUUID } from 'node:crypto';
import { WithStartWorkflowOperation, WorkflowNotFoundError, type Client } from '@temporalio/client';
import {
  budgetUpdate,
  CONTROL_WORKFLOW,
  controlWorkflowId,
  controlQuery,
  killSwitchUpdate,
  leaseUpdate,
  releaseUpdate,
  type BudgetSettings,
  type ControlCarry,
  type ControlState,
  type KillSwitchState,
  type LeaseAnswer,
  type ReserveAnswer,
  type ReserveRequest,
} from '../contracts/automation.js';

/** Each call the lease makes to the control (lease, release, the kill-switch query) gives up after this. */
const CALL_DEADLINE_MS = 8_000;
/** A sighting of the kill switch reused by a reservation when no older than this. */
export const KILL_SWITCH_REUSE_MS = 250;
/**
 * While automatic actions are being asked for (a route lookup or a reservation within this long), the
 * sighting is kept fresh in the background, so a reservation finds one under KILL_SWITCH_REUSE_MS old
 * instead of waiting for a query (about 10-20 ms on a busy dev server, on the path to containment). After
 * that long without one, the refreshing stops: an idle worker asks nothing, and the first reservation after
 * it waits for one query.
 */
export const KEEP_WARM_MS = 30_000;
/** The sighting is asked again once it is this old (a tick of half that checks): under REUSE with the answer's way back. */
const REFRESH_AT_MS = 100;
/** How long a leased slot may be handed out (capped at half the budget's window). */
export const LEASE_TTL_MS = 30_000;
/** Slots per lease: a tenth of the budget, 1 to 16 (the default 20 per hour leases 2 at a time). */
export function leaseSize(limit: number): number {
  return Math.max(1, Math.min(16, Math.floor(limit / 10)));
}

export interface AutomationControl {
  reserve(req: ReserveRequest): Promise<ReserveAnswer>;
  /** Refresh the kill-switch sighting if it is getting old (never waits, never throws). */
  warm(): void;
  /** Give back the slots leased and not used (worker shutdown). */
  close(): Promise<void>;
  state(): Promise<ControlState>;
  killSwitch(): Promise<KillSwitchState>;
  setKillSwitch(s: { engaged: boolean; by: string; reason: string }): Promise<KillSwitchState>;
  setBudget(b: BudgetSettings & { by: string }): Promise<BudgetSettings>;
}

export function createAutomationControl(
  client: Client,
  opts: {
    taskQueue: string;
    budget: BudgetSettings;
    /** How long the sighting is kept fresh after the last route lookup or reservation (KEEP_WARM_MS). */
    keepWarmMs?: number;
  },
): AutomationControl {
  const keepWarmMs = opts.keepWarmMs ?? KEEP_WARM_MS;
  const start = () =>
    new WithStartWorkflowOperation(CONTROL_WORKFLOW, {
      workflowId: controlWorkflowId(opts.taskQueue),
      taskQueue: controlTaskQueue(opts.taskQueue),
      args: [
        {
          killSwitch: { engaged: false },
          budget: opts.budget,
          grants: [],
          history: [],
        } satisfies ControlCarry,
      ],
      workflowIdConflictPolicy: 'USE_EXISTING',
    });
  const handle = () => client.workflow.getHandle(controlWorkflowId(opts.taskQueue));
  const offState = (): ControlState => ({
    killSwitch: { engaged: false },
    budget: opts.budget,
    used: 0,
    history: [],
  });
  const state = async (): Promise<ControlState> => {
    try {
      return await handle().query(controlQuery);
    } catch (e) {
      // Never started: nobody engaged the switch and nothing was reserved.
      if (e instanceof WorkflowNotFoundError) return offState();
      throw e;
    }
  };
  const holder = randomUUID();
  let leaseSeq = 0;
  // The slots leased and not yet handed out, with the time they may be handed out until.
  let pool: { keys: string[]; until: number; limit: number; used: number } = {
    keys: [],
    until: 0,
    limit: 0,
    used: 0,
  };
  let leasing: Promise<LeaseAnswer> | undefined;
  const answered = new Map<string, ReserveAnswer>();
  // The kill switch as last seen, and when the question was sent.
  let sighting: { at: number; killSwitch: KillSwitchState } | undefined;
  let sighting$: Promise<{ at: number; killSwitch: KillSwitchState }> | undefined;
  // Slots per lease: from the budget the control answered with last (an admin may have changed it).
  const want = () => leaseSize(pool.limit || opts.budget.limit);
  let expiry: NodeJS.Timeout | undefined;
  // Keeping the sighting fresh while automatic actions are asked for (KEEP_WARM_MS).
  let lastUse = 0;
  let refresher: NodeJS.Timeout | undefined;

  const giveBack = async (keys: string[]) => {
    if (!keys.length) return;
    try {
      await client.withDeadline(Date.now() + CALL_DEADLINE_MS, () =>
        handle().executeUpdate(releaseUpdate, { args: [{ keys, at: new Date().toISOString() }] }),
      );
    } catch {
      // Not given back: they count until the window passes them (the budget errs on the safe side).
    }
  };
  const dropPool = (): Promise<void> => {
    const keys = pool.keys;
    pool = { ...pool, keys: [] };
    return giveBack(keys);
  };
  const observe = (): Promise<{ at: number; killSwitch: KillSwitchState }> => {
    sighting$ ??= (async () => {
      const at = Date.now();
      try {
        const st = await client.withDeadline(Date.now() + CALL_DEADLINE_MS, state);
        sighting = { at, killSwitch: st.killSwitch };
        // The budget changed (an admin lowered it): the leased slots go back, the next lease obeys it.
        // Given back before the answer, so a lease that follows is counted against the new budget alone.
        if (pool.keys.length && st.budget.limit !== pool.limit) await dropPool();
        return sighting;
      } finally {
        sighting$ = undefined;
      }
    })();
    return sighting$;
  };
  const lease = (): Promise<LeaseAnswer> => {
    leasing ??= (async () => {
      try {
        const at = Date.now();
        const answer = await client.withDeadline(Date.now() + CALL_DEADLINE_MS, () =>
          client.workflow.executeUpdateWithStart(leaseUpdate, {
            args: [
              {
                leaseId: `${holder}:${leaseSeq++}`,
                want: want(),
                at: new Date(at).toISOString(),
              },
            ],
            startWorkflowOperation: start(),
          }),
        );
        if (!answer.granted) {
          sighting = { at, killSwitch: answer.killSwitch };
          return answer;
        }
        const ttl = Math.min(LEASE_TTL_MS, (answer.windowSeconds * 1000) / 2);
        if (Date.now() >= pool.until) void dropPool();
        pool = {
          keys: [...pool.keys, ...answer.keys],
          until: at + ttl,
          limit: answer.limit,
          used: answer.used,
        };
        if (expiry) clearTimeout(expiry);
        expiry = setTimeout(() => void dropPool(), Math.max(0, pool.until - Date.now()));
        expiry.unref();
        return answer;
      } finally {
        leasing = undefined;
      }
    })();
    return leasing;
  };
  /** A slot; or the lease's refusal (kill switch); or, when the budget is spent, the lease's count. */
  const takeSlot = async (): Promise<
    | { key: string; used: number; limit: number }
    | Exclude<LeaseAnswer, { granted: true }>
    | { spent: Extract<LeaseAnswer, { granted: true }> }
  > => {
    // Bounded: a slot leased here can be taken by a concurrent reservation before this one looks again;
    // after three such losses the answer is "budget" (a person decides), the safe side.
    for (let attempt = 0; ; attempt++) {
      if (Date.now() >= pool.until) void dropPool();
      const key = pool.keys.shift();
      if (key) {
        // Lease the next block before this one runs out, off the automated path.
        if (pool.keys.length <= want() / 4 && !leasing) void lease().catch(() => undefined);
        return { key, used: pool.used - pool.keys.length, limit: pool.limit };
      }
      const answer = await lease();
      if (!answer.granted) return answer;
      if ((!answer.keys.length && !pool.keys.length) || attempt >= 2) return { spent: answer };
    }
  };
  const reserve = async (req: ReserveRequest): Promise<ReserveAnswer> => {
    const earlier = answered.get(req.key);
    if (earlier) return earlier;
    let seen = sighting;
    if (!seen || Date.now() - seen.at > KILL_SWITCH_REUSE_MS) seen = await observe();
    if (seen.killSwitch.engaged)
      return { granted: false, reason: 'kill-switch', killSwitch: seen.killSwitch };
    const slot = await takeSlot();
    if ('reason' in slot) return slot;
    let answer: ReserveAnswer;
    if ('spent' in slot) {
      const { used, limit, windowSeconds } = slot.spent;
      answer = { granted: false, reason: 'budget', used, limit, windowSeconds };
    } else {
      // A newer sighting (a concurrent warm() or lease) saw the switch engaged: the slot goes back unused.
      if (sighting?.killSwitch.engaged) {
        pool.keys.unshift(slot.key);
        return { granted: false, reason: 'kill-switch', killSwitch: sighting.killSwitch };
      }
      // checkedAt: when the question was sent, so the age the executor computes is never too short.
      answer = {
        granted: true,
        used: slot.used,
        limit: slot.limit,
        checkedAt: new Date(seen.at).toISOString(),
      };
    }
    if (answered.size >= 10_000) answered.clear();
    answered.set(req.key, answer);
    return answer;
  };
  const refresh = () => {
    if (!sighting$ && (!sighting || Date.now() - sighting.at >= REFRESH_AT_MS))
      void observe().catch(() => undefined);
  };
  const keepWarm = () => {
    lastUse = Date.now();
    if (refresher) return;
    refresher = setInterval(() => {
      if (Date.now() - lastUse <= keepWarmMs) return refresh();
      clearInterval(refresher);
      refresher = undefined;
    }, REFRESH_AT_MS / 2);
    refresher.unref();
  };
  return {
    reserve: (req) => {
      keepWarm();
      return reserve(req);
    },
    warm: () => {
      keepWarm();
      refresh();
    },
    close: async () => {
      if (expiry) clearTimeout(expiry);
      if (refresher) clearInterval(refresher);
      refresher = undefined;
      await dropPool();
    },
    state,
    killSwitch: async () => (await state()).killSwitch,
    setKillSwitch: (s) =>
      client.workflow.executeUpdateWithStart(killSwitchUpdate, {
        args: [{ ...s, at: new Date().toISOString() }],
        startWorkflowOperation: start(),
      }),
    setBudget: (b) =>
      client.workflow.executeUpdateWithStart(budgetUpdate, {
        args: [{ ...b, at: new Date().toISOString() }],
        startWorkflowOperation: start(),
      }),
  };
}

/**
 * The kill switch as an executor (agent, EDR worker) reads it: of the deployment that sent each action (its
 * playbook task queue), else the executor's own. Reservations are the playbook worker's, never an executor's.
 */
export function killSwitchReader(client: Client, defaultQueue: string) {
  const controls = new Map<string, AutomationControl>();
  return (queue = defaultQueue): Promise<KillSwitchState> => {
    let c = controls.get(queue);
    if (!c) {
      c = createAutomationControl(client, { taskQueue: queue, budget: { limit: 0, windowSeconds: 3600 } });
      controls.set(queue, c);
    }
    return c.killSwitch();
  };
}
