/**
 * Block Kit renderings of Vigil's Slack messages (pure; shared by the Slack activities and the Slack
 * interaction server). Every event-derived string is escaped for mrkdwn (&, <, > per Slack's "Formatting
 * text": https://docs.slack.dev/messaging/formatting-message-text#escaping) and cannot mention @channel,
 * @here or @everyone, and every text is cut to Block Kit's limits (https://docs.slack.dev/reference/block-kit/blocks):
 * header 150, section text 3000, field 2000, button text 75, button value 2000, confirm title 100 / text 300.
 */
import type { ApprovalNotice, IncidentNotice } from '../contracts/playbook.js';
import type { SlackBlock } from '../contracts/slack.js';
import type { ApprovalRequestRecord } from '../policy/approval.js';

export const LIMITS = {
  header: 150,
  sectionText: 3000,
  field: 2000,
  fields: 10,
  buttonText: 75,
  buttonValue: 2000,
  confirmTitle: 100,
  confirmText: 300,
  blocks: 50,
  fallbackText: 3000,
} as const;

export const ACTION_APPROVE = 'vigil_approve';
export const ACTION_DENY = 'vigil_deny';
/** The block holding the buttons while the approval is pending, replaced by the outcome once decided. */
export const BLOCK_ACTIONS = 'vigil_approval_actions';
export const BLOCK_OUTCOME = 'vigil_approval_outcome';
export const BLOCK_PROGRESS = 'vigil_approval_progress';
/** Analyst verdicts on an incident notification: the buttons, and the current verdict above them. */
export const ACTION_VERDICT_TP = 'vigil_verdict_tp';
export const ACTION_VERDICT_FP = 'vigil_verdict_fp';
export const BLOCK_VERDICT_ACTIONS = 'vigil_verdict_actions';
export const BLOCK_VERDICT = 'vigil_verdict';

/** Word joiner: keeps "@here" readable but no longer a broadcast mention. */
const WJ = '\u2060';

/** Escape untrusted text for mrkdwn: no markup, links or mentions can be injected. */
export function escapeMrkdwn(s: string): string {
  return (
    s
      // C0 controls (but newline and tab) and DEL: nothing legitimate needs them in a message.
      .replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, '')
      .replace(/&/g, '&amp;')
      .replace(/</g, '&lt;')
      .replace(/>/g, '&gt;')
      .replace(/([@!])(channel|here|everyone)\b/gi, `$1${WJ}$2`)
  );
}

