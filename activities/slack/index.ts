/**
 * Slack activities: approval requests in Block Kit (Approve / Deny with a confirmation), the same message
 * updated with the outcome, reminders and escalations in its thread, and incident notifications (with the
 * analysts' True / False positive buttons, answered by the intake: intake/slack.ts).
 * Every post is idempotent: messages carry metadata (event_type + a stable key) and a post first looks
 * for its own earlier message, so a retried activity never posts twice.
 */
import { z } from 'zod';
import { IncidentNoticeSchema } from '../../src/contracts/notices.js';
import type { ApprovalNotice, IncidentNotice } from '../../src/contracts/playbook.js';
import type { SlackApi, SlackMark, SlackPosted } from '../../src/contracts/slack.js';
import {
  renderApproval,
  renderIncident,
  renderLadderStep,
  type RenderOptions,
} from '../../src/slack/blocks.js';
import { ACTIONS, OPERATOR_ROLES } from '../../src/policy/actions.js';
import { parseInput } from '../lib/failures.js';
import { withHeartbeat } from '../lib/heartbeat.js';
import { currentIdempotencyKey, shortHash } from '../lib/idempotency.js';
import type { SlackConfig } from './config.js';

export const EVENT_REQUEST = 'vigil_approval_request';
export const EVENT_STEP = 'vigil_approval_step';
export const EVENT_NOTICE = 'vigil_incident_notice';

/** Workflow time and Slack's clock may differ: look this far before the request for our own messages. */
const CLOCK_SLACK_S = 600;

const Scalar = z.union([z.string(), z.number(), z.boolean()]);
const Iso = z.string().min(1).max(64);
const Who = z.object({ operator: z.string().min(1), at: Iso, via: z.string().min(1) });
export const ApprovalNoticeSchema = z.object({
  stage: z.enum(['requested', 'reminder', 'escalated', 'expired', 'decided']),
  record: z.object({
    approvalId: z.string().regex(/^[a-z][a-z0-9-]{0,80}$/),
    incidentId: z.string().min(1).max(600),
    action: z.enum(Object.keys(ACTIONS) as [keyof typeof ACTIONS, ...(keyof typeof ACTIONS)[]]),
    class: z.enum(['observe', 'low', 'high', 'critical']),
    params: z.record(z.string(), Scalar),
    paramsHash: z.string().regex(/^[0-9a-f]{16}$/),
    needed: z.union([z.literal(1), z.literal(2)]),
    roles: z.array(z.enum(OPERATOR_ROLES)),
    requester: z.string().min(1),
    requestedAt: Iso,
    deadline: Iso,
    status: z.enum(['pending', 'approved', 'denied', 'expired']),
    approvers: z.array(Who.extend({ role: z.enum(OPERATOR_ROLES) })),
    decidedBy: Who.extend({ reason: z.string().optional() }).optional(),
    escalation: z.number().int().min(0),
  }),
  host: z.string().min(1),
  rule: z.string().min(1),
  verdict: z.string().min(1),
  riskScore: z.number().min(0).max(100),
  reasons: z.array(z.string()),
}) satisfies z.ZodType<ApprovalNotice>;

export interface SlackReceipt extends SlackPosted {
  /** true when an earlier attempt had already posted it (found by its metadata key). */
  reused: boolean;
  /** 'posted', 'updated' (the request message now shows the outcome), 'threaded' (reminder / escalation). */
  kind: 'posted' | 'updated' | 'threaded';
}

const unix = (iso: string) => Math.floor(Date.parse(iso) / 1000);

