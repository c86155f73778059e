/**
 * Approvals from the command line, as an authenticated operator (never self-declared): the operator's
 * token comes from VIGIL_OPERATOR_TOKEN, or, on the dev stack, the dev operator chosen with --as
 * (default dev-lead). The CLI speaks the intake's approval API, like any other client.
 */
import { printJson, table, UsageError } from '../output.js';
import { readStack } from '../state.js';
import type { ApprovalRequestRecord } from '../../src/policy/approval.js';

function operatorToken(as?: string): string {
  if (process.env.VIGIL_OPERATOR_TOKEN) return process.env.VIGIL_OPERATOR_TOKEN;
  const { creds } = readStack();
  const id = as ?? 'dev-lead';
  const t = creds.operators[id];
  if (!t)
    throw new UsageError(`no token for operator ${id}: set VIGIL_OPERATOR_TOKEN (from: vigil operator add)`);
  return t;
}

export async function api(method: 'GET' | 'POST', path: string, body?: unknown, as?: string) {
  const { state } = readStack();
  const res = await fetch(`${state.intake.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${operatorToken(as)}`,
      ...(body ? { 'content-type': 'application/json' } : {}),
    },
    body: body ? JSON.stringify(body) : undefined,
    signal: AbortSignal.timeout(20_000),
  });
  return { status: res.status, json: (await res.json().catch(() => ({}))) as Record<string, unknown> };
}

export async function approvals(opts: { json: boolean; as?: string }): Promise<void> {
  const { status, json } = await api('GET', '/v1/approvals', undefined, opts.as);
  if (status !== 200)
    throw new UsageError(`could not list approvals (HTTP ${status}): ${String(json.error)}`);
  const items = (json.approvals ?? []) as ApprovalRequestRecord[];
  if (opts.json) return printJson(items);
  process.stdout.write(
    `${table(
      items.map((a) => ({
        incident: a.incidentId,
        approval: a.approvalId,
        action: `${a.action} (${a.class})`,
        params: JSON.stringify(a.params),
        needs: `${a.approvers.length}/${a.needed} of ${a.roles.join('/')}`,
        // Past it, answers are refused (expired) though the safe default may not have run yet (an incident
        // started on an older build, after downtime).
        deadline: Date.parse(a.deadline) <= Date.now() ? `${a.deadline} (passed)` : a.deadline,
      })),
      ['incident', 'approval', 'action', 'params', 'needs', 'deadline'],
    )}\n`,
  );
}

export async function decideApproval(opts: {
  decision: 'approve' | 'deny';
  incident?: string;
  approval?: string;
  reason?: string;
  as?: string;
  json: boolean;
}): Promise<number> {
  if (!opts.incident || !opts.approval)
    throw new UsageError(
      `vigil ${opts.decision} <incident> <approval-id> [--reason "..."] (see vigil approvals)`,
    );
  // Fetch the approval so the decision is bound to the parameters the operator was shown.
  const listed = await api(
    'GET',
    `/v1/incidents/${encodeURIComponent(opts.incident)}/approvals`,
    undefined,
    opts.as,
  );
  if (listed.status !== 200)
    throw new UsageError(
      listed.status === 404
        ? `no open incident ${opts.incident} (HTTP 404)`
        : `could not read the approvals of ${opts.incident} (HTTP ${listed.status}): ${String(listed.json.error)}${typeof listed.json.message === 'string' ? `: ${listed.json.message}` : ''}`,
    );
  const record = ((listed.json.approvals ?? []) as ApprovalRequestRecord[]).find(
    (a) => a.approvalId === opts.approval,
  );
  if (!record) throw new UsageError(`no approval ${opts.approval} in ${opts.incident}`);
  if (!opts.json)
    process.stderr.write(
      `${opts.decision === 'approve' ? 'Approving' : 'Denying'} ${record.action} (${record.class}) on ${JSON.stringify(record.params)}\n`,
    );
  const { status, json } = await api(
    'POST',
    `/v1/incidents/${encodeURIComponent(opts.incident)}/approvals/${encodeURIComponent(opts.approval)}`,
    { decision: opts.decision, paramsHash: record.paramsHash, reason: opts.reason, via: 'cli' },
    opts.as,
  );
  if (opts.json) printJson({ httpStatus: status, ...json });
  else if (status === 200)
    process.stdout.write(
      `${String(json.status)}: ${(json.approvers as string[]).join(', ') || '-'} (${String(json.needed)} needed)\n`,
    );
  else
    process.stdout.write(
      `refused (HTTP ${status}): ${String(json.error)}: ${typeof json.message === 'string' ? json.message : ''}\n`,
    );
  return status === 200 ? 0 : 1;
}

