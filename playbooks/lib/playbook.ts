/**
 * What a playbook is: a named, versioned function the incident workflow runs for one event.
 * It reads the incident through a context and records stages, decisions and actions through it;
 * expected outcomes (benign, notified, notification failed) are return values, not exceptions.
 */
import type {
  ActionRecord,
  DecisionRecord,
  IncidentStage,
  IncidentStatus,
  Verdict,
} from '../../src/contracts/incident.js';
import type { PlaybookSettings } from '../../src/contracts/playbook.js';
import type { DetectionEvent } from '../../src/events/detection-event.js';
import type { ApprovalGate } from './approval-gate.js';

export interface PlaybookContext {
  readonly incident: Readonly<IncidentStatus>;
  /** The event that triggered this run of the playbook. */
  readonly event: DetectionEvent;
  readonly settings: PlaybookSettings;
  /**
   * Shadow mode (VIGIL_SHADOW_PLAYBOOKS): run fully, but record containment and approvals as would-have-done
   * instead of executing or asking anyone (decideResponses).
   */
  readonly shadow?: boolean;
  stage(stage: IncidentStage): void;
  decision(d: DecisionRecord): void;
  action(a: Omit<ActionRecord, 'at'>): void;
  note(summary: string, data?: Record<string, unknown>): void;
  /** The incident's approval gate (its Update handler is registered at incident start). */
  readonly approvals: ApprovalGate;
}

export interface PlaybookOutcome {
  verdict: Verdict;
  riskScore: number;
  /** One line for the incident's result. */
  outcome: string;
  /** Leave the incident open for a human (an approval expired): it closes only when an operator resolves it. */
  needsHuman?: boolean;
}

export interface Playbook {
  readonly name: string;
  readonly version: string;
  readonly description: string;
  matches(event: DetectionEvent): boolean;
  /**
   * Start the lookups `run` will make first for this event (./prefetch.ts), before the incident has read its
   * settings: they run side by side with that lookup. Only what `run` is sure to take. `decideAhead` asks
   * for the first policy decision too, for a playbook whose `run` calls `decideResponses` with its own name
   * and version (taken only when `run` asks for exactly that decision; else asked again).
   */
  lookupsAhead?(event: DetectionEvent): void;
  run(ctx: PlaybookContext): Promise<PlaybookOutcome>;
}
