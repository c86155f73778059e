/**
 * Tickets from playbooks (workflow-safe): open one per incident (idempotent: the ticket carries the
 * incident's marker), note the decision, the evidence and the response, and close it when the incident
 * closes. A ticketing system that stays down beyond the budget is an outcome recorded on the incident,
 * not a failed incident.
 */
import { ActivityFailure } from '@temporalio/workflow';
import type { DecisionRecord, IncidentStatus } from '../../src/contracts/incident.js';
import type { Enrichment, PlaybookSettings } from '../../src/contracts/playbook.js';
import { describeFailure } from './failures.js';
import type { PlaybookContext } from './playbook.js';
import { ticketingActivities } from './presets.js';
import type { TicketRef } from '../../activities/ticketing/index.js';

const SEVERITY: Record<string, 'info' | 'low' | 'medium' | 'high' | 'critical'> = {
  info: 'info',
  informational: 'info',
  low: 'low',
  medium: 'medium',
  high: 'high',
  critical: 'critical',
};

/** A ticket is opened when the verdict reaches the notify level (the same bar as the email). */
export function wantsTicket(decision: DecisionRecord): boolean {
  return decision.actions.some((a) => a.action === 'notify-email' && a.disposition === 'run');
}

export function ticketingOf(settings: PlaybookSettings) {
  const t = settings.ticketing;
  return t && t.system !== 'none' ? t : undefined;
}

/** Open (or find) the incident's ticket and note the decision and the response on it. */
export async function recordInTicket(
  ctx: PlaybookContext,
  enrichment: Enrichment,
  decision: DecisionRecord,
  response: string[],
): Promise<string | undefined> {
  const t = ticketingOf(ctx.settings);
  if (!t) return undefined;
  const ev = ctx.event;
  const tickets = ticketingActivities(t.taskQueue);
  const began = Date.now();
  // An outage of the ticketing system is retried through; the incident says how long it held the ticket up.
  const delay = () => {
    const s = Math.round((Date.now() - began) / 1000);
    return s >= 5 ? ` (delayed ${s} s by the ticketing system)` : '';
  };
  try {
    const { ticket, created } = await tickets.createTicket({
      incidentId: ctx.incident.incidentId,
      title: `[${decision.verdict}] ${ev.detection.ruleName} on ${ev.host.id}`,
      severity: SEVERITY[ctx.incident.severity] ?? 'medium',
      description: [
        `Incident ${ctx.incident.incidentId}: ${ev.detection.ruleName} on ${ev.host.id}.`,
        `Verdict ${decision.verdict}, risk ${decision.riskScore}.`,
        ...decision.reasons.map((r) => `- ${r}`),
      ].join('\n'),
      host: ev.host.id,
      rule: ev.detection.ruleName,
      verdict: decision.verdict,
      riskScore: decision.riskScore,
      techniques: enrichment.techniques.map((x) => x.id),
    });
    await tickets.addTicketEvidence({
      ticket,
      title: 'Detection',
      items: [
        { label: 'process lineage', value: enrichment.lineage.join(' <- ') || 'unknown' },
        { label: 'flags', value: enrichment.flags.join(', ') || 'none' },
        {
          label: 'techniques',
          value: enrichment.techniques.map((x) => `${x.id} ${x.name ?? ''}`).join('; ') || 'none',
        },
        { label: 'command line', value: ev.process?.commandLine ?? '' },
        { label: 'events', value: String(ctx.incident.eventCount) },
      ],
    });
    if (response.length) {
      await tickets.updateTicket({ ticket, stage: 'response', summary: response.join('\n') });
    }
    ctx.action({
      action: 'open-ticket',
      status: 'done',
      detail: { ticket, created, tookMs: Date.now() - began },
    });
    return `ticket ${ticket.key}${delay()}`;
  } catch (e) {
    if (!(e instanceof ActivityFailure)) throw e;
    const why = describeFailure(e);
    ctx.action({
      action: 'open-ticket',
      status: 'failed',
      error: why,
      detail: { tookMs: Date.now() - began },
    });
    return `ticket FAILED (${why})${delay()}`;
  }
}

/** Close the incident's ticket with its outcome (called when the incident closes). */
export async function closeIncidentTicket(
  s: IncidentStatus,
  settings: PlaybookSettings,
): Promise<string | undefined> {
  const t = ticketingOf(settings);
  const opened = [...s.actions].reverse().find((a) => a.action === 'open-ticket' && a.status === 'done');
  const ticket = opened?.detail?.ticket as TicketRef | undefined;
  if (!t || !ticket) return undefined;
  try {
    await ticketingActivities(t.taskQueue).closeTicket({
      ticket,
      verdict: s.verdict,
      outcome: s.outcome ?? 'closed',
    });
    return 'ticket closed';
  } catch (e) {
    if (!(e instanceof ActivityFailure)) throw e;
    return `closing the ticket FAILED (${describeFailure(e)})`;
  }
}
