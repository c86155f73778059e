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
 */
import type { ResponderRoute } from '../../src/contracts/agent.js';
import type { DetectionEvent } from '../../src/events/detection-event.js';
import type { Enrichment, FirstLookups, FirstLookupsRequest } from '../../src/contracts/playbook.js';
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

/** What `ahead` (a playbook's lookupsAhead) wants, without starting anything. */
export function collectAhead(ahead: () => void): FirstLookupsRequest {
  const want: FirstLookupsRequest = {};
  wanted = want;
  try {
    ahead();
  } finally {
    wanted = undefined;
  }
  return want;
}

/** The answers of `firstLookups` for the takers; a failed part is left for its taker to ask again. */
export function provideAhead(want: FirstLookupsRequest, got: FirstLookups): void {
  if (want.enrich && got.enrichment?.ok)
    enrichments.set(want.enrich.id, Promise.resolve(got.enrichment.value));
  if (want.route && got.route?.ok) routes.set(want.route, Promise.resolve(got.route.value));
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
