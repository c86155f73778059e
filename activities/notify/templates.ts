/** Text and HTML renderings of an incident notice. Every interpolated value is escaped in HTML. */
import type { ApprovalNotice, IncidentNotice } from '../../src/contracts/playbook.js';

const esc = (s: string) =>
  s.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c,
  );

/** Header values must not carry line breaks (header injection through a rule name or hostname). */
const oneLine = (s: string) => s.replace(/[\r\n]+/g, ' ').slice(0, 200);

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
  const text = [
    ...rows.map(([k, v]) => `${k}: ${v}`),
    '',
    'Why:',
    ...n.reasons.map((r) => `  - ${r}`),
    '',
    'Recommended actions (not run automatically):',
    ...(n.recommended.length ? n.recommended.map((r) => `  - ${r}`) : ['  - none']),
    '',
    `Inspect: vigil show ${n.incidentId}`,
  ].join('\n');
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
  const text = [
    ...rows.map(([k, v]) => `${k}: ${v}`),
    '',
    outcome,
    '',
    'Why:',
    ...n.reasons.map((x) => `  - ${x}`),
    '',
    ...(r.status === 'pending' ? how : []),
  ].join('\n');
  const html = `<!doctype html><html><body style="font-family:sans-serif">
<h2>${esc(subject)}</h2>
<table cellpadding="4">${rows.map(([k, v]) => `<tr><th align="left">${esc(k)}</th><td>${esc(v)}</td></tr>`).join('')}</table>
<p>${esc(outcome)}</p>
<h3>Why</h3><ul>${n.reasons.map((x) => `<li>${esc(x)}</li>`).join('')}</ul>
${r.status === 'pending' ? `<pre>${esc(how.join('\n'))}</pre>` : ''}
</body></html>`;
  return { subject, text, html };
}
