/**
 * Response control from the command line, as an authenticated operator (VIGIL_OPERATOR_TOKEN, or a dev
 * operator with --as on the dev stack): endpoint agents, the kill switch and budget, containments.
 */
import { printJson, table, UsageError } from '../output.js';
import { api } from './approvals.js';

interface AgentRow {
  hostId: string;
  /** absent when the agent's registration did not answer (status `unknown`, with `error`) */
  version?: string;
  status: string;
  error?: string;
  lastSeen?: string;
  capabilities?: string[];
  dryRunOnly?: string[];
  startedAt?: string;
  pid: number;
}

function fail(what: string, r: { status: number; json: Record<string, unknown> }): never {
  const why = typeof r.json.message === 'string' ? r.json.message : JSON.stringify(r.json.error ?? '');
  const issues = Array.isArray(r.json.issues) ? `: ${r.json.issues.join('; ')}` : '';
  throw new UsageError(`${what} (HTTP ${r.status}): ${why}${issues}`);
}

export async function agents(opts: { json: boolean; as?: string }): Promise<number> {
  const r = await api('GET', '/v1/agents', undefined, opts.as);
  if (r.status !== 200) fail('could not list agents', r);
  const rows = (r.json.agents ?? []) as AgentRow[];
  if (opts.json) {
    printJson(rows);
    return 0;
  }
  process.stdout.write(
    `${table(
      rows.map((a) => ({
        host: a.hostId,
        status: a.error ? `${a.status} (${a.error})` : a.status,
        'last poll': a.lastSeen ?? '-',
        version: a.version ?? '-',
        actions:
          (a.capabilities ?? []).map((c) => (a.dryRunOnly?.includes(c) ? `${c} (dry-run)` : c)).join(', ') ||
          '-',
        started: a.startedAt ?? '-',
      })),
      ['host', 'status', 'last poll', 'version', 'actions', 'started'],
    )}\n`,
  );
  return 0;
}

export async function automation(opts: {
  action?: string;
  arg?: string;
  reason?: string;
  window?: string;
  as?: string;
  json: boolean;
}): Promise<number> {
  const usage =
    'vigil automation [status] | killswitch on|off --reason "..." | budget <limit> [--window <seconds>]';
  let r: { status: number; json: Record<string, unknown> };
  switch (opts.action ?? 'status') {
    case 'status':
      r = await api('GET', '/v1/automation', undefined, opts.as);
      break;
    case 'killswitch': {
      if (opts.arg !== 'on' && opts.arg !== 'off') throw new UsageError(usage);
      if (!opts.reason) throw new UsageError('the kill switch needs --reason "..." (it is recorded)');
      r = await api(
        'POST',
        '/v1/automation/killswitch',
        { engaged: opts.arg === 'on', reason: opts.reason },
        opts.as,
      );
      break;
    }
    case 'budget': {
      const limit = Number(opts.arg);
      if (!Number.isInteger(limit) || limit < 0) throw new UsageError(usage);
      r = await api(
        'POST',
        '/v1/automation/budget',
        { limit, windowSeconds: opts.window ? Number(opts.window) : 3600 },
        opts.as,
      );
      break;
    }
    default:
      throw new UsageError(usage);
  }
  if (r.status !== 200) fail(`automation ${opts.action ?? 'status'} refused`, r);
  printJson(r.json);
  return 0;
}

interface ContainmentRow {
  id: string;
  action: string;
  host: string;
  status: string;
  appliedAt: string;
  liftAt?: string;
  error?: string;
}

export async function containments(opts: { json: boolean; all: boolean; as?: string }): Promise<number> {
  const r = await api('GET', `/v1/containments${opts.all ? '?all=true' : ''}`, undefined, opts.as);
  if (r.status !== 200) fail('could not list containments', r);
  const rows = (r.json.containments ?? []) as ContainmentRow[];
  if (opts.json) {
    printJson(rows);
    return 0;
  }
  process.stdout.write(
    `${table(
      rows.map((c) => ({
        id: c.id,
        action: c.action,
        host: c.host,
        status: c.error ? `${c.status} (undo failed)` : c.status,
        applied: c.appliedAt,
        'lifts at': c.liftAt ?? '-',
      })),
      ['id', 'action', 'host', 'status', 'applied', 'lifts at'],
    )}\n`,
  );
  return 0;
}

export async function changeContainment(opts: {
  action: 'release' | 'extend';
  id?: string;
  for?: string;
  reason?: string;
  as?: string;
  json: boolean;
}): Promise<number> {
  if (!opts.id || !opts.reason || (opts.action === 'extend' && !opts.for))
    throw new UsageError(
      opts.action === 'extend'
        ? 'vigil extend <containment id> --for 2h --reason "..."'
        : 'vigil release <containment id> --reason "..."',
    );
  const r = await api(
    'POST',
    `/v1/containments/${encodeURIComponent(opts.id)}/${opts.action}`,
    opts.action === 'extend' ? { for: opts.for, reason: opts.reason } : { reason: opts.reason },
    opts.as,
  );
  if (r.status !== 200) fail(`${opts.action} refused`, r);
  const c = r.json.containment as ContainmentRow;
  if (opts.json) printJson(c);
  else
    process.stdout.write(
      `${opts.id}: ${c.status}${c.liftAt && c.status === 'active' ? `, lifts at ${c.liftAt}` : ''}${c.error ? ` (undo failed: ${c.error})` : ''}\n`,
    );
  return c.error ? 1 : 0;
}
