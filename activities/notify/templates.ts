/** Text and HTML renderings of an incident notice. Every interpolated value is escaped in HTML. */
import type { IncidentNotice } from '../../src/contracts/playbook.js';

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
