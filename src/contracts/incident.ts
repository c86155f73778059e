/**
 * The incident workflow's contract: input, signals, queries and the status it reports.
 * Shared by the intake (signalWithStart), the CLI (queries) and the workflow itself.
 */
import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { DetectionEvent, Severity } from '../events/detection-event.js';
import type { PlaybookBuild } from './playbook.js';

export const INCIDENT_WORKFLOW = 'incident';

export interface IncidentInput {
  incidentId: string;
  correlationKey: string;
  /** Carried across continue-as-new so a long-lived incident keeps its history bounded. */
  carried?: IncidentStatus;
  /** Ids of recently absorbed events, so a redelivered event is not counted twice across continue-as-new. */
  recentEventIds?: string[];
  /** Carried across continue-as-new: a decision was left to a human, so the incident waits for `resolve`. */
  needsHuman?: boolean;
}

export const detectionSignal = defineSignal<[DetectionEvent]>('detection');
/**
 * Several detections of one incident in one signal, in arrival order: the intake coalesces events that
 * arrive for a key while a signal for it is in flight. Handled exactly as that many `detection` signals.
 */
export const detectionsSignal = defineSignal<[DetectionEvent[]]>('detections');
export const statusQuery = defineQuery<IncidentStatus>('status');

export type IncidentStage =
  | 'received'
  | 'enriching'
  | 'scoring'
  | 'deciding'
  | 'notifying'
  | 'awaiting-approval'
  | 'responding'
  | 'needs-human'
  | 'quiet'
  | 'closed';
export type Verdict = 'benign' | 'suspicious' | 'malicious';

export interface TimelineEntry {
  at: string;
  kind: 'event' | 'stage' | 'decision' | 'action' | 'note';
  summary: string;
  data?: Record<string, unknown>;
}

export interface DecisionRecord {
  at: string;
  kind: 'rules' | 'policy' | 'score' | 'approval' | 'automation';
  /** Which rule set / policy and which version produced it. */
  by: string;
  version: string;
  verdict: Verdict;
  riskScore: number;
  reasons: string[];
  /** Actions the decision proposes, with whether this playbook may run them now. */
  actions: {
    action: string;
    disposition: 'run' | 'recommend' | 'skip' | 'automatic' | 'approval' | 'forbidden';
    why: string;
  }[];
  /** The inputs the decision was taken on (for the audit trail). */
  inputs?: Record<string, unknown>;
  /** The playbook (and the build of the playbooks) that took it; absent in older histories. */
  playbook?: PlaybookRef;
  /** Taken by a playbook in shadow mode: its actions were recorded, not executed. */
  shadow?: boolean;
}

export interface PlaybookRef {
  name: string;
  version: string;
  /** The build id of the playbooks (PlaybookBuild.id). */
  build?: string;
}

export interface ActionRecord {
  at: string;
  action: string;
  status:
    | 'done'
    | 'executed'
    | 'refused'
    | 'failed'
    | 'skipped'
    | 'approved'
    | 'denied'
    | 'expired'
    | 'forbidden'
    /** Shadow mode: what the live playbook would have done (`detail.wouldHave`), nothing was executed. */
    | 'shadow';
  idempotencyKey?: string;
  detail?: Record<string, unknown>;
  error?: string;
}

export interface IncidentStatus {
  incidentId: string;
  correlationKey: string;
  status: 'open' | 'closed';
  stage: IncidentStage;
  playbook?: PlaybookRef;
  /** The build of the playbooks that handled it (absent in older histories). */
  build?: PlaybookBuild;
  /** The playbook ran in shadow mode (VIGIL_SHADOW_PLAYBOOKS): containment and approvals were not executed. */
  shadow?: boolean;
  host: string;
  severity: Severity;
  rule: string;
  techniques: string[];
  eventCount: number;
  firstSeen: string;
  lastSeen: string;
  /** Up to the first few distinct events, kept as evidence (later duplicates are only counted). */
  evidence: DetectionEvent[];
  verdict?: Verdict;
  riskScore?: number;
  decisions: DecisionRecord[];
  actions: ActionRecord[];
  timeline: TimelineEntry[];
  closedAt?: string;
  outcome?: string;
}

export type IncidentResult = IncidentStatus;
