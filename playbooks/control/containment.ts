/**
 * Workflow `containment`, id `containment-<incident>-<action>`: holds one applied, reversible containment
 * and undoes it. Trigger: started by the playbook (as an abandoned child, so it outlives the incident run)
 * right after the effect was verified. Flow: wait (durable timer) until `liftAt`, moved by `extend`
 * (analyst) or cut short by `release` (operator) -> undo on the executor that applied it. Without a time
 * limit (a suspended process, a quarantined file) it waits for a release up to `maxHoldMs`, then ends and
 * leaves the effect in place, recorded. Side effects: the undo (idempotent per hold).
 */
import {
  ActivityFailure,
  allHandlersFinished,
  ApplicationFailure,
  condition,
  patched,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import {
  containmentQuery,
  extendUpdate,
  MAX_EXTENSION_MS,
  releaseUpdate,
} from '../../src/contracts/containment.js';
import type {
  ContainmentHold,
  ContainmentState,
  ExtendRequest,
  ReleaseRequest,
} from '../../src/contracts/response.js';
import { ErrorType } from '../../src/errors.js';
import { describeFailure } from '../lib/failures.js';
import { executorActivities } from '../lib/presets.js';

/** Patch marker: an undo answered NotFound releases the hold (before: it stayed active, "undo failed"). */
export const UNDO_NOTHING_LEFT = 'containment-undo-nothing-left-v1';

export async function containment(hold: ContainmentHold): Promise<ContainmentState> {
  const state: ContainmentState = {
    ...hold,
    status: 'active',
    history: [{ at: hold.appliedAt, by: 'playbook', what: `${hold.action} applied on ${hold.host}` }],
  };
  let release: ReleaseRequest | undefined;
  let extensions = 0;
  let releases = 0;
  let undoneBy = 0;
  const mustBeActive = () => {
    if (state.status !== 'active') {
      throw ApplicationFailure.create({
        type: 'AlreadyDecided',
        message: `this containment is already ${state.status}`,
        nonRetryable: true,
      });
    }
  };
  setHandler(containmentQuery, () => state);
  setHandler(
    extendUpdate,
    (r) => {
      extensions++;
      state.liftAt = new Date(Date.now() + r.forMs).toISOString();
      state.history.push({
        at: new Date().toISOString(),
        by: r.operator,
        what: `extended until ${state.liftAt}: ${r.reason}`,
      });
      return state;
    },
    {
      validator: (r: ExtendRequest) => {
        mustBeActive();
        if (!r.operator || !r.reason) throw new Error('extend: operator and reason are required');
        if (!Number.isFinite(r.forMs) || r.forMs <= 0 || r.forMs > MAX_EXTENSION_MS) {
          throw new Error(`extend: forMs must be in (0, ${MAX_EXTENSION_MS}]`);
        }
        // Extending never shortens: an earlier lift, or a timer on a hold that had none, is a release in
        // disguise, which only a lead or an admin may do.
        const newLift = Date.now() + r.forMs;
        const shortens = state.liftAt === undefined || newLift < Date.parse(state.liftAt);
        if (shortens && r.role !== 'lead' && r.role !== 'admin') {
          throw ApplicationFailure.create({
            type: 'Forbidden',
            message: `extend would ${state.liftAt ? `move the lift from ${state.liftAt} earlier` : 'put a timer on a hold that has none'}: only a lead or an admin may shorten a containment`,
            nonRetryable: true,
          });
        }
      },
    },
  );
  setHandler(
    releaseUpdate,
    async (r) => {
      release = r;
      const attempt = ++releases;
      // Wait for this release's own undo, not an earlier one's failure.
      await condition(() => state.status !== 'active' || undoneBy >= attempt);
      return state;
    },
    {
      validator: (r: ReleaseRequest) => {
        mustBeActive();
        if (!r.operator || !r.reason) throw new Error('release: operator and reason are required');
      },
    },
  );

  const undo = async (by: string, why: string) => {
    try {
      state.undo = await executorActivities(hold.taskQueue, hold.scheduleToStartMs).executeContainment({
        request: {
          action: hold.action,
          op: 'undo',
          host: hold.host,
          params: hold.params,
          // Per hold run: a later hold with the same id (a re-applied effect) gets its own undo.
          idempotencyKey: `${workflowInfo().workflowId}:${workflowInfo().runId}:undo`,
          dryRun: false,
          incidentId: hold.incidentId,
          decidedAt: new Date().toISOString(),
        },
        mode: 'undo',
      });
      state.status = 'released';
      state.error = undefined;
      state.history.push({
        at: new Date().toISOString(),
        by,
        what: `${why}; undone: ${state.undo.verified}`,
      });
    } catch (e) {
      if (!(e instanceof ActivityFailure)) throw e;
      // NotFound from the agent's undo: nothing of the effect is left (the process and what was stopped with
      // it are gone, no block or lock or vault copy of ours is recorded). Released, not "still in place".
      // An EDR's 404 can also mean a wrong tenant or device id: that stays a failed undo for a person.
      if (
        hold.result.responder === 'agent' &&
        e.cause instanceof ApplicationFailure &&
        e.cause.type === ErrorType.NotFound &&
        patched(UNDO_NOTHING_LEFT)
      ) {
        state.status = 'released';
        state.error = undefined;
        state.history.push({
          at: new Date().toISOString(),
          by,
          what: `${why}; nothing left to undo: ${e.cause.message}`,
        });
        return;
      }
      state.error = describeFailure(e);
      state.history.push({
        at: new Date().toISOString(),
        by,
        what: `${why}; the undo FAILED (${state.error}): the effect is still in place, release it again`,
      });
      // Stay active without a timer: a person decides what happens next.
      state.liftAt = undefined;
    }
  };

  const endBy = Date.parse(hold.appliedAt) + hold.maxHoldMs;
  while (state.status === 'active') {
    const seen = extensions;
    const until = Math.min(state.liftAt ? Date.parse(state.liftAt) : endBy, endBy);
    await condition(() => release !== undefined || extensions !== seen, Math.max(1, until - Date.now()));
    if (release) {
      const r = release;
      release = undefined;
      const upTo = releases;
      await undo(r.operator, `released by ${r.operator} (${r.role}): ${r.reason}`);
      undoneBy = upTo;
      continue;
    }
    if (extensions !== seen) continue;
    if (state.liftAt && Date.now() >= Date.parse(state.liftAt)) {
      await undo('timer', `time limit reached (${state.liftAt})`);
    } else if (Date.now() >= endBy) {
      state.status = 'abandoned';
      state.history.push({
        at: new Date().toISOString(),
        by: 'timer',
        what: `held for the maximum of ${Math.round(hold.maxHoldMs / 3600_000)} h; the effect stays in place`,
      });
    }
  }
  await condition(allHandlersFinished);
  return state;
}