export async function resolveIncident(opts: {
  incident?: string;
  note?: string;
  as?: string;
}): Promise<number> {
  if (!opts.incident || !opts.note) throw new UsageError('vigil resolve <incident> --note "what was done"');
  const { status, json } = await api(
    'POST',
    `/v1/incidents/${encodeURIComponent(opts.incident)}/resolve`,
    { note: opts.note },
    opts.as,
  );
  process.stdout.write(
    status === 200
      ? `resolved ${opts.incident}\n`
      : `refused (HTTP ${status}): ${JSON.stringify(json.message ?? json.error)}\n`,
  );
  return status === 200 ? 0 : 1;
}

export async function operator(opts: {
  action?: string;
  id?: string;
  role?: string;
  slack?: string;
  /** link-slack's second positional: the Slack user id. */
  slackUser?: string;
  json: boolean;
}): Promise<number> {
  const { state, creds } = readStack();
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${state.intake.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${creds.adminToken}`,
        ...(body ? { 'content-type': 'application/json' } : {}),
      },
      body: body ? JSON.stringify(body) : undefined,
    });
    return { status: res.status, json: (await res.json().catch(() => ({}))) as Record<string, unknown> };
  };
  switch (opts.action ?? 'list') {
    case 'list': {
      const { json } = await call('GET', '/v1/admin/operators');
      if (opts.json) printJson(json.operators);
      else
        process.stdout.write(
          `${table(
            (json.operators as Record<string, string>[]).map((o) => ({
              id: o.id,
              role: o.role,
              slack: o.slackUserId ?? '',
              disabled: String(o.disabled),
            })),
            ['id', 'role', 'slack', 'disabled'],
          )}\n`,
        );
      return 0;
    }
    case 'add': {
      if (!opts.id || !opts.role)
        throw new UsageError('vigil operator add <id> --role analyst|lead|admin [--slack <user id>]');
      const { status, json } = await call('POST', '/v1/admin/operators', {
        id: opts.id,
        role: opts.role,
        slackUserId: opts.slack,
      });
      if (status !== 200)
        throw new UsageError(`not created (HTTP ${status}): ${JSON.stringify(json.issues ?? json.error)}`);
      if (opts.json) printJson(json);
      else
        process.stdout.write(
          `operator ${opts.id} (${opts.role}) created. Token (shown once, store it safely):\n${String(json.token)}\n`,
        );
      return 0;
    }
    case 'disable': {
      if (!opts.id) throw new UsageError('vigil operator disable <id>');
      const { status } = await call('DELETE', `/v1/admin/operators/${encodeURIComponent(opts.id)}`);
      process.stdout.write(status === 200 ? `disabled ${opts.id}\n` : `no operator ${opts.id}\n`);
      return status === 200 ? 0 : 1;
    }
    case 'link-slack':
    case 'unlink-slack': {
      const link = opts.action === 'link-slack';
      if (!opts.id || (link && !opts.slackUser))
        throw new UsageError('vigil operator link-slack <id> <slack user id> | unlink-slack <id>');
      const { status, json } = await call('PUT', `/v1/admin/operators/${encodeURIComponent(opts.id)}/slack`, {
        slackUserId: link ? opts.slackUser : null,
      });
      if (status !== 200)
        throw new UsageError(
          `not ${link ? 'linked' : 'unlinked'} (HTTP ${status}): ${JSON.stringify(json.issues ?? json.error)}`,
        );
      if (opts.json) printJson(json);
      else
        process.stdout.write(
          link
            ? `operator ${opts.id} is Slack user ${opts.slackUser}\n`
            : `operator ${opts.id} has no Slack user\n`,
        );
      return 0;
    }
    default:
      throw new UsageError(
        'vigil operator list | add <id> --role <role> [--slack <id>] | disable <id> | link-slack <id> <slack user id> | unlink-slack <id>',
      );
  }
}
