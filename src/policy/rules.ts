/**
 * The typed rule set: a transparent, deterministic first decision (event + enrichment -> verdict,
 * risk score, proposed actions). Workflow-safe (no I/O). The policy-engine issue replaces the
 * action dispositions with a real policy evaluation; the scoring issue adds the model score.
 */
import type { DecisionRecord, Verdict } from '../contracts/incident.js';
import type { Enrichment, LineageFlag, PlaybookSettings } from '../contracts/playbook.js';
import type { DetectionEvent, Severity } from '../events/detection-event.js';

export const RULESET = { name: 'vigil-rules', version: '1' } as const;

/** What the syscall model said about the event's telemetry window, or why it could not say. */
export type ModelEvidence =
  | { modelId: string; version: string; score: number; threshold: number; aboveThreshold: boolean }
  | { refused: string };
/** How much a model score above its threshold adds to the 0-100 risk score. */
export const MODEL_WEIGHT = 20;

const SEVERITY_BASE: Record<Severity, number> = { info: 5, low: 15, medium: 30, high: 50, critical: 70 };
const FLAG_WEIGHT: Record<LineageFlag, number> = {
  'reverse-shell-pattern': 35,
  'download-and-execute': 25,
  'shell-spawned-by-service': 25,
  'exec-from-writable-dir': 15,
  'sensitive-file': 10,
  'network-tool': 10,
  'interactive-shell': 5,
  'privileged-user': 5,
  'in-container': 0,
};
const VERDICT_RANK: Record<Verdict, number> = { benign: 0, suspicious: 1, malicious: 2 };

export function verdictAtLeast(v: Verdict, min: Verdict): boolean {
  return VERDICT_RANK[v] >= VERDICT_RANK[min];
}

export function evaluateRules(
  ev: DetectionEvent,
  enrichment: Enrichment,
  settings: Pick<PlaybookSettings, 'suspiciousThreshold' | 'maliciousThreshold' | 'notifyAt'>,
  eventCount: number,
  at: string,
  model?: ModelEvidence,
): DecisionRecord {
  const reasons: string[] = [`severity ${ev.detection.severity} (+${SEVERITY_BASE[ev.detection.severity]})`];
  let score = SEVERITY_BASE[ev.detection.severity];
  // Fusion with the syscall model: above its threshold it adds MODEL_WEIGHT; a refused model adds nothing
  // and sends the incident to a person (notify whatever the verdict).
  if (model && 'score' in model) {
    const add = model.aboveThreshold ? MODEL_WEIGHT : 0;
    reasons.push(
      `model ${model.modelId}@${model.version} score ${model.score.toFixed(3)} ${model.aboveThreshold ? '>=' : '<'} ${model.threshold.toFixed(3)} (+${add})`,
    );
    score += add;
  } else if (model) {
    reasons.push(`no model score (${model.refused}): analysts decide`);
  }
  for (const f of enrichment.flags) {
    const w = FLAG_WEIGHT[f];
    if (w > 0) reasons.push(`${f} (+${w})`);
    score += w;
  }
  // Repetition raises confidence a little, never on its own to "malicious".
  if (eventCount >= 5) {
    reasons.push(`repeated ${eventCount} times (+5)`);
    score += 5;
  }
  const unknown = enrichment.techniques.filter((t) => !t.known).map((t) => t.id);
  if (unknown.length) reasons.push(`unknown ATT&CK ids kept for review: ${unknown.join(', ')}`);
  const riskScore = Math.min(100, score);
  const verdict: Verdict =
    riskScore >= settings.maliciousThreshold
      ? 'malicious'
      : riskScore >= settings.suspiciousThreshold
        ? 'suspicious'
        : 'benign';

  const actions: DecisionRecord['actions'] = [];
  const notify = verdictAtLeast(verdict, settings.notifyAt) || (model !== undefined && 'refused' in model);
  actions.push({
    action: 'notify-email',
    disposition: notify ? 'run' : 'skip',
    why: notify
      ? `verdict ${verdict} reaches the notify level (${settings.notifyAt})`
      : `verdict ${verdict} is below the notify level`,
  });
  // Containment is proposed to the analyst; no responder runs it from this rule set.
  if (verdict === 'malicious' && ev.process?.pid !== undefined) {
    actions.push({
      action: 'suspend-process',
      disposition: 'recommend',
      why: 'malicious process with a known pid (low blast radius)',
    });
  }
  if (
    verdict === 'malicious' &&
    (enrichment.flags.includes('reverse-shell-pattern') || ev.detection.severity === 'critical')
  ) {
    actions.push({
      action: 'isolate-host',
      disposition: 'recommend',
      why: 'interactive attacker access likely; needs analyst approval',
    });
  }
  // A compromised account: a directory account is disabled (critical), a local one locked (high).
  const account = ev.user ?? ev.process?.user;
  const accountTechniques = ['T1078', 'T1098', 'T1136', 'T1110', 'T1556'];
  if (
    verdict === 'malicious' &&
    account?.name &&
    ev.detection.techniques.some((t) => accountTechniques.includes(t.split('.')[0] ?? ''))
  ) {
    actions.push(
      account.domain
        ? {
            action: 'disable-account',
            disposition: 'recommend',
            why: `directory account ${account.domain}\\${account.name} used in an account technique`,
          }
        : {
            action: 'lock-local-account',
            disposition: 'recommend',
            why: `local account ${account.name} used in an account technique`,
          },
    );
  }
  return {
    at,
    kind: 'rules',
    by: RULESET.name,
    version: RULESET.version,
    verdict,
    riskScore,
    reasons,
    actions,
  };
}
