/**
 * Workflow `automationControl`, id `vigil-automation-control-<playbook task queue>`: the kill switch and the automation budget.
 * Trigger: update-with-start from the first reservation or operator command. Flow: answer `reserve`
 * (granted, refused by the kill switch, or over budget), `lease` (a playbook worker's block of slots) and
 * `release` (its unused slots given back), `setKillSwitch`, `setBudget`; continue-as-new
 * after many updates. Side effects: none (it only answers; the callers act on the answer).
 */
import { allHandlersFinished, condition, continueAsNew, setHandler } from '@temporalio/workflow';
import {
  budgetUpdate,
  controlQuery,
  killSwitchUpdate,
  leaseUpdate,
  releaseUpdate,
  reserveUpdate,
  type BudgetSettings,
  type ControlCarry,
  type LeaseRequest,
  type ReserveRequest,
} from '../../src/contracts/automation.js';

const MAX_UPDATES_PER_RUN = 2000;

export async function automationControl(carry: ControlCarry): Promise<void> {
  const state: ControlCarry = { ...carry, grants: [...carry.grants], history: [...carry.history] };
  let updates = 0;
  const prune = (now: number) => {
    const from = now - state.budget.windowSeconds * 1000;
    while (state.grants.length && (state.grants[0]?.at ?? 0) <= from) state.grants.shift();
  };
  const remember = (by: string, at: string, change: string) => {
    state.history.push({ at, by, change });
    if (state.history.length > 100) state.history.shift();
  };
  // One slot per Update: what playbook workers of builds before the lease still send (a rolling deploy).
  setHandler(
    reserveUpdate,
    (req) => {
      updates++;
      const now = Date.parse(req.at) || Date.now();
      prune(now);
      if (state.killSwitch.engaged) {
        return { granted: false, reason: 'kill-switch', killSwitch: state.killSwitch };
      }
      if (state.grants.some((g) => g.key === req.key)) {
        return { granted: true, used: state.grants.length, limit: state.budget.limit };
      }
      if (state.grants.length >= state.budget.limit) {
        return {
          granted: false,
          reason: 'budget',
          used: state.grants.length,
          limit: state.budget.limit,
          windowSeconds: state.budget.windowSeconds,
        };
      }
      state.grants.push({ at: now, key: req.key });
      return { granted: true, used: state.grants.length, limit: state.budget.limit };
    },
    {
      validator: (req: ReserveRequest) => {
        if (!req.key || !req.incidentId || !req.action)
          throw new Error('reserve: key, incidentId and action are required');
      },
    },
  );
  // A worker's lease of up to `want` slots: granted from what is left of the budget, each slot a grant of
  // its own (so it counts until the window passes it, or until it is given back unused).
  const MAX_LEASE = 64;
  setHandler(
    leaseUpdate,
    (req) => {
      updates++;
      const now = Date.parse(req.at) || Date.now();
      prune(now);
      if (state.killSwitch.engaged)
        return { granted: false, reason: 'kill-switch', killSwitch: state.killSwitch };
      const prefix = `lease:${req.leaseId}:`;
      let keys = state.grants.filter((g) => g.key.startsWith(prefix)).map((g) => g.key);
      if (!keys.length) {
        const n = Math.max(0, Math.min(req.want, MAX_LEASE, state.budget.limit - state.grants.length));
        keys = Array.from({ length: n }, (_, i) => `${prefix}${i}`);
        for (const key of keys) state.grants.push({ at: now, key });
      }
      return {
        granted: true,
        keys,
        used: state.grants.length,
        limit: state.budget.limit,
        windowSeconds: state.budget.windowSeconds,
      };
    },
    {
      validator: (req: LeaseRequest) => {
        if (!req.leaseId || !Number.isInteger(req.want) || req.want < 1)
          throw new Error('lease: leaseId and a whole want >= 1 are required');
      },
    },
  );
  setHandler(
    releaseUpdate,
    (req) => {
      updates++;
      const given = new Set(req.keys.filter((k) => k.startsWith('lease:')));
      const before = state.grants.length;
      state.grants = state.grants.filter((g) => !given.has(g.key));
      return before - state.grants.length;
    },
    {
      validator: (req: { keys: string[] }) => {
        if (!Array.isArray(req.keys)) throw new Error('release: keys are required');
      },
    },
  );
  setHandler(
    killSwitchUpdate,
    (s) => {
      updates++;
      state.killSwitch = s.engaged
        ? { engaged: true, by: s.by, at: s.at, reason: s.reason }
        : { engaged: false, by: s.by, at: s.at, reason: s.reason };
      remember(s.by, s.at, `kill switch ${s.engaged ? 'ENGAGED' : 'released'}: ${s.reason}`);
      return state.killSwitch;
    },
    {
      validator: (s: { by: string; reason: string }) => {
        if (!s.by || !s.reason) throw new Error('setKillSwitch: operator and reason are required');
      },
    },
  );
  setHandler(
    budgetUpdate,
    (b) => {
      updates++;
      state.budget = { limit: b.limit, windowSeconds: b.windowSeconds };
      remember(b.by, b.at, `budget set to ${b.limit} per ${b.windowSeconds}s`);
      return state.budget;
    },
    {
      validator: (b: BudgetSettings) => {
        if (!Number.isInteger(b.limit) || b.limit < 0)
          throw new Error('setBudget: limit must be an integer >= 0');
        if (!Number.isInteger(b.windowSeconds) || b.windowSeconds < 1)
          throw new Error('setBudget: windowSeconds must be an integer >= 1');
      },
    },
  );
  setHandler(controlQuery, () => {
    prune(Date.now());
    return {
      killSwitch: state.killSwitch,
      budget: state.budget,
      used: state.grants.length,
      history: state.history,
    };
  });
  await condition(() => updates >= MAX_UPDATES_PER_RUN);
  await condition(allHandlersFinished);
  await continueAsNew<typeof automationControl>(state);
}
