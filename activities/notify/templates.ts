/**
 * Text and HTML renderings of notices and digests, and the text of chat webhooks. Event data is
 * attacker-controlled: every interpolated value is HTML-escaped in HTML, stripped of control characters
 * in text, kept to one line in headers, and escaped for the chat's markup in chat messages.
 */
import type { DigestNotice } from '../../src/contracts/notify.js';
import type { ApprovalNotice, IncidentNotice } from '../../src/contracts/playbook.js';

export const esc = (s: string) =>
  s.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c,
  );

/**
 * Header values must not carry line breaks (header injection through a rule name or hostname), nor other
 * control characters or Unicode line/paragraph separators.
 */
const oneLine = (s: string) => s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, ' ').slice(0, 200);

/** Text bodies: no terminal escape sequences or other control characters (newlines and tabs stay). */
export const cleanText = (s: string) => s.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, '');

export function renderNotice(n: IncidentNotice): { subject: string; text: string; html: string } {
  const subject = oneLine(`[Vigil] ${n.verdict.toUpperCase()} ${n.severity} on ${n.host}: ${n.rule}`);
  const techniques = n.techniques.map(
    (t) => `${t.id}${t.name ? ` ${t.name}` : ''}${t.known ? '' : ' (unknown id)'}`,
  );
  const rows: [string, string][] = [
    ['Incident', n.incidentId],
    ['Host', n.host],
    ['Rule', n.rule],
    ['Severity', n.severity],
    ['Verdict', `${n.verdict} (risk ${n.riskScore}/100)`],
    ['ATT&CK', techniques.join(', ') || 'none given'],
    ['Lineage', n.lineage.join(' <- ') || 'unknown'],
    ['Command line', n.commandLine ?? 'unknown'],
    ['Events', `${n.eventCount} since ${n.firstSeen}`],
    ['Playbook', n.playbook],
  ];
  const text = cleanText(
    [
      ...rows.map(([k, v]) => `${k}: ${v}`),
      '',
      'Why:',
      ...n.reasons.map((r) => `  - ${r}`),
      '',
      'Recommended actions (not run automatically):',
      ...(n.recommended.length ? n.recommended.map((r) => `  - ${r}`) : ['  - none']),
      '',
      `Inspect: vigil show ${n.incidentId}`,
    ].join('\n'),
  );
  const html = `<!doctype html><html><body style="font-family:sans-serif">
<h2>${esc(subject)}</h2>
<table cellpadding="4">${rows.map(([k, v]) => `<tr><th align="left">${esc(k)}</th><td>${esc(v)}</td></tr>`).join('')}</table>
<h3>Why</h3><ul>${n.reasons.map((r) => `<li>${esc(r)}</li>`).join('')}</ul>
<h3>Recommended actions (not run automatically)</h3><ul>${(n.recommended.length ? n.recommended : ['none']).map((r) => `<li>${esc(r)}</li>`).join('')}</ul>
<p>Inspect: <code>vigil show ${esc(n.incidentId)}</code></p>
</body></html>`;
  return { subject, text, html };
}

const STAGE_TITLE: Record<ApprovalNotice['stage'], string> = {
  requested: 'APPROVAL NEEDED',
  reminder: 'REMINDER: approval needed',
  escalated: 'ESCALATED: approval needed',
  expired: 'EXPIRED (denied by default)',
  decided: 'DECIDED',
};

