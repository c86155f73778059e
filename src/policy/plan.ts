/**
 * What a run asks the decision step (workflow-safe, no I/O): from the rule set's proposals, the policy request,
 * and a slot from the automation control for each low-blast-radius action it could execute at once.
 *
 * Two callers build it with these same functions: the playbook's `decideResponses` (playbooks/lib/steps.ts),
 * and the incident's first local activity when the playbook asks it to decide ahead (activities/lookups). The
 * playbook takes an answer given ahead only when it would have asked exactly the same request and slots.
 */
import type { ResponderRoute } from '../contracts/agent.js';
import type { ReserveRequest } from '../contracts/automation.js';
import type { DecisionRecord } from '../contracts/incident.js';
import type { PlaybookSettings } from '../contracts/playbook.js';
import { isContainmentAction } from '../contracts/response.js';
import type { DetectionEvent, Severity } from '../events/detection-event.js';
import { ACTIONS, isActionName, type ActionName, type DecisionRequest } from './actions.js';

/** Events shorter than this carry too little of a syscall window to score. */
export const MIN_SYSCALLS = 20;

/** The incident's side of a decision: what it had absorbed when the playbook decided. */
export interface PlanIncident {
  incidentId: string;
  severity: Severity;
  techniques: string[];
}

/** A short, deterministic digest (FNV-1a, 2x32 bit) of the parameters, for keys and workflow ids. */
export function paramsDigest(params: Record<string, unknown>): string {
  const text = JSON.stringify(
    Object.keys(params)
      .sort()
      .map((k) => [k, params[k]]),
  );
  let h1 = 0x811c9dc5;
  let h2 = 0x01000193;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 0x01000193) >>> 0;
    h2 = Math.imul(h2 ^ c, 0x811c9dc5) >>> 0;
  }
  return h1.toString(16).padStart(8, '0') + h2.toString(16).padStart(8, '0');
}

/** The exact parameters an action is bound to (an approval names them; a responder acts on them). */
export function paramsFor(action: ActionName, ev: DetectionEvent): Record<string, string | number | boolean> {
  const p: Record<string, string | number | boolean> = { host: ev.host.id };
  const scope = ACTIONS[action].scope;
  if (scope === 'process' && ev.process) {
    if (ev.process.pid !== undefined) p.pid = ev.process.pid;
    if (ev.process.executable) p.executable = ev.process.executable;
    if (ev.process.startTime) p.startTime = ev.process.startTime;
  }
  if (scope === 'file' && ev.file) {
    p.path = ev.file.path;
    if (ev.file.sha256) p.sha256 = ev.file.sha256.toLowerCase();
  }
  if (scope === 'account') p.account = ev.user?.name ?? ev.process?.user?.name ?? '';
  return p;
}

/** A process action whose target is a bare pid: no start time or executable to confirm it is the event's. */
export function onBarePid(action: ActionName, params: Record<string, string | number | boolean>): boolean {
  return (
    ACTIONS[action].scope === 'process' && params.startTime === undefined && params.executable === undefined
  );
}

/** Whether a route's executor offers an action (an agent lists its capabilities when it registers). */
export function serves(route: ResponderRoute, action: string): boolean {
  if (route.kind === 'none') return false;
  return route.kind !== 'agent' || (route.agent.capabilities as string[]).includes(action);
}

/** The responses the rule set proposes, as action names (the policy decides each). */
export function proposedActions(rules: DecisionRecord): ActionName[] {
  return rules.actions
    .filter((a) => a.disposition === 'recommend')
    .map((a) => a.action)
    .filter(isActionName);
}

/** The policy request for the rule set's proposals (undefined: nothing proposed, nothing to decide). */
export function policyRequest(
  ev: DetectionEvent,
  rules: DecisionRecord,
  incident: PlanIncident,
  playbook: { name: string; version: string },
): DecisionRequest | undefined {
  const proposed = proposedActions(rules);
  if (!proposed.length) return undefined;
  return {
    playbook,
    host: ev.host.id,
    severity: incident.severity,
    riskScore: rules.riskScore,
    verdict: rules.verdict,
    techniques: incident.techniques,
    hasProcess: ev.process !== undefined,
    inContainer: ev.container?.id !== undefined,
    proposed,
  };
}

/** Proposed low-blast-radius containment this run could execute at once (before asking the route). */
export function automaticCandidates(proposed: ActionName[], ev: DetectionEvent): ActionName[] {
  return proposed.filter(
    (a) => isContainmentAction(a) && ACTIONS[a].class === 'low' && !onBarePid(a, paramsFor(a, ev)),
  );
}

/** The reservation for one action on its bound parameters (stable key: a retry asks the same slot). */
export function reservation(
  incidentId: string,
  host: string,
  action: string,
  bound: Record<string, string | number | boolean>,
  at: string,
): ReserveRequest {
  return { key: `${incidentId}:${action}:${paramsDigest(bound)}`, incidentId, action, host, at };
}

/** The slots to reserve with the decision: the candidates the route's executor serves. */
export function slotRequests(
  ev: DetectionEvent,
  candidates: ActionName[],
  incidentId: string,
  route: ResponderRoute,
  at: string,
): ReserveRequest[] {
  return candidates
    .filter((a) => serves(route, a))
    .map((a) => reservation(incidentId, ev.host.id, a, paramsFor(a, ev), at));
}

/** The event carries a syscall window long enough for the model to score. */
export function carriesWindow(ev: DetectionEvent): boolean {
  return (ev.telemetry?.syscalls?.length ?? 0) >= MIN_SYSCALLS;
}

/** The playbook settings ask for a window from the host's agent for this event (it names a pid, has none). */
export function capturesFor(ev: DetectionEvent, settings: PlaybookSettings): boolean {
  const c = settings.capture;
  return c !== undefined && c.windowMs > 0 && (ev.process?.pid ?? 0) >= 2 && !carriesWindow(ev);
}

/**
 * Whether the model will score this event before the rule set decides: its own window, or one the host's
 * agent captures (asked only of a live agent that offers capture). The rule set's answer then depends on a
 * score nobody knows yet, so nothing is decided ahead.
 */
export function modelWillScore(
  ev: DetectionEvent,
  settings: PlaybookSettings,
  route: ResponderRoute,
): boolean {
  if (carriesWindow(ev)) return true;
  return (
    capturesFor(ev, settings) && route.kind === 'agent' && route.live && route.agent.capture !== undefined
  );
}
