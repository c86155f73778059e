/**
 * An incident's first lookups in ONE local activity (`firstLookups`): the playbook settings, and what the
 * playbook asks ahead for its first event (the enrichment; the responder route of a host for an event that
 * names a pid). Each local activity that resolves costs the workflow an activation of its own (6-18 ms on
 * the benchmark's machine, more than the lookups themselves); asked together they cost one.
 *
 * Only the settings can fail the whole: the incident cannot go on without them, so their failure is this
 * activity's (retried by its preset). A failed enrichment or route is answered as a failed part: the
 * playbook then asks for it again with that lookup's own activity and retry budget, as it did before the
 * lookups were combined, so a passing fault is retried the same way.
 *
 * Deciding ahead (the fifth up-front marker; a playbook asks with `decideAhead`): with the settings, the
 * enrichment and the route in hand, this activity runs the rule set on the first event as the playbook will,
 * builds the same policy request and slot reservations (src/policy/plan.ts) and asks the decision step
 * (`decideAndReserve`, or `decideActions` when there is no slot to reserve). The playbook takes the answer
 * when its own request and slots are the same, else asks again: one local activity fewer on the way to
 * containment. Nothing is decided ahead when the model will score the event first (its own syscall window,
 * or a capture from the host's agent), in shadow mode, or when a lookup it needs failed. A slot reserved
 * here for a request the playbook then does not make stays counted against the budget (the safe side:
 * later actions need approval sooner); the same request asked again gets the same slot (the reservation's
 * key is stable).
 */
import type { ResponderRoute } from '../../src/contracts/agent.js';
import type {
  DecideAheadRequest,
  DecidedAhead,
  Enrichment,
  FirstLookups,
  FirstLookupsRequest,
  LookupPart,
  PlaybookSettings,
} from '../../src/contracts/playbook.js';
import type { DetectionEvent } from '../../src/events/detection-event.js';
import { evaluateRules } from '../../src/policy/rules.js';
import {
  automaticCandidates,
  capturesFor,
  carriesWindow,
  modelWillScore,
  policyRequest,
  slotRequests,
} from '../../src/policy/plan.js';
import type { DecisionRequest, PolicyDecision } from '../../src/policy/actions.js';
import type { DecideAndReserveInput, DecidedAndReserved } from '../policy/index.js';

/** A lookup's answer, or its failure as data (the what-if engine answers the same way). */
export async function lookupPart<T>(ask: () => Promise<T>): Promise<LookupPart<T>> {
  try {
    return { ok: true, value: await ask() };
  } catch (e) {
    return { ok: false, error: e instanceof Error ? e.message : String(e) };
  }
}

export function createLookupActivities(deps: {
  playbookSettings(): Promise<PlaybookSettings>;
  enrichEvent(ev: DetectionEvent): Promise<Enrichment>;
  findResponder(host: string): Promise<ResponderRoute>;
  /** The decision step's activities (activities/policy), for deciding ahead; absent: never decided ahead. */
  decideActions?(req: DecisionRequest): Promise<PolicyDecision>;
  decideAndReserve?(input: DecideAndReserveInput): Promise<DecidedAndReserved>;
}) {
  /** The playbook's first decision, taken here (see above); null when there is nothing to take ahead. */
  const decideAhead = async (
    d: DecideAheadRequest,
    ev: DetectionEvent,
    settings: PlaybookSettings,
    enrichment: Enrichment,
    /** The host's route when it was asked ahead too (needed for a capture or a slot). */
    route: ResponderRoute | undefined,
  ): Promise<DecidedAhead | null> => {
    if (!deps.decideActions || !deps.decideAndReserve) return null;
    if (settings.shadowPlaybooks?.includes(d.playbook.name)) return null;
    // The model scores first (the score is not known here), or the route to tell is missing.
    if (route ? modelWillScore(ev, settings, route) : carriesWindow(ev) || capturesFor(ev, settings))
      return null;
    const now = new Date().toISOString();
    const rules = evaluateRules(ev, enrichment, settings, d.incident.eventCount, now);
    const request = policyRequest(ev, rules, d.incident, d.playbook);
    if (!request) return null;
    const candidates = automaticCandidates(request.proposed, ev);
    if (candidates.length && !route) return null;
    const reserve = route ? slotRequests(ev, candidates, d.incident.incidentId, route, now) : [];
    const answer = reserve.length
      ? await deps.decideAndReserve({ request, reserve })
      : await deps.decideActions(request);
    return { request, reserve: reserve.map((r) => r.key), answer };
  };
  return {
    async firstLookups(req: FirstLookupsRequest): Promise<FirstLookups> {
      const { enrich, route, decide } = req;
      // Side by side in this worker; the settings' failure is the activity's, the others' are parts.
      const [settings, enrichment, responder] = await Promise.all([
        deps.playbookSettings(),
        enrich ? lookupPart(() => deps.enrichEvent(enrich)) : undefined,
        route ? lookupPart(() => deps.findResponder(route)) : undefined,
      ]);
      // Decided ahead only on the lookups it needs: a failed one is asked again by the playbook.
      const decided =
        decide && enrich
          ? enrichment?.ok && responder?.ok !== false
            ? await lookupPart(() =>
                decideAhead(decide, enrich, settings, enrichment.value, responder?.value),
              )
            : { ok: true as const, value: null }
          : undefined;
      return {
        settings,
        ...(enrichment ? { enrichment } : {}),
        ...(responder ? { route: responder } : {}),
        ...(decided ? { decided } : {}),
      };
    },
  };
}
export type LookupActivities = ReturnType<typeof createLookupActivities>;
