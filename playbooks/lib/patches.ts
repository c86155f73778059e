/**
 * The patches of the incident workflow and its playbooks, decided ONCE at the start of a run, before its
 * first local activity, by one marker (`patches-upfront-v1`) that stands for every patch listed here.
 *
 * Why: most steps on the way to a decision are local activities (./presets.ts), and a `patched()` call made
 * right after a local activity resolves is fragile. When that local activity straddled two workflow tasks
 * (a slow run under load), replay delivers its result in an activation that does not yet know the later
 * task's patch markers, `patched()` answers false, and the replay fails as nondeterministic ("patch marker
 * encountered ... but there is no corresponding change command", seen in test/replay.test.ts under load).
 * One marker at the start also keeps a run's history short: each patch marker costs a history event and an
 * upsert of the TemporalChangeVersion search attribute.
 *
 * Histories recorded before the up-front marker keep their markers where they were: replaying, the start's
 * call answers false without deciding (the SDK does not memoize a replayed miss), and `since(id)` asks for
 * `id` itself at the old place, as it always did.
 *
 * A patch added later is NOT implied by this marker (runs started on this build do not have its code): it is
 * listed under the second marker, `patches-upfront-v2`, which stands for every patch of both lists. A run
 * started on this build records only the second marker; replaying a run that recorded the first, the second
 * answers false (no marker there) and the first is asked at the same place as before, so its history replays
 * unchanged. Which marker a run started with is decided at the start and remembered for the run (module
 * state is per workflow in the SDK's sandbox), so the checks afterwards never call `patched()` on a marker
 * again: a run started with the first marker that goes on running on this build (an approval arrives after
 * a deploy) keeps the first list's code and never records the second marker in the middle of its history.
 * `sinceV2(id)` is the check for a patch of the second list. The third marker, `patches-upfront-v3`, works
 * the same way over the first two: it stands for every patch of the three lists, is asked first, and
 * `sinceV3(id)` checks a patch of its own list. The fourth, `patches-upfront-v4`, stands for all four lists
 * the same way; `sinceV4(id)` checks a patch of its own list; and the fifth, `patches-upfront-v5`, for all
 * five, with `sinceV5(id)`.
 */
import { patched } from '@temporalio/workflow';

const UPFRONT = 'patches-upfront-v1';
const UPFRONT_V2 = 'patches-upfront-v2';
const UPFRONT_V3 = 'patches-upfront-v3';
const UPFRONT_V4 = 'patches-upfront-v4';
const UPFRONT_V5 = 'patches-upfront-v5';

export const LOCAL_LOOKUPS = 'local-lookups-v1';

/** Every patch the up-front marker stands for. */
export const UPFRONT_PATCHES = [
  LOCAL_LOOKUPS,
  'policy-and-approvals-v1',
  'contain-first-v1',
  'containment-v1',
  'hold-ids-v2',
  'model-score-v1',
  'agent-capture-v1',
  'ticketing-v1',
  'webhook-channels-v1',
  'email-channel-v1',
] as const;
export type UpfrontPatch = (typeof UPFRONT_PATCHES)[number];

/**
 * Every patch the second up-front marker adds. Frozen like the first list: runs started with the second
 * marker have exactly this code, so a patch added later needs a third marker, asked first at the start
 * (`if (!patched(V3) && !patched(V2)) patched(V1)`) and first in every check.
 * The second marker adds:
 * - `local-enqueue-v1`: handing a notice to its channel's notifier is a local activity (one signal-with-start
 *   from the playbook worker inside the workflow task), not an activity task: no server round trip, and
 *   the approval request it precedes is scheduled in the same workflow task.
 * - `prefetch-route-v1`: for an event that names a pid, the suspicious-process playbook asks for the host's
 *   responder route as it starts, beside the enrichment (two local activities at once, not one after the
 *   other).
 */
export const UPFRONT_V2_PATCHES = ['local-enqueue-v1', 'prefetch-route-v1'] as const;
export type UpfrontV2Patch = (typeof UPFRONT_V2_PATCHES)[number];

