/**
 * Reusable playbook steps (workflow-safe). `assessAndNotify`: enrich -> decide with the rule set ->
 * notify by email when the verdict reaches the configured level. Failures of the notification are an
 * outcome the incident reports, not an exception.
 */
import { ActivityFailure, ApplicationFailure } from '@temporalio/workflow';
import { evaluateRules } from '../../src/policy/rules.js';
import type { Enrichment } from '../../src/contracts/playbook.js';
import type { DecisionRecord } from '../../src/contracts/incident.js';
import { buildNotice } from './notice.js';
import type { PlaybookContext, PlaybookOutcome } from './playbook.js';
import { enrichmentActivities, notifyActivities } from './presets.js';

export async function assess(
  ctx: PlaybookContext,
): Promise<{ enrichment: Enrichment; decision: DecisionRecord }> {
  ctx.stage('enriching');
  const enrichment = await enrichmentActivities.enrichEvent(ctx.event);
  ctx.note(`lineage ${enrichment.lineage.join(' <- ') || 'unknown'}`, {
    flags: enrichment.flags,
    techniques: enrichment.techniques,
  });
  ctx.stage('deciding');
  const decision = evaluateRules(
    ctx.event,
    enrichment,
    ctx.settings,
    ctx.incident.eventCount,
    new Date().toISOString(),
  );
  ctx.decision(decision);
  return { enrichment, decision };
}

export function describeFailure(e: ActivityFailure): string {
  const c = e.cause;
  return c instanceof ApplicationFailure ? `${c.type ?? 'Error'}: ${c.message}` : (c?.message ?? e.message);
}

export async function notifyByEmail(
  ctx: PlaybookContext,
  enrichment: Enrichment,
  decision: DecisionRecord,
  playbookId: string,
): Promise<PlaybookOutcome> {
  const base = { verdict: decision.verdict, riskScore: decision.riskScore };
  const notify = decision.actions.find((a) => a.action === 'notify-email');
  if (notify?.disposition !== 'run') {
    ctx.action({ action: 'notify-email', status: 'skipped', detail: { why: notify?.why } });
    return { ...base, outcome: `closed as ${decision.verdict}: below the notification level` };
  }
  ctx.stage('notifying');
  try {
    const receipt = await notifyActivities.notifyEmail(
      buildNotice(ctx.incident, ctx.event, enrichment, decision, playbookId),
    );
    ctx.action({
      action: 'notify-email',
      status: 'done',
      idempotencyKey: receipt.messageId,
      detail: { ...receipt },
    });
    return { ...base, outcome: `${decision.verdict}: analysts notified by email` };
  } catch (e) {
    if (!(e instanceof ActivityFailure)) throw e;
    const cause = describeFailure(e);
    ctx.action({ action: 'notify-email', status: 'failed', error: cause });
    return { ...base, outcome: `${decision.verdict}: email notification FAILED (${cause})` };
  }
}
