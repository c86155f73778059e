/**
 * Notification activities. `notifyEmail` sends one incident notice; its Message-ID is derived from the
 * activity's idempotency key, so a retry after a crash delivers the same message, recognizably.
 * `notifyWebhook` posts a signed webhook (webhook.ts). `enqueueNotification` hands a notification to the
 * channel's notifier workflow (rate limit, dedupe, digest: playbooks/notifier.ts), which delivers it with
 * `deliverNotification` and reads its limits with `notifierPolicy`.
 * When a chat channel (Slack) is configured, the same notices and every approval step also go there,
 * first: the channel's posts are idempotent, so a retry caused by the mail server repeats nothing there.
 */
import { controlTaskQueue } from '../../src/contracts/queues.js';
import { Context } from '@temporalio/activity';
import { z } from 'zod';
import {
  NOTIFIER_WORKFLOW,
  notifierWorkflowId,
  notifySignal,
  type DeliveryReceipt,
  type DigestNotice,
  type NotificationMessage,
  type NotificationRequest,
} from '../../src/contracts/notify.js';
import type { ApprovalNotice, EmailReceipt, IncidentNotice } from '../../src/contracts/playbook.js';
import { IncidentNoticeSchema } from '../../src/contracts/notices.js';
import { ErrorType, NON_RETRYABLE } from '../../src/errors.js';
import { ApplicationFailure } from '@temporalio/common';
import { failure, parseInput } from '../lib/failures.js';
import { withHeartbeat } from '../lib/heartbeat.js';
import { currentIdempotencyKey, shortHash } from '../lib/idempotency.js';
import type { Mailer } from './client.js';
import { ChannelsConfig, channelPolicy, type ChannelPolicy, type NotifyConfig } from './config.js';
import { renderApproval, renderDigest, renderNotice } from './templates.js';
import type { WebhookSender } from './webhook.js';

const Notice = IncidentNoticeSchema;

const When = z.iso.datetime({ offset: true });

const Digest = z.object({
  channel: z.string().min(1),
  from: When,
  to: When,
  suppressed: z.number().int().min(0),
  groups: z
    .array(
      z.object({
        key: z.string(),
        summary: z.string(),
        count: z.number().int().min(1),
        duplicates: z.number().int().min(0),
        first: When,
        last: When,
      }),
    )
    .max(1000),
  unlisted: z.number().int().min(0),
  failed: z.array(z.object({ key: z.string(), summary: z.string(), error: z.string(), at: When })).max(200),
  failedTotal: z.number().int().min(0),
  limit: z.object({ perWindow: z.number().int(), windowMs: z.number().int(), dedupeMs: z.number().int() }),
}) satisfies z.ZodType<DigestNotice>;

const Message = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('incident'), notice: Notice }),
  z.object({ kind: z.literal('digest'), digest: Digest }),
]) satisfies z.ZodType<NotificationMessage>;

const Channel = z.string().regex(/^(email|webhook:[a-z0-9][a-z0-9-]{0,39})$/, 'email or webhook:<name>');

const Deliver = z.object({ channel: Channel, message: Message });
const WebhookInput = z.object({ webhook: z.string().min(1), message: Message });
const Enqueue = z.object({
  channel: Channel,
  /** Defaults to incident + verdict + severity: a re-notice of the same state is a duplicate, an escalation is not. */
  key: z.string().min(1).max(300).optional(),
  message: z.object({ kind: z.literal('incident'), notice: Notice }),
});
export type EnqueueInput = z.input<typeof Enqueue>;

export function messageIdFor(idempotencyKey: string, from: string): string {
  const domain = from.split('@')[1] ?? 'vigil.invalid';
  return `<vigil.${shortHash(idempotencyKey)}@${domain}>`;
}

