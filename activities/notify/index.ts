/**
 * Notification activities. `notifyEmail` sends one incident notice; its Message-ID is derived from the
 * activity's idempotency key, so a retry after a crash delivers the same message, recognizably.
 * When a chat channel (Slack) is configured, the same notices and every approval step also go there,
 * first: the channel's posts are idempotent, so a retry caused by the mail server repeats nothing there.
 */
import { Context } from '@temporalio/activity';
import { z } from 'zod';
import type { ApprovalNotice, EmailReceipt, IncidentNotice } from '../../src/contracts/playbook.js';
import { NON_RETRYABLE, type ErrorType } from '../../src/errors.js';
import { ApplicationFailure } from '@temporalio/common';
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

/** A chat channel beside email (Slack: activities/slack createSlackChannel), wired by the worker. */
export interface ChatChannel {
  approval(n: ApprovalNotice): Promise<{ channel: string; ts: string }>;
  incident(n: IncidentNotice, key: string): Promise<{ channel: string; ts: string }>;
}

/** Retry the whole activity for a transient channel failure this many times before mailing anyway. */
const CHANNEL_ATTEMPTS = 3;

/**
 * Post to the chat channel first. A transient failure retries the activity (nothing was mailed yet); a
 * final one, or a transient one that outlives a few attempts, is reported in the receipt and the mail
 * still goes out: a broken chat integration never silences email.
 */
async function viaChannel(
  post: () => Promise<{ channel: string; ts: string }>,
): Promise<EmailReceipt['chat']> {
  try {
    return await post();
  } catch (e) {
    const type = e instanceof ApplicationFailure ? (e.type as ErrorType | undefined) : undefined;
    const final = type !== undefined && NON_RETRYABLE.includes(type);
    let attempt = CHANNEL_ATTEMPTS;
    try {
      attempt = Context.current().info.attempt;
    } catch {
      /* outside an activity: do not retry */
    }
    if (!final && attempt < CHANNEL_ATTEMPTS) throw e;
    return { error: `${type ?? 'Error'}: ${(e as Error).message}` };
  }
}

export function createNotifyActivities(
  mailer: Mailer,
  config: Pick<NotifyConfig, 'VIGIL_MAIL_FROM' | 'VIGIL_MAIL_TO' | 'VIGIL_ESCALATION_TO'>,
  chat?: ChatChannel,
) {
  return {
    async notifyEmail(input: IncidentNotice): Promise<EmailReceipt> {
      const notice = parseInput(Notice, input, 'notifyEmail');
      const key = currentIdempotencyKey('email');
      const messageId = messageIdFor(key, config.VIGIL_MAIL_FROM);
      const posted = chat
        ? await viaChannel(() => withHeartbeat(() => chat.incident(notice, key)))
        : undefined;
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
      return { messageId, accepted: r.accepted, rejected: r.rejected, ...(posted ? { chat: posted } : {}) };
    },

    /** One message per step of an approval's ladder; escalation also goes to the next group. */
    async notifyApproval(input: ApprovalNotice): Promise<EmailReceipt> {
      const key = currentIdempotencyKey(`approval:${input.record.approvalId}:${input.stage}`);
      const messageId = messageIdFor(key, config.VIGIL_MAIL_FROM);
      const posted = chat ? await viaChannel(() => withHeartbeat(() => chat.approval(input))) : undefined;
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
      return { messageId, accepted: r.accepted, rejected: r.rejected, ...(posted ? { chat: posted } : {}) };
    },
  };
}
export type NotifyActivities = ReturnType<typeof createNotifyActivities>;
