/** Types shared by playbooks and the activities they call. */
import type { ApprovalRequestRecord } from '../policy/approval.js';
import type { Verdict } from './incident.js';
import type { ResponderRoute } from './agent.js';
import type { DetectionEvent } from '../events/detection-event.js';
import type { PlanIncident } from '../policy/plan.js';
import type { ReserveAnswer } from './automation.js';
import type { DecisionRequest, PolicyDecision } from '../policy/actions.js';

export type LineageFlag =
  | 'shell-spawned-by-service'
  | 'reverse-shell-pattern'
  | 'download-and-execute'
  | 'exec-from-writable-dir'
  | 'network-tool'
  | 'interactive-shell'
  | 'privileged-user'
  | 'in-container'
  | 'sensitive-file';

export interface TechniqueInfo {
  id: string;
  /** false when the id is not in the ATT&CK table we ship: kept and flagged, never dropped. */
  known: boolean;
  name?: string;
  tactics: string[];
}

export interface Enrichment {
  /** Process names from the offending process up its parent chain. */
  lineage: string[];
  flags: LineageFlag[];
  techniques: TechniqueInfo[];
  attackVersion: string;
}

/** One lookup of `firstLookups` (activities/lookups): its answer, or why it failed (asked again alone). */
export type LookupPart<T> = { ok: true; value: T } | { ok: false; error: string };

/** What an incident asks in its first local activity beside the settings (its playbook's lookupsAhead). */
export interface FirstLookupsRequest {
  /** The first event, to enrich. */
  enrich?: DetectionEvent;
  /** A host whose responder route the playbook will need. */
  route?: string;
  /**
   * Decide ahead (the fifth up-front marker): the rule set on the enriched first event, then the policy
   * decision and the automation slots the playbook would ask for (src/policy/plan.ts). Needs `enrich` and
   * `route`; the incident fills in what it has absorbed.
   */
  decide?: DecideAheadRequest;
}

export interface DecideAheadRequest {
  playbook: { name: string; version: string };
  incident: PlanIncident & { eventCount: number };
}

/** The policy's answer given ahead, with the request and the slot keys it answers. */
export interface DecidedAhead {
  request: DecisionRequest;
  /** The keys of the slots reserved with it (empty: the decision alone was asked). */
  reserve: string[];
  answer: PolicyDecision & { slots?: Record<string, ReserveAnswer> };
}

export interface FirstLookups {
  settings: PlaybookSettings;
  enrichment?: LookupPart<Enrichment>;
  route?: LookupPart<ResponderRoute>;
  /** null: nothing to decide ahead (no proposal, a model score to come, shadow mode, a failed lookup). */
  decided?: LookupPart<DecidedAhead | null>;
}

/** The build of the playbooks a worker runs (activities/settings/build.ts), recorded with every incident. */
export interface PlaybookBuild {
  /** VIGIL_BUILD_ID, else `git:<revision>[+dirty]`, else `<package>@<version>+sha256:<12 hex>`. */
  id: string;
  packageVersion: string;
  gitRevision?: string;
  /** playbooks/ or src/ differ from the commit. */
  dirty?: boolean;
  /** sha256 of the compiled workflow code (dist/playbooks, dist/src). */
  codeSha256?: string;
}

/** Settings a playbook reads from the worker's configuration (recorded in history at incident start). */
export interface PlaybookSettings {
  quietPeriodMs: number;
  suspiciousThreshold: number;
  maliciousThreshold: number;
  /** How many distinct events an incident keeps in full as evidence. */
  evidenceLimit: number;
  /** Continue-as-new after this many detections, to keep one run's history bounded. */
  maxEventsPerRun: number;
  /** Minimum verdict that sends a notification. */
  notifyAt: Verdict;
  /** The approval ladder: remind, escalate, then the safe default (deny). */
  approval: { remindAfterMs: number; escalateAfterMs: number; deadlineMs: number };
  /**
   * How incident emails go out: through the email channel's notifier (rate-limited, deduplicated, the
   * rest in a digest: an event storm is not a mail storm) or directly (one mail per incident, its
   * Message-ID on the incident). Absent in older histories: direct.
   */
  emailVia?: 'notifier' | 'direct';
  /** Webhook channels (their names in VIGIL_WEBHOOKS) every notice also goes to, through their notifier. */
  webhooks?: string[];
  /** Ticketing: which system (none: no tickets) and the ticketing worker's task queue. */
  ticketing?: { system: string; taskQueue: string };
  /** Containment (absent in histories recorded before responders existed). */
  response?: {
    /** How long an action waits for the host's agent to pick it up before "host unreachable". */
    scheduleToStartMs: number;
    /** An isolation lifts itself after this long unless an analyst extends it. */
    isolationLimitMs: number;
    /** A hold without a time limit (suspend, quarantine, ...) ends after this long, leaving the effect. */
    holdMaxMs: number;
  };
  /**
   * Asking the host's agent for a syscall window when the event names a pid but carries no window (or too
   * short a one): how long to watch (0: never ask) and how long to wait for the agent to pick the capture
   * up. It precedes the rule set (the score is fused into the risk score), so it delays containment by
   * about `windowMs`: keep it short. Absent in histories recorded before capture: never ask.
   */
  capture?: { windowMs: number; scheduleToStartMs: number };
  /** Absent in histories recorded before builds were recorded. */
  build?: PlaybookBuild;
  /**
   * Playbooks in shadow mode (VIGIL_SHADOW_PLAYBOOKS): they run fully, but containment and approvals are
   * recorded as would-have-done, not executed. Absent in older histories (= none).
   */
  shadowPlaybooks?: string[];
}

/** What a notification says about an incident; the notify activity renders it (text and HTML). */
export interface IncidentNotice {
  incidentId: string;
  host: string;
  rule: string;
  severity: string;
  verdict: Verdict;
  riskScore: number;
  techniques: TechniqueInfo[];
  lineage: string[];
  reasons: string[];
  recommended: string[];
  eventCount: number;
  firstSeen: string;
  commandLine?: string;
  playbook: string;
}

export interface EmailReceipt {
  messageId: string;
  accepted: string[];
  rejected: string[];
  /** Where the same notice went in the chat channel (Slack), or why it could not. */
  chat?: { channel: string; ts: string } | { error: string };
}

/** One step of an approval's ladder, for the notification activity. */
export interface ApprovalNotice {
  stage: 'requested' | 'reminder' | 'escalated' | 'expired' | 'decided';
  record: ApprovalRequestRecord;
  host: string;
  rule: string;
  verdict: string;
  riskScore: number;
  reasons: string[];
}