/** The channel side, usable by other activities (activities/notify) as well as on its own. */
export function createSlackChannel(api: SlackApi, cfg: SlackConfig) {
  const opts = (mention: string[]): RenderOptions => ({
    temporalUiUrl: cfg.VIGIL_TEMPORAL_UI_URL,
    namespace: cfg.TEMPORAL_NAMESPACE,
    mention,
  });
  const channel = cfg.SLACK_CHANNEL;

  async function postOnce(
    mark: SlackMark,
    oldest: number,
    msg: { text: string; blocks?: Record<string, unknown>[]; threadTs?: string; broadcast?: boolean },
  ): Promise<SlackReceipt> {
    const found = await api.findMarked({ channel, eventType: mark.eventType, key: mark.key, oldest });
    if (found) return { ...found, reused: true, kind: msg.threadTs ? 'threaded' : 'posted' };
    const p = await api.postMessage({ channel, ...msg, mark });
    return { ...p, reused: false, kind: msg.threadTs ? 'threaded' : 'posted' };
  }

  /** One step of an approval's ladder: post the request, thread a reminder/escalation, or show the outcome. */
  async function approval(n: ApprovalNotice): Promise<SlackReceipt> {
    const r = n.record;
    // Incident ids are reused by later runs, and approval ids restart per run: requestedAt tells them apart.
    const base = shortHash(`${r.incidentId}\n${r.approvalId}\n${r.requestedAt}`);
    const oldest = unix(r.requestedAt) - CLOCK_SLACK_S;
    const requestMark: SlackMark = {
      eventType: EVENT_REQUEST,
      key: base,
      incidentId: r.incidentId,
      approvalId: r.approvalId,
    };
    const full = renderApproval(n, opts(cfg.SLACK_APPROVER_GROUPS));
    if (n.stage === 'requested') return postOnce(requestMark, oldest, full);

    const request = await api.findMarked({ channel, eventType: EVENT_REQUEST, key: base, oldest });
    if (n.stage === 'reminder' || n.stage === 'escalated') {
      const mention = n.stage === 'escalated' ? cfg.SLACK_ESCALATION_GROUPS : cfg.SLACK_APPROVER_GROUPS;
      // The request was never posted (Slack was down then): post it now, with its buttons.
      if (!request) return postOnce(requestMark, oldest, renderApproval(n, opts(mention)));
      const step = renderLadderStep(n, opts(mention));
      return postOnce({ ...requestMark, eventType: EVENT_STEP, key: `${base}:${n.stage}` }, oldest, {
        text: step.text,
        threadTs: request.ts,
        // Broadcast, so the step shows in the channel (and so a retry finds it in the channel's history).
        broadcast: true,
      });
    }
    // decided / expired: replace the buttons with the outcome on the request itself (idempotent).
    if (!request) return postOnce({ ...requestMark, key: `${base}:final` }, oldest, full);
    const u = await api.updateMessage({ channel, ts: request.ts, text: full.text, blocks: full.blocks });
    return { ...u, reused: false, kind: 'updated' };
  }

  /** An incident notification with its verdict buttons; `key` is the caller's idempotency key. */
  async function incident(n: IncidentNotice, key: string): Promise<SlackReceipt> {
    const m = renderIncident(n, opts([]));
    return postOnce(
      { eventType: EVENT_NOTICE, key: shortHash(key), incidentId: n.incidentId },
      unix(n.firstSeen) - CLOCK_SLACK_S,
      m,
    );
  }

  return { approval, incident };
}
export type SlackChannel = ReturnType<typeof createSlackChannel>;

export function createSlackActivities(api: SlackApi, cfg: SlackConfig) {
  const ch = createSlackChannel(api, cfg);
  return {
    /** Post / update the Slack approval message for one step of the ladder. */
    async notifySlackApproval(input: ApprovalNotice): Promise<SlackReceipt> {
      const n = parseInput(ApprovalNoticeSchema, input, 'notifySlackApproval');
      return withHeartbeat(() => ch.approval(n));
    },
    /** Post an incident notification to the channel once. */
    async notifySlack(input: IncidentNotice): Promise<SlackReceipt> {
      const n = parseInput(IncidentNoticeSchema, input, 'notifySlack');
      const key = currentIdempotencyKey('slack');
      return withHeartbeat(() => ch.incident(n, key));
    },
  };
}
export type SlackActivities = ReturnType<typeof createSlackActivities>;

export { createSlackApi } from './client.js';
export { loadSlackConfig, SlackConfig } from './config.js';