export const webhookIdFor = (idempotencyKey: string) => `msg_${shortHash(idempotencyKey)}`;

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
  channels: { config?: ChannelsConfig; webhooks?: WebhookSender; chat?: ChatChannel } = {},
) {
  const channelsConfig = channels.config ?? ChannelsConfig.parse({});
  const webhooks = channels.webhooks;
  const chat = channels.chat;

  const sendWebhook = async (name: string, message: NotificationMessage): Promise<DeliveryReceipt> => {
    if (!webhooks?.has(name)) {
      throw failure(ErrorType.InvalidInput, `no webhook named "${name}" is configured (VIGIL_WEBHOOKS)`);
    }
    const id = webhookIdFor(currentIdempotencyKey(`webhook:${name}`));
    const r = await withHeartbeat(() => webhooks.send(name, id, message));
    return { channel: `webhook:${name}`, id, detail: { status: r.status } };
  };

  const sendEmail = async (message: NotificationMessage): Promise<DeliveryReceipt> => {
    const key = currentIdempotencyKey('email');
    const messageId = messageIdFor(key, config.VIGIL_MAIL_FROM);
    const { subject, text, html } =
      message.kind === 'incident' ? renderNotice(message.notice) : renderDigest(message.digest);
    const r = await withHeartbeat(() =>
      mailer.send({
        messageId,
        to: config.VIGIL_MAIL_TO,
        subject,
        text,
        html,
        headers: {
          ...(message.kind === 'incident'
            ? { 'X-Vigil-Incident': message.notice.incidentId }
            : { 'X-Vigil-Digest': String(message.digest.suppressed) }),
          'X-Vigil-Idempotency-Key': shortHash(key),
        },
      }),
    );
    return { channel: 'email', id: messageId, detail: { accepted: r.accepted, rejected: r.rejected } };
  };

  const policyFor = (channel: string): ChannelPolicy => {
    const p = channelPolicy(channelsConfig, channel);
    if (!p) throw failure(ErrorType.InvalidInput, `unknown notification channel "${channel}"`);
    return p;
  };

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

    /** Post one signed webhook now (no rate limit: use enqueueNotification for that). */
    async notifyWebhook(input: { webhook: string; message: NotificationMessage }): Promise<DeliveryReceipt> {
      const { webhook, message } = parseInput(WebhookInput, input, 'notifyWebhook');
      return sendWebhook(webhook, message);
    },

    /** The notifier's delivery: one message (an incident notice or a digest) on one channel. */
    async deliverNotification(input: {
      channel: string;
      message: NotificationMessage;
    }): Promise<DeliveryReceipt> {
      const { channel, message } = parseInput(Deliver, input, 'deliverNotification');
      policyFor(channel);
      return channel === 'email'
        ? sendEmail(message)
        : sendWebhook(channel.slice('webhook:'.length), message);
    },

    /** The notifier's limits for a channel (read at the start of each notifier run). */
    async notifierPolicy(input: { channel: string }): Promise<ChannelPolicy> {
      return policyFor(parseInput(z.object({ channel: Channel }), input, 'notifierPolicy').channel);
    },

    /**
     * Hand a notification to the channel's notifier: signal-with-start of workflow vigil-notifier:<task queue>:<channel>
     * on this worker's task queue. The request id is this activity's idempotency key, so a retried signal
     * is recognised and counted once.
     */
    async enqueueNotification(input: EnqueueInput): Promise<{ workflowId: string; requestId: string }> {
      const req = parseInput(Enqueue, input, 'enqueueNotification');
      policyFor(req.channel);
      const n = req.message.notice;
      const request: NotificationRequest = {
        channel: req.channel,
        key: req.key ?? `${n.incidentId}:${n.verdict}:${n.severity}`,
        requestId: shortHash(currentIdempotencyKey(`enqueue:${req.channel}`)),
        at: new Date().toISOString(),
        message: req.message,
      };
      const ctx = Context.current();
      const workflowId = notifierWorkflowId(ctx.info.taskQueue, req.channel);
      try {
        await ctx.client.workflow.signalWithStart(NOTIFIER_WORKFLOW, {
          workflowId,
          taskQueue: controlTaskQueue(ctx.info.taskQueue),
          args: [{ channel: req.channel }],
          signal: notifySignal,
          signalArgs: [request],
        });
      } catch (e) {
        throw failure(
          ErrorType.Unavailable,
          `could not reach the ${req.channel} notifier: ${(e as Error).message}`,
        );
      }
      return { workflowId, requestId: request.requestId };
    },
  };
}
export type NotifyActivities = ReturnType<typeof createNotifyActivities>;
