/**
 * Notification activities. `notifyEmail` sends one incident notice; its Message-ID is derived from the
 * activity's idempotency key, so a retry after a crash delivers the same message, recognizably.
 */
import { z } from 'zod';
import type { ApprovalNotice, EmailReceipt, IncidentNotice } from '../../src/contracts/playbook.js';
import { parseInput } from '../lib/failures.js';
import { withHeartbeat } from '../lib/heartbeat.js';
import { currentIdempotencyKey, shortHash } from '../lib/idempotency.js';
import type { Mailer } from './client.js';
import type { NotifyConfig } from './config.js';
import { renderApproval, renderNotice } from './templates.js';

const Notice = z.object({
  incidentId: z.string().min(1),
  host: z.string().min(1),
  rule: z.string().min(1),
  severity: z.string().min(1),
  verdict: z.enum(['benign', 'suspicious', 'malicious']),
  riskScore: z.number().min(0).max(100),
  techniques: z.array(
    z.object({
      id: z.string(),
      known: z.boolean(),
      name: z.string().optional(),
      tactics: z.array(z.string()),
    }),
  ),
  lineage: z.array(z.string()),
  reasons: z.array(z.string()),
  recommended: z.array(z.string()),
  eventCount: z.number().int().min(1),
  firstSeen: z.string(),
  commandLine: z.string().optional(),
  playbook: z.string(),
}) satisfies z.ZodType<IncidentNotice>;

export function messageIdFor(idempotencyKey: string, from: string): string {
  const domain = from.split('@')[1] ?? 'vigil.invalid';
  return `<vigil.${shortHash(idempotencyKey)}@${domain}>`;
}

export function createNotifyActivities(
  mailer: Mailer,
  config: Pick<NotifyConfig, 'VIGIL_MAIL_FROM' | 'VIGIL_MAIL_TO' | 'VIGIL_ESCALATION_TO'>,
) {
  return {
    async notifyEmail(input: IncidentNotice): Promise<EmailReceipt> {
      const notice = parseInput(Notice, input, 'notifyEmail');
      const key = currentIdempotencyKey('email');
      const messageId = messageIdFor(key, config.VIGIL_MAIL_FROM);
      const { subject, text, html } = renderNotice(notice);
      const r = await withHeartbeat(() =>
        mailer.send({
          messageId,
          to: config.VIGIL_MAIL_TO,
          subject,
          text,
          html,
          headers: { 'X-Vigil-Incident': notice.incidentId, 'X-Vigil-Idempotency-Key': shortHash(key) },
        }),
      );
      return { messageId, accepted: r.accepted, rejected: r.rejected };
    },

    /** One message per step of an approval's ladder; escalation also goes to the next group. */
    async notifyApproval(input: ApprovalNotice): Promise<EmailReceipt> {
      const key = currentIdempotencyKey(`approval:${input.record.approvalId}:${input.stage}`);
      const messageId = messageIdFor(key, config.VIGIL_MAIL_FROM);
      const { subject, text, html } = renderApproval(input);
      const to =
        input.stage === 'escalated'
          ? [...new Set([...config.VIGIL_MAIL_TO, ...(config.VIGIL_ESCALATION_TO ?? [])])]
          : config.VIGIL_MAIL_TO;
      const r = await withHeartbeat(() =>
        mailer.send({
          messageId,
          to,
          subject,
          text,
          html,
          headers: {
            'X-Vigil-Incident': input.record.incidentId,
            'X-Vigil-Approval': input.record.approvalId,
            'X-Vigil-Idempotency-Key': shortHash(key),
          },
        }),
      );
      return { messageId, accepted: r.accepted, rejected: r.rejected };
    },
  };
}
export type NotifyActivities = ReturnType<typeof createNotifyActivities>;
