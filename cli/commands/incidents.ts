/** `vigil incidents` and `vigil show <incident>`: read incidents from Temporal (visibility, queries, results). */
import { Client, Connection, WorkflowNotFoundError } from '@temporalio/client';
import { INCIDENT_WORKFLOW, statusQuery, type IncidentStatus } from '../../src/contracts/incident.js';
import type { PlaybookBuild } from '../../src/contracts/playbook.js';
import type { incident } from '../../playbooks/incident.js';
import { printJson, table, UsageError } from '../output.js';
import { codecFromEnv, dataConverterFor } from '../../src/codec/config.js';
import { readStack } from '../state.js';

async function withClient<T>(fn: (c: Client) => Promise<T>): Promise<T> {
  const { state, creds } = readStack();
  const connection = await Connection.connect({ address: state.temporal.address, connectTimeout: 5000 });
  // The payload keys: the operator's environment, else the dev stack's.
  const codec = codecFromEnv({
    VIGIL_PAYLOAD_KEYS: process.env.VIGIL_PAYLOAD_KEYS ?? creds.payloadKeys,
    VIGIL_PAYLOAD_KEY_ID: process.env.VIGIL_PAYLOAD_KEY_ID,
  });
  try {
    return await fn(
      new Client({ connection, namespace: state.temporal.namespace, dataConverter: dataConverterFor(codec) }),
    );
  } finally {
    await connection.close();
  }
}

const quote = (v: string, what: string) => {
  if (!/^[\w.:@-]+$/.test(v)) throw new UsageError(`${what} may contain only letters, digits and . : @ - _`);
  return `'${v}'`;
};

export async function incidents(opts: {
  status?: string;
  host?: string;
  limit?: number;
  json: boolean;
}): Promise<void> {
  const clauses = [`WorkflowType = '${INCIDENT_WORKFLOW}'`];
  if (opts.status) {
    if (!['open', 'closed'].includes(opts.status)) throw new UsageError('--status is open or closed');
    clauses.push(`VigilStatus = '${opts.status}'`);
  }
  if (opts.host) clauses.push(`VigilHost = ${quote(opts.host, '--host')}`);
  const limit = opts.limit ?? 50;
  const rows = await withClient(async (client) => {
    const out = [];
    for await (const wf of client.workflow.list({ query: clauses.join(' AND ') })) {
      const sa = wf.searchAttributes;
      const pick = (k: string) => (sa[k]?.[0] as string | undefined) ?? '';
      out.push({
        incidentId: wf.workflowId,
        runId: wf.runId,
        status: pick('VigilStatus') || (wf.status.name === 'RUNNING' ? 'open' : 'closed'),
        execution: wf.status.name,
        host: pick('VigilHost'),
        severity: pick('VigilSeverity'),
        playbook: pick('VigilPlaybook'),
        techniques: (sa.VigilTechnique ?? []) as string[],
        startedAt: wf.startTime.toISOString(),
        closedAt: wf.closeTime?.toISOString(),
      });
      if (out.length >= limit) break;
    }
    return out;
  });
  if (opts.json) return printJson(rows);
  process.stdout.write(
    `${table(
      rows.map((r) => ({
        ...r,
        techniques: r.techniques.join(','),
        startedAt: r.startedAt.replace(/\.\d+Z$/, 'Z'),
      })),
      ['incidentId', 'status', 'host', 'severity', 'playbook', 'techniques', 'startedAt'],
    )}\n`,
  );
}

/** The build of the playbooks that handled an incident, for people. */
export function describeBuild(b: PlaybookBuild | undefined): string {
  if (!b) return '- (recorded before builds were recorded)';
  const parts = [b.id];
  if (b.gitRevision && !b.id.startsWith('git:'))
    parts.push(`git ${b.gitRevision.slice(0, 12)}${b.dirty ? '+dirty' : ''}`);
  if (b.codeSha256) parts.push(`code sha256:${b.codeSha256.slice(0, 12)}`);
  if (!b.id.includes(b.packageVersion)) parts.push(b.packageVersion);
  return parts.join('   ');
}

export async function show(opts: { incident?: string; json: boolean }): Promise<void> {
  if (!opts.incident) throw new UsageError('vigil show: give an incident id (see vigil incidents)');
  const id = opts.incident;
  const status = await withClient(async (client) => {
    const handle = client.workflow.getHandle<typeof incident>(id);
    let desc;
    try {
      desc = await handle.describe();
    } catch (e) {
      if (e instanceof WorkflowNotFoundError) throw new UsageError(`no incident ${id}`);
      throw e;
    }
    type Shown = Partial<IncidentStatus> & { execution: string };
    if (desc.status.name === 'RUNNING')
      return { execution: desc.status.name, ...(await handle.query(statusQuery)) } satisfies Shown;
    if (desc.status.name === 'COMPLETED') {
      const result = await handle.result();
      return { execution: desc.status.name, ...result } satisfies Shown;
    }
    return { execution: desc.status.name, incidentId: id } satisfies Shown;
  });
  if (opts.json) return printJson(status);
  const s: Partial<IncidentStatus> & { execution: string } = status;
  const lines = [
    `Incident   ${s.incidentId}  (${s.status ?? s.execution.toLowerCase()}, workflow ${s.execution})`,
    `Key        ${s.correlationKey ?? ''}`,
    `Host       ${s.host ?? ''}   Severity ${s.severity ?? ''}   Rule ${s.rule ?? ''}`,
    `Stage      ${s.stage ?? ''}   Playbook ${s.playbook ? `${s.playbook.name}@${s.playbook.version}` : ''}${s.shadow ? '   SHADOW MODE (containment and approvals recorded, not executed)' : ''}`,
    `Build      ${describeBuild(s.build)}`,
    `Verdict    ${s.verdict ?? '-'}   Risk ${s.riskScore ?? '-'}`,
    `Events     ${s.eventCount ?? 0} (first ${s.firstSeen ?? '-'}, last ${s.lastSeen ?? '-'})   ATT&CK ${(s.techniques ?? []).join(', ') || '-'}`,
    `Outcome    ${s.outcome ?? '-'}`,
    '',
    'Decisions:',
    ...(s.decisions ?? []).flatMap((d) => [
      `  ${d.at}  ${d.by}@${d.version}: ${d.verdict} (risk ${d.riskScore})`,
      ...d.reasons.map((r) => `      because ${r}`),
      ...d.actions.map((a) => `      ${a.disposition.padEnd(9)} ${a.action}: ${a.why}`),
    ]),
    'Actions:',
    ...(s.actions ?? []).map(
      (a) =>
        `  ${a.at}  ${a.action}: ${a.status}${a.error ? ` (${a.error})` : skippedWhy(a.detail)}${a.idempotencyKey ? `  [${a.idempotencyKey}]` : ''}`,
    ),
    'Timeline:',
    ...(s.timeline ?? []).map((t) => `  ${t.at}  ${t.kind.padEnd(8)} ${t.summary}`),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

/** Why an action was skipped, from its detail: a dry run (planned, not applied) or the playbook's reason. */
export function skippedWhy(detail: Record<string, unknown> | undefined): string {
  const result = detail?.result as { status?: unknown; responder?: unknown } | undefined;
  if (result?.status === 'dry-run')
    return ` (dry run: ${typeof result.responder === 'string' ? `the ${result.responder} ` : ''}planned it and changed nothing; the plan is in --json)`;
  return typeof detail?.why === 'string' ? ` (${detail.why})` : '';
}