export function renderApproval(n: ApprovalNotice): { subject: string; text: string; html: string } {
  const r = n.record;
  const subject = oneLine(`[Vigil] ${STAGE_TITLE[n.stage]}: ${r.action} on ${n.host} (${r.incidentId})`);
  const outcome =
    r.status === 'pending'
      ? `Waiting for ${r.needed - r.approvers.length} more approval(s) from: ${r.roles.join(', ')}. Deadline ${r.deadline}; without an answer the action is denied.`
      : `Outcome: ${r.status}${r.decidedBy ? ` by ${r.decidedBy.operator} at ${r.decidedBy.at} via ${r.decidedBy.via}` : ''}.`;
  const rows: [string, string][] = [
    ['Incident', r.incidentId],
    ['Action', `${r.action} (${r.class}; ${r.needed} distinct approver${r.needed > 1 ? 's' : ''})`],
    ['Parameters', JSON.stringify(r.params)],
    ['Approval id', `${r.approvalId} (parameters ${r.paramsHash})`],
    ['Host / rule', `${n.host} / ${n.rule}`],
    ['Verdict', `${n.verdict} (risk ${n.riskScore}/100)`],
    ['Requested by', `${r.requester} at ${r.requestedAt}`],
    ['Approved by', r.approvers.map((a) => `${a.operator} (${a.role}, ${a.via})`).join(', ') || 'nobody yet'],
  ];
  const how = [
    `Approve: vigil approve ${r.incidentId} ${r.approvalId}`,
    `Deny:    vigil deny ${r.incidentId} ${r.approvalId} --reason "..."`,
    `HTTP:    POST /v1/incidents/${r.incidentId}/approvals/${r.approvalId} {"decision":"approve","paramsHash":"${r.paramsHash}"} with an operator token`,
  ];
  const text = cleanText(
    [
      ...rows.map(([k, v]) => `${k}: ${v}`),
      '',
      outcome,
      '',
      'Why:',
      ...n.reasons.map((x) => `  - ${x}`),
      '',
      ...(r.status === 'pending' ? how : []),
    ].join('\n'),
  );
  const html = `<!doctype html><html><body style="font-family:sans-serif">
<h2>${esc(subject)}</h2>
<table cellpadding="4">${rows.map(([k, v]) => `<tr><th align="left">${esc(k)}</th><td>${esc(v)}</td></tr>`).join('')}</table>
<p>${esc(outcome)}</p>
<h3>Why</h3><ul>${n.reasons.map((x) => `<li>${esc(x)}</li>`).join('')}</ul>
${r.status === 'pending' ? `<pre>${esc(how.join('\n'))}</pre>` : ''}
</body></html>`;
  return { subject, text, html };
}

/** One line naming an incident notice (the digest's summary of a held-back notification). */
export function noticeSummary(n: IncidentNotice): string {
  return oneLine(`${n.verdict.toUpperCase()} ${n.severity} on ${n.host}: ${n.rule} (${n.incidentId})`);
}

const minutes = (ms: number) => (ms % 60_000 === 0 ? `${ms / 60_000}m` : `${Math.round(ms / 1000)}s`);

/** The digest: everything a channel held back since the last one, counted exactly. */
export function renderDigest(d: DigestNotice): { subject: string; text: string; html: string } {
  const subject = oneLine(
    `[Vigil] DIGEST: ${d.suppressed} notification${d.suppressed === 1 ? '' : 's'} held back${d.failedTotal ? `, ${d.failedTotal} undeliverable` : ''} (${d.channel})`,
  );
  const policy = `at most ${d.limit.perWindow} per ${minutes(d.limit.windowMs)}; the same key within ${minutes(d.limit.dedupeMs)} is a duplicate`;
  const line = (g: DigestNotice['groups'][number]) =>
    `${g.count} x ${g.summary} [key ${g.key}] (${g.duplicates} duplicate${g.duplicates === 1 ? '' : 's'}, ${g.count - g.duplicates} over the rate; ${g.first} .. ${g.last})`;
  const text = cleanText(
    [
      `Channel: ${d.channel}`,
      `Period: ${d.from} .. ${d.to}`,
      `Rate limit: ${policy}`,
      `Held back: ${d.suppressed} (listed below by key${d.unlisted ? `; ${d.unlisted} more counted but not listed` : ''})`,
      '',
      ...d.groups.map((g) => `  - ${line(g)}`),
      ...(d.unlisted ? [`  - ${d.unlisted} more notification(s) beyond the listed keys`] : []),
      ...(d.failedTotal
        ? [
            '',
            `Undeliverable after every retry: ${d.failedTotal}`,
            ...d.failed.map((f) => `  - ${f.summary} [key ${f.key}] at ${f.at}: ${f.error}`),
          ]
        : []),
      '',
      'Inspect: vigil incidents',
    ].join('\n'),
  );
  const html = `<!doctype html><html><body style="font-family:sans-serif">
<h2>${esc(subject)}</h2>
<p>Channel ${esc(d.channel)}, ${esc(d.from)} .. ${esc(d.to)}. Rate limit: ${esc(policy)}.</p>
<p>Held back: <b>${d.suppressed}</b>${d.unlisted ? ` (${d.unlisted} counted but not listed by key)` : ''}</p>
<table cellpadding="4"><tr><th align="left">count</th><th align="left">duplicates</th><th align="left">notification</th><th align="left">key</th><th align="left">first .. last</th></tr>
${d.groups.map((g) => `<tr><td>${g.count}</td><td>${g.duplicates}</td><td>${esc(g.summary)}</td><td><code>${esc(g.key)}</code></td><td>${esc(g.first)} .. ${esc(g.last)}</td></tr>`).join('\n')}
</table>
${d.failedTotal ? `<h3>Undeliverable after every retry: ${d.failedTotal}</h3><ul>${d.failed.map((f) => `<li>${esc(f.summary)} <code>${esc(f.key)}</code> at ${esc(f.at)}: ${esc(f.error)}</li>`).join('')}</ul>` : ''}
</body></html>`;
  return { subject, text, html };
}

