/**
 * Lookups a playbook starts before it runs (workflow-safe): the incident calls `Playbook.lookupsAhead` for
 * the event that starts it, together with the settings lookup, so these local activities run side by side
 * in the first workflow task; the playbook's steps then take the answers instead of asking again. Each
 * answer is taken at most once, by the event id (enrichment) or the host (responder route). Module state
 * is per workflow run in the SDK's sandbox.
 */
import type { ResponderRoute } from '../../src/contracts/agent.js';
import type { DetectionEvent } from '../../src/events/detection-event.js';
import type { Enrichment } from '../../src/contracts/playbook.js';
import { enrichmentLookups, routingLookups } from './presets.js';

const enrichments = new Map<string, Promise<Enrichment>>();
const routes = new Map<string, Promise<ResponderRoute>>();

/** A promise started now and taken later: its failure is the taker's, never an unhandled rejection. */
function held<T>(p: Promise<T>): Promise<T> {
  p.catch(() => undefined);
  return p;
}

export function enrichAhead(ev: DetectionEvent): void {
  if (!enrichments.has(ev.id)) enrichments.set(ev.id, held(enrichmentLookups().enrichEvent(ev)));
}

export function routeAhead(host: string): void {
  if (!routes.has(host)) routes.set(host, held(routingLookups().findResponder(host)));
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