/** Untrusted text inside an inline code span: escaped, and it cannot close the span. */
export function code(s: string): string {
  const inner = escapeMrkdwn(s).replace(/`/g, 'ˋ').replace(/\n/g, ' ');
  return inner ? `\`${inner}\`` : '`-`';
}

/** Cut to `max` characters (counting the ellipsis), never splitting an escape sequence. */
export function truncate(s: string, max: number): string {
  if (s.length <= max) return s;
  let cut = s.slice(0, max - 1);
  const amp = cut.lastIndexOf('&');
  if (amp >= 0 && !cut.slice(amp).includes(';') && amp >= cut.length - 6) cut = cut.slice(0, amp);
  return `${cut}…`;
}

/** plain_text is never parsed for markup or mentions; the broadcast words are still defused. */
const plain = (text: string, max: number) => ({
  type: 'plain_text',
  text: truncate(text.replace(/([@!])(channel|here|everyone)\b/gi, `$1${WJ}$2`), max),
  emoji: false,
});
const mrkdwn = (text: string, max: number = LIMITS.sectionText) => ({
  type: 'mrkdwn',
  text: truncate(text, max),
});

/**
 * The button value: an opaque reference to one approval (incident, approval id, parameters hash), never
 * the decision or the parameters themselves. The server looks the approval up in the workflow; the
 * hash binds the click to the parameters this message showed.
 */
export function approvalRef(
  r: Pick<ApprovalRequestRecord, 'incidentId' | 'approvalId' | 'paramsHash'>,
): string {
  const v = `apv1.${Buffer.from(JSON.stringify([r.incidentId, r.approvalId, r.paramsHash])).toString('base64url')}`;
  if (v.length > LIMITS.buttonValue)
    throw new RangeError('approval reference exceeds the button value limit');
  return v;
}

export interface ApprovalRef {
  incidentId: string;
  approvalId: string;
  paramsHash: string;
}

/** Parse a button value; undefined for anything that is not exactly one of ours. */
export function parseApprovalRef(v: unknown): ApprovalRef | undefined {
  if (typeof v !== 'string' || v.length > LIMITS.buttonValue || !v.startsWith('apv1.')) return undefined;
  let x: unknown;
  try {
    x = JSON.parse(Buffer.from(v.slice(5), 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
  if (!Array.isArray(x) || x.length !== 3) return undefined;
  const [incidentId, approvalId, paramsHash] = x as unknown[];
  if (
    typeof incidentId !== 'string' ||
    !/^[\x21-\x7e]{1,600}$/.test(incidentId) ||
    typeof approvalId !== 'string' ||
    !/^[a-z][a-z0-9-]{0,80}$/.test(approvalId) ||
    typeof paramsHash !== 'string' ||
    !/^[0-9a-f]{16}$/.test(paramsHash)
  )
    return undefined;
  return { incidentId, approvalId, paramsHash };
}

/**
 * The verdict buttons' value: an opaque reference to the incident only (the label is the button's
 * action id). The server takes the snapshot it stores from the incident itself, never from the message.
 */
export function verdictRef(incidentId: string): string {
  const v = `vdv1.${Buffer.from(JSON.stringify([incidentId])).toString('base64url')}`;
  if (v.length > LIMITS.buttonValue) throw new RangeError('verdict reference exceeds the button value limit');
  return v;
}

/** Parse a verdict button value; undefined for anything that is not exactly one of ours. */
export function parseVerdictRef(v: unknown): { incidentId: string } | undefined {
  if (typeof v !== 'string' || v.length > LIMITS.buttonValue || !v.startsWith('vdv1.')) return undefined;
  let x: unknown;
  try {
    x = JSON.parse(Buffer.from(v.slice(5), 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
  if (!Array.isArray(x) || x.length !== 1) return undefined;
  const [incidentId] = x as unknown[];
  if (typeof incidentId !== 'string' || !/^[\x21-\x7e]{1,600}$/.test(incidentId)) return undefined;
  return { incidentId };
}

/** An analyst's verdict as the message shows it (operator ids are ours, still escaped). */
export interface VerdictView {
  verdict: 'tp' | 'fp';
  operator: string;
  at: string;
  /** The verdict it replaced, when this one changed it. */
  previous?: 'tp' | 'fp';
}

const VERDICT_LABEL = { tp: 'True positive', fp: 'False positive' } as const;

/** The verdict line (once given) and the True / False positive buttons (kept: another operator may change it). */
export function verdictBlocks(incidentId: string, v?: VerdictView): SlackBlock[] {
  const value = verdictRef(incidentId);
  const line = v
    ? `${v.verdict === 'tp' ? ':dart:' : ':white_circle:'} *Verdict: ${VERDICT_LABEL[v.verdict]}* by ${code(v.operator)} at ${escapeMrkdwn(v.at)}${v.previous && v.previous !== v.verdict ? ` (changed from ${VERDICT_LABEL[v.previous].toLowerCase()})` : ''}`
    : 'No analyst verdict yet: was this a true or a false positive?';
  return [
    { type: 'context', block_id: BLOCK_VERDICT, elements: [mrkdwn(line, LIMITS.field)] },
    {
      type: 'actions',
      block_id: BLOCK_VERDICT_ACTIONS,
      elements: [
        {
          type: 'button',
          action_id: ACTION_VERDICT_TP,
          text: plain(VERDICT_LABEL.tp, LIMITS.buttonText),
          value,
        },
        {
          type: 'button',
          action_id: ACTION_VERDICT_FP,
          text: plain(VERDICT_LABEL.fp, LIMITS.buttonText),
          value,
        },
      ],
    },
  ];
}

/** The same message with its verdict blocks replaced (everything else stays as posted). */
export function withVerdict(blocks: SlackBlock[], incidentId: string, v: VerdictView): SlackBlock[] {
  const keep = blocks.filter(
    (b) => !(typeof b.block_id === 'string' && [BLOCK_VERDICT, BLOCK_VERDICT_ACTIONS].includes(b.block_id)),
  );
  return [...keep, ...verdictBlocks(incidentId, v)].slice(0, LIMITS.blocks);
}

export interface RenderOptions {
  /** Temporal UI base, e.g. http://127.0.0.1:8233 (the incident link is <base>/namespaces/<ns>/workflows/<id>). */
  temporalUiUrl?: string;
  namespace?: string;
  /** User group ids (S...) to mention; built from configuration, never from event data. */
  mention?: string[];
}

function incidentLink(incidentId: string, o: RenderOptions): string | undefined {
  if (!o.temporalUiUrl) return undefined;
  const url = `${o.temporalUiUrl.replace(/\/+$/, '')}/namespaces/${encodeURIComponent(o.namespace ?? 'vigil')}/workflows/${encodeURIComponent(incidentId)}`;
  // The URL is ours (config + an encoded id); `|` and `>` cannot occur in it after encoding.
  return `<${url.replace(/[|<>]/g, encodeURIComponent)}|Open the incident in the Temporal UI>`;
}

const mentions = (ids: string[] | undefined) =>
  (ids ?? [])
    .filter((g) => /^S[A-Z0-9]{2,20}$/.test(g))
    .map((g) => `<!subteam^${g}>`)
    .join(' ');

const STAGE_LABEL: Record<ApprovalNotice['stage'], string> = {
  requested: 'Approval needed',
  reminder: 'Reminder: approval needed',
  escalated: 'Escalated: approval needed',
  expired: 'Expired: denied by default',
  decided: 'Decided',
};

/** The outcome line(s) for a record: who decided what and when (operator ids are ours, still escaped). */
export function outcomeText(r: ApprovalRequestRecord): string {
  const by = r.decidedBy;
  const who = (x: { operator: string; at: string; via: string }) =>
    `${code(x.operator)} via ${escapeMrkdwn(x.via)} at ${escapeMrkdwn(x.at)}`;
  switch (r.status) {
    case 'approved':
      return `:white_check_mark: *Approved* by ${r.approvers.map(who).join(' and ')}${by?.reason ? `\n>${escapeMrkdwn(by.reason)}` : ''}`;
    case 'denied':
      return `:no_entry: *Denied* by ${by ? who(by) : 'an operator'}${by?.reason ? `\n>${escapeMrkdwn(by.reason)}` : ''}`;
    case 'expired':
      return `:hourglass: *Expired*: nobody answered before ${escapeMrkdwn(r.deadline)}; the safe default (deny) was applied and the incident is left open for a human.`;
    default:
      return r.approvers.length
        ? `:hourglass_flowing_sand: Approved by ${r.approvers.map(who).join(' and ')} (${r.approvers.length} of ${r.needed}); waiting for ${r.needed - r.approvers.length} more, different approver.`
        : `Waiting for ${r.needed} approver${r.needed > 1 ? 's' : ''} (${escapeMrkdwn(r.roles.join(', ') || 'nobody')}) until ${escapeMrkdwn(r.deadline)}; without an answer the action is denied.`;
  }
}

function confirm(title: string, text: string, yes: string, style?: 'danger') {
  return {
    title: plain(title, LIMITS.confirmTitle),
    text: { type: 'mrkdwn', text: truncate(text, LIMITS.confirmText) },
    confirm: plain(yes, 30),
    deny: plain('Cancel', 30),
    ...(style ? { style } : {}),
  };
}

/** The buttons (pending) or the outcome (decided): the only blocks that change after posting. */
export function decisionBlocks(r: ApprovalRequestRecord): SlackBlock[] {
  if (r.status !== 'pending')
    return [{ type: 'section', block_id: BLOCK_OUTCOME, text: mrkdwn(outcomeText(r)) }];
  const value = approvalRef(r);
  const target = `${r.action} on ${JSON.stringify(r.params)}`;
  return [
    { type: 'context', block_id: BLOCK_PROGRESS, elements: [mrkdwn(outcomeText(r), LIMITS.field)] },
    {
      type: 'actions',
      block_id: BLOCK_ACTIONS,
      elements: [
        {
          type: 'button',
          action_id: ACTION_APPROVE,
          style: 'primary',
          text: plain(`Approve ${r.action}`, LIMITS.buttonText),
          value,
          confirm: confirm(
            `Approve ${r.action}?`,
            `You approve ${code(target)} (parameters ${r.paramsHash}). This runs the action.`,
            'Approve',
          ),
        },
        {
          type: 'button',
          action_id: ACTION_DENY,
          style: 'danger',
          text: plain('Deny', LIMITS.buttonText),
          value,
          confirm: confirm(`Deny ${r.action}?`, `You deny ${code(target)}.`, 'Deny', 'danger'),
        },
      ],
    },
  ];
}

/** An approval request: what happened, the exact action and parameters, why, and Approve / Deny. */
export function renderApproval(
  n: ApprovalNotice,
  o: RenderOptions = {},
): { text: string; blocks: SlackBlock[] } {
  const r = n.record;
  const header = `${STAGE_LABEL[n.stage]}: ${r.action} on ${n.host}`;
  const fields = [
    `*Action*\n${code(r.action)} (${r.class}; ${r.needed} distinct approver${r.needed > 1 ? 's' : ''})`,
    `*Host*\n${code(n.host)}`,
    `*Rule*\n${code(n.rule)}`,
    `*Verdict*\n${escapeMrkdwn(n.verdict)}, risk ${Math.round(n.riskScore)}/100`,
    `*Requested by*\n${code(r.requester)} at ${escapeMrkdwn(r.requestedAt)}`,
    `*Deadline*\n${escapeMrkdwn(r.deadline)}`,
  ].map((t) => mrkdwn(t, LIMITS.field));
  const params = Object.keys(r.params)
    .sort()
    .map((k) => `• ${code(k)} = ${code(String(r.params[k]))}`)
    .join('\n');
  const reasons = n.reasons
    .slice(0, 8)
    .map((x) => `• ${escapeMrkdwn(truncate(x, 300))}`)
    .join('\n');
  const link = incidentLink(r.incidentId, o);
  const ping = n.stage === 'requested' || n.stage === 'escalated' ? mentions(o.mention) : '';
  const blocks: SlackBlock[] = [
    { type: 'header', text: plain(header, LIMITS.header) },
    ...(ping ? [{ type: 'section', text: mrkdwn(`${ping} please decide:`) }] : []),
    { type: 'section', fields },
    { type: 'section', text: mrkdwn(`*Exact parameters* (hash \`${r.paramsHash}\`)\n${params || '• none'}`) },
    { type: 'section', text: mrkdwn(`*Why*\n${reasons || '• no reasons given'}`) },
    {
      type: 'context',
      elements: [
        mrkdwn(
          `Incident ${code(r.incidentId)} · approval ${code(r.approvalId)}${link ? ` · ${link}` : ''}`,
          LIMITS.field,
        ),
      ],
    },
    ...decisionBlocks(r),
  ];
  const text = truncate(
    `${ping ? `${ping} ` : ''}${escapeMrkdwn(header)} (incident ${escapeMrkdwn(r.incidentId)})`,
    LIMITS.fallbackText,
  );
  return { text, blocks };
}

/**
 * The same message with its decision blocks replaced for `r` (used by the interaction server on the
 * message it received, so everything else stays as posted).
 */
export function withDecision(blocks: SlackBlock[], r: ApprovalRequestRecord): SlackBlock[] {
  const keep = blocks.filter(
    (b) =>
      !(
        typeof b.block_id === 'string' && [BLOCK_ACTIONS, BLOCK_OUTCOME, BLOCK_PROGRESS].includes(b.block_id)
      ),
  );
  return [...keep, ...decisionBlocks(r)].slice(0, LIMITS.blocks);
}

/** A short line in the request's thread: reminders and escalations (mentions from configuration only). */
export function renderLadderStep(n: ApprovalNotice, o: RenderOptions = {}): { text: string } {
  const r = n.record;
  const ping = mentions(o.mention);
  const what = n.stage === 'escalated' ? 'Escalated' : 'Reminder';
  return {
    text: truncate(
      `${ping ? `${ping} ` : ''}${what}: ${code(r.action)} on ${code(n.host)} still needs ${r.needed - r.approvers.length} approval(s) before ${escapeMrkdwn(r.deadline)}; without an answer it is denied. Use the buttons on the request above.`,
      LIMITS.fallbackText,
    ),
  };
}

/** An incident notification, with the analysts' True positive / False positive buttons. */
export function renderIncident(
  n: IncidentNotice,
  o: RenderOptions = {},
): { text: string; blocks: SlackBlock[] } {
  const header = `${n.verdict.toUpperCase()} ${n.severity} on ${n.host}: ${n.rule}`;
  const techniques = n.techniques
    .map((t) => `${code(t.id)}${t.name ? ` ${escapeMrkdwn(t.name)}` : ''}${t.known ? '' : ' (unknown id)'}`)
    .join(', ');
  const link = incidentLink(n.incidentId, o);
  const blocks: SlackBlock[] = [
    { type: 'header', text: plain(header, LIMITS.header) },
    {
      type: 'section',
      fields: [
        `*Host*\n${code(n.host)}`,
        `*Rule*\n${code(n.rule)}`,
        `*Verdict*\n${escapeMrkdwn(n.verdict)}, risk ${Math.round(n.riskScore)}/100`,
        `*ATT&amp;CK*\n${techniques || 'none given'}`,
        `*Lineage*\n${code(n.lineage.join(' <- ') || 'unknown')}`,
        `*Events*\n${n.eventCount} since ${escapeMrkdwn(n.firstSeen)}`,
      ].map((t) => mrkdwn(t, LIMITS.field)),
    },
    ...(n.commandLine ? [{ type: 'section', text: mrkdwn(`*Command line*\n${code(n.commandLine)}`) }] : []),
    {
      type: 'section',
      text: mrkdwn(
        `*Why*\n${
          n.reasons
            .slice(0, 8)
            .map((x) => `• ${escapeMrkdwn(truncate(x, 300))}`)
            .join('\n') || '• no reasons given'
        }`,
      ),
    },
    ...(n.recommended.length
      ? [
          {
            type: 'section',
            text: mrkdwn(
              `*Recommended (not run automatically)*\n${n.recommended
                .slice(0, 8)
                .map((x) => `• ${escapeMrkdwn(truncate(x, 300))}`)
                .join('\n')}`,
            ),
          },
        ]
      : []),
    {
      type: 'context',
      elements: [
        mrkdwn(
          `Incident ${code(n.incidentId)} · playbook ${code(n.playbook)}${link ? ` · ${link}` : ''}`,
          LIMITS.field,
        ),
      ],
    },
    ...verdictBlocks(n.incidentId),
  ];
  return { text: truncate(`[Vigil] ${escapeMrkdwn(header)}`, LIMITS.fallbackText), blocks };
}
