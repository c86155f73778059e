/**
 * Lookups a playbook starts before it runs (workflow-safe): the incident calls `Playbook.lookupsAhead` for
 * the event that starts it, together with the settings lookup, so these local activities run side by side
 * in the first workflow task; the playbook's steps then take the answers instead of asking again. Each
 * answer is taken at most once, by the event id (enrichment) or the host (responder route). Module state
 * is per workflow run in the SDK's sandbox.
 *
 * Since the fourth up-front marker, the incident asks these in its first local activity (`firstLookups`,
 * with the settings): `collectAhead` runs `lookupsAhead` to learn what it wants instead of starting local
 * activities, and `provideAhead` hands the answers to the takers. A part that failed there is not provided:
 * its taker asks again with that lookup's own activity and retry budget.
 *
 * Since the fifth, a playbook can also ask for its first decision ahead (`decideAhead`): the same local
 * activity runs the rule set and asks the policy (activities/lookups). `decidedAhead` hands that answer to
 * `decideResponses` only for the very request and slots it would ask for itself.
 */
import type { ResponderRoute } from '../../src/contracts/agent.js';
import type { DetectionEvent } from '../../src/events/detection-event.js';
import type {
  DecideAheadRequest,
  DecidedAhead,
  Enrichment,
  FirstLookups,
  FirstLookupsRequest,
} from '../../src/contracts/playbook.js';
import type { DecisionRequest } from '../../src/policy/actions.js';
import { enrichmentLookups, routingLookups } from './presets.js';

const enrichments = new Map<string, Promise<Enrichment>>();
const routes = new Map<string, Promise<ResponderRoute>>();

/** A promise started now and taken later: its failure is the taker's, never an unhandled rejection. */
function held<T>(p: Promise<T>): Promise<T> {
  p.catch(() => undefined);
  return p;
}

/** Set while `collectAhead` runs: what the playbook wants ahead, asked later in one local activity. */
let wanted: FirstLookupsRequest | undefined;

export function enrichAhead(ev: DetectionEvent): void {
  if (wanted) wanted.enrich = ev;
  else if (!enrichments.has(ev.id)) enrichments.set(ev.id, held(enrichmentLookups().enrichEvent(ev)));
}

export function routeAhead(host: string): void {
  if (wanted) wanted.route = host;
  else if (!routes.has(host)) routes.set(host, held(routingLookups().findResponder(host)));
}

/** Set while `collectAhead` runs for a run that decides ahead: what the incident has absorbed. */
let deciding: DecideAheadRequest['incident'] | undefined;

/**
 * Ask for the first event's decision ahead, as `playbook` (its name and version, as it passes them to
 * `decideResponses`). Only inside `collectAhead` for a run that decides ahead; elsewhere a no-op.
 */
export function decideAhead(playbook: { name: string; version: string }): void {
  if (wanted && deciding) wanted.decide = { playbook, incident: deciding };
}

/**
 * What `ahead` (a playbook's lookupsAhead) wants, without starting anything. `incident`: what the incident
 * has absorbed, for a run that decides ahead (the fifth up-front marker); without it nothing is decided ahead.
 */
export function collectAhead(
  ahead: () => void,
  incident?: DecideAheadRequest['incident'],
): FirstLookupsRequest {
  const want: FirstLookupsRequest = {};
  wanted = want;
  deciding = incident;
  try {
    ahead();
  } finally {
    wanted = undefined;
    deciding = undefined;
  }
  // Deciding ahead needs the enriched event.
  if (want.decide && !want.enrich) delete want.decide;
  return want;
}

/** The decision taken ahead, with the workflow time it was asked at (once). */
let decided: { ahead: DecidedAhead; askedAt: string } | undefined;

/**
 * The answers of `firstLookups` for the takers; a failed part is left for its taker to ask again. `askedAt`:
 * the workflow time before the local activity was asked (the slots' kill-switch check is no later).
 */
export function provideAhead(want: FirstLookupsRequest, got: FirstLookups, askedAt: string): void {
  if (want.enrich && got.enrichment?.ok)
    enrichments.set(want.enrich.id, Promise.resolve(got.enrichment.value));
  if (want.route && got.route?.ok) routes.set(want.route, Promise.resolve(got.route.value));
  if (want.decide && got.decided?.ok && got.decided.value) decided = { ahead: got.decided.value, askedAt };
}

/**
 * The decision taken ahead, when it answers exactly this request and these slots (once): else undefined,
 * and the caller asks the decision step itself. `why` tells a mismatch apart from nothing decided ahead.
 */
export function decidedAhead(
  request: DecisionRequest,
  reserveKeys: string[],
): { ahead: DecidedAhead; askedAt: string } | { why?: string } {
  const d = decided;
  decided = undefined;
  if (!d) return {};
  if (JSON.stringify(d.ahead.request) !== JSON.stringify(request))
    return { why: "the request decided ahead differs from the playbook's" };
  if (JSON.stringify(d.ahead.reserve) !== JSON.stringify(reserveKeys))
    return { why: "the slots reserved ahead differ from the playbook's" };
  return d;
}

/** The enrichment started ahead for this event, if any (once). */
export function enrichedAhead(ev: DetectionEvent): Promise<Enrichment> | undefined {
  const p = enrichments.get(ev.id);
  enrichments.delete(ev.id);
  return p;
}

/** The responder route started ahead for this host, if any (once). */
export function routedAhead(host: string): Promise<ResponderRoute> | undefined {
  const p = routes.get(host);
  routes.delete(host);
  return p;
}