/**
 * Every patch the third up-front marker adds (frozen like the others):
 * - `lookups-ahead-v1`: the incident starts its playbook's first lookups (the enrichment, and the responder
 *   route for an event that names a pid) together with the settings, so the three local activities run side
 *   by side instead of the settings first (`Playbook.lookupsAhead`, ./prefetch.ts).
 * - `decide-and-reserve-v1`: the policy decision and the automation slots for the low-blast-radius actions
 *   it makes automatic are one local activity (`decideAndReserve`), not two in a row.
 */
export const UPFRONT_V3_PATCHES = ['lookups-ahead-v1', 'decide-and-reserve-v1'] as const;
export type UpfrontV3Patch = (typeof UPFRONT_V3_PATCHES)[number];

/**
 * Every patch the fourth up-front marker adds (frozen like the others):
 * - `first-lookups-v1`: the settings and the lookups the playbook asks ahead are ONE local activity
 *   (`firstLookups`, activities/lookups), not three side by side: each local activity that resolves costs
 *   the workflow an activation of its own.
 */
export const UPFRONT_V4_PATCHES = ['first-lookups-v1'] as const;
export type UpfrontV4Patch = (typeof UPFRONT_V4_PATCHES)[number];

/**
 * Every patch the fifth up-front marker adds (frozen like the others):
 * - `decide-ahead-v1`: a playbook that asks for it (`decideAhead`, ./prefetch.ts) has its first event's
 *   policy decision, and the automation slots for the low-blast-radius actions it makes automatic, taken in
 *   the incident's first local activity, from the same rule set and the same request the playbook builds
 *   (src/policy/plan.ts). The playbook takes that answer when its own request and slots are the same, and
 *   asks `decideAndReserve` as before when they are not: one local activity, and one activation, fewer
 *   between the detection and the containment.
 * - `approval-ladder-absolute-v1`: the approval gate's reminder, escalation and deadline wait until their
 *   times after the request (workflow time), not each for its duration after the previous wait: after the
 *   worker or the server was down, the safe default applies at the recorded deadline's first chance instead
 *   of the whole ladder's length later (./approval-gate.ts).
 */
export const UPFRONT_V5_PATCHES = ['decide-ahead-v1', 'approval-ladder-absolute-v1'] as const;
export type UpfrontV5Patch = (typeof UPFRONT_V5_PATCHES)[number];

/** The marker this run started with, decided by decidePatchesUpFront (undefined before it is called). */
let startedWith: 'v5' | 'v4' | 'v3' | 'v2' | 'v1' | 'none' | undefined;

/** At the start of the run, before anything else that could yield (playbooks/incident.ts). */
export function decidePatchesUpFront(): void {
  startedWith = patched(UPFRONT_V5)
    ? 'v5'
    : patched(UPFRONT_V4)
      ? 'v4'
      : patched(UPFRONT_V3)
        ? 'v3'
        : patched(UPFRONT_V2)
          ? 'v2'
          : patched(UPFRONT)
            ? 'v1'
            : 'none';
}

/**
 * `patched(id)` for a listed patch: true for a run started with an up-front marker; for a run recorded before
 * them, as it always was (the first marker, then `id` itself, at the old place).
 */
export function since(id: UpfrontPatch): boolean {
  if (startedWith !== undefined && startedWith !== 'none') return true;
  return patched(UPFRONT) || patched(id);
}

/** A patch of the second list: true for a run started with the second marker or a later one. */
export function sinceV2(_id: UpfrontV2Patch): boolean {
  return startedWith === 'v5' || startedWith === 'v4' || startedWith === 'v3' || startedWith === 'v2';
}

/** A patch of the third list: true for a run started with the third marker or a later one. */
export function sinceV3(_id: UpfrontV3Patch): boolean {
  return startedWith === 'v5' || startedWith === 'v4' || startedWith === 'v3';
}

/** A patch of the fourth list: true for a run started with the fourth or fifth marker. */
export function sinceV4(_id: UpfrontV4Patch): boolean {
  return startedWith === 'v5' || startedWith === 'v4';
}

/** A patch of the fifth list: true only for a run started with the fifth marker. */
export function sinceV5(_id: UpfrontV5Patch): boolean {
  return startedWith === 'v5';
}