// ---------------------------------------------------------------------------------------------------------
// Chat markup. Event values are data, never markup: no links, mentions or formatting from an event.

/**
 * Slack mrkdwn (also what Slack-compatible receivers read): Slack's documented escaping is &, <, > as
 * entities, which also defuses <!channel>, <@U123> and <url|text> link syntax
 * (https://api.slack.com/reference/surfaces/formatting#escaping).
 */
export const slackEscape = (s: string) =>
  cleanText(s).replace(/[&<>]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;' })[c] ?? c);

/**
 * Markdown (Mattermost posts, Teams Adaptive Card TextBlocks): backslash-escape CommonMark punctuation so
 * nothing becomes a link, image or emphasis; break @-mentions (@channel, @all, @user) and Adaptive Card
 * template functions ({{DATE(..)}}) with a zero-width space.
 */
export const markdownEscape = (s: string) =>
  cleanText(s)
    .replace(/[\\`*_{}[\]()#+\-.!|<>~]/g, (c) => `\\${c}`)
    .replace(/@/g, '@\u200b')
    .replace(/\{\{/g, '{\u200b{')
    .replace(/\n/g, '  \n');

/** The lines of a chat message (title + facts) for an incident or a digest, with `escape` applied to values. */
export function chatLines(
  m: { kind: 'incident'; notice: IncidentNotice } | { kind: 'digest'; digest: DigestNotice },
  escape: (s: string) => string,
  maxGroups = 50,
): { title: string; facts: [string, string][]; lines: string[] } {
  if (m.kind === 'incident') {
    const n = m.notice;
    return {
      title: escape(`Vigil: ${n.verdict.toUpperCase()} ${n.severity} on ${n.host}`),
      facts: [
        ['Rule', escape(n.rule)],
        ['Incident', escape(n.incidentId)],
        ['Risk', `${n.riskScore}/100`],
        ['ATT&CK', escape(n.techniques.map((t) => t.id).join(', ') || 'none given')],
        ['Command line', escape(n.commandLine ?? 'unknown')],
        ['Events', escape(`${n.eventCount} since ${n.firstSeen}`)],
      ],
      lines: [
        ...n.reasons.map((r) => `- ${escape(r)}`),
        ...n.recommended.map((r) => `- recommended: ${escape(r)}`),
        `Inspect: ${escape(`vigil show ${n.incidentId}`)}`,
      ],
    };
  }
  const d = m.digest;
  const shown = d.groups.slice(0, maxGroups);
  const more = d.groups.slice(maxGroups).reduce((a, g) => a + g.count, 0) + d.unlisted;
  return {
    title: escape(`Vigil digest: ${d.suppressed} notification(s) held back on ${d.channel}`),
    facts: [
      ['Period', escape(`${d.from} .. ${d.to}`)],
      ['Held back', String(d.suppressed)],
      ['Undeliverable', String(d.failedTotal)],
    ],
    lines: [
      ...shown.map((g) => `- ${g.count} x ${escape(g.summary)} (${g.duplicates} duplicate(s))`),
      ...(more ? [`- ${more} more not listed here`] : []),
      ...d.failed.map((f) => `- undeliverable: ${escape(f.summary)}: ${escape(f.error)}`),
    ],
  };
}
