/**
 * Every patch id the incident workflow and its playbooks branch on, decided ONCE at the start of a run,
 * before its first local activity.
 *
 * Why: most steps on the way to a decision are local activities (./presets.ts), and a `patched()` call made
 * right after a local activity resolves is fragile. When that local activity straddled two workflow tasks
 * (a slow run under load), replay delivers its result in an activation that does not yet know the later
 * task's patch markers, `patched()` answers false, and the replay fails as nondeterministic ("patch marker
 * encountered ... but there is no corresponding change command", seen in test/replay.test.ts under load).
 * Decided here, a new run records every marker in its first workflow task, and later calls return the
 * memoized answer without a command.
 *
 * Histories recorded before this list existed keep their markers where they were: replaying, the calls
 * here answer false without deciding (the SDK does not memoize a replayed miss), and the call at the old
 * place answers as it always did.
 */
import { patched } from '@temporalio/workflow';

export const LOCAL_LOOKUPS = 'local-lookups-v1';

export const INCIDENT_PATCHES = [
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

export function decidePatchesUpFront(): void {
  for (const id of INCIDENT_PATCHES) patched(id);
}
