/**
 * Enrichment: ATT&CK names and tactics for the event's technique ids (unknown ids kept and flagged)
 * and the lineage analysis of the process chain. Read-only; safe to retry.
 */
import type { Enrichment } from '../../src/contracts/playbook.js';
import { DetectionEvent } from '../../src/events/detection-event.js';
import { lineageFlags, lineageNames } from '../../src/policy/lineage.js';
import { parseInput } from '../lib/failures.js';
import type { AttackTable } from './attack.js';

export function createEnrichmentActivities(attack: AttackTable) {
  return {
    async enrichEvent(input: DetectionEvent): Promise<Enrichment> {
      const ev = parseInput(DetectionEvent, input, 'enrichEvent');
      return {
        lineage: lineageNames(ev),
        flags: lineageFlags(ev),
        techniques: ev.detection.techniques.map((t) => attack.lookup(t)),
        attackVersion: attack.version,
      };
    },
  };
}
export type EnrichmentActivities = ReturnType<typeof createEnrichmentActivities>;
