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
 */
import type { ResponderRoute } from '../../src/contracts/agent.js';
import type {
  Enrichment,
  FirstLookups,
  FirstLookupsRequest,
  LookupPart,
  PlaybookSettings,
} from '../../src/contracts/playbook.js';
import type { DetectionEvent } from '../../src/events/detection-event.js';

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
}) {
  return {
    async firstLookups(req: FirstLookupsRequest): Promise<FirstLookups> {
      const { enrich, route } = req;
      // Side by side in this worker; the settings' failure is the activity's, the others' are parts.
      const [settings, enrichment, responder] = await Promise.all([
        deps.playbookSettings(),
        enrich ? lookupPart(() => deps.enrichEvent(enrich)) : undefined,
        route ? lookupPart(() => deps.findResponder(route)) : undefined,
      ]);
      return {
        settings,
        ...(enrichment ? { enrichment } : {}),
        ...(responder ? { route: responder } : {}),
      };
    },
  };
}
export type LookupActivities = ReturnType<typeof createLookupActivities>;
