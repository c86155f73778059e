/** Test workflow: one incident's ticket from creation to closing, through the ticketing worker's queue. */
import { proxyActivities } from '@temporalio/workflow';
import type { TicketingActivities } from '../../activities/ticketing/index.js';

export async function ticketingFlow(input: { incidentId: string; ticketingQueue: string }) {
  const t = proxyActivities<TicketingActivities>({
    taskQueue: input.ticketingQueue,
    startToCloseTimeout: '30s',
    heartbeatTimeout: '3s',
    retry: { initialInterval: '300ms', backoffCoefficient: 1.5, maximumInterval: '2s', maximumAttempts: 60 },
  });
  const { ticket, created } = await t.createTicket({
    incidentId: input.incidentId,
    title: 'Reverse shell on web-01',
    severity: 'high',
    host: 'web-01',
    verdict: 'malicious',
  });
  await t.updateTicket({ ticket, stage: 'responding', summary: 'isolating web-01' });
  await t.addTicketEvidence({
    ticket,
    title: 'lineage',
    items: [{ label: 'lineage', value: 'bash <- nginx' }],
  });
  await t.closeTicket({ ticket, verdict: 'malicious', outcome: 'host isolated' });
  return { ticket, created };
}
