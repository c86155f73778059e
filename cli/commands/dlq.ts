/** `vigil dlq list|show|retry`: the intake's dead letters, through its admin API. */
import { printJson, table, UsageError } from '../output.js';
import { readStack } from '../state.js';

async function admin(
  method: 'GET' | 'POST',
  path: string,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const { state, creds } = readStack();
  const res = await fetch(`${state.intake.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${creds.adminToken}` },
    signal: AbortSignal.timeout(15_000),
  });
  return { status: res.status, json: (await res.json().catch(() => ({}))) as Record<string, unknown> };
}

export async function dlq(opts: {
  action?: string;
  id?: string;
  state?: string;
  json: boolean;
}): Promise<number> {
  switch (opts.action ?? 'list') {
    case 'list': {
      const q = opts.state ? `?state=${encodeURIComponent(opts.state)}` : '';
      const { json } = await admin('GET', `/v1/admin/dlq${q}`);
      if (opts.json) return (printJson(json), 0);
      const items = (json.items ?? []) as Record<string, unknown>[];
      process.stdout.write(
        `${table(
          items.map((i) => ({
            id: String(i.id),
            receivedAt: String(i.receivedAt),
            source: String(i.source),
            reason: String(i.reason),
            state: String(i.state),
            firstIssue: String((i.issues as string[])[0] ?? '').slice(0, 80),
          })),
          ['id', 'receivedAt', 'source', 'reason', 'state', 'firstIssue'],
        )}\n`,
      );
      return 0;
    }
    case 'show': {
      if (!opts.id) throw new UsageError('vigil dlq show <id>');
      const { status, json } = await admin('GET', `/v1/admin/dlq/${encodeURIComponent(opts.id)}`);
      if (status === 404) throw new UsageError(`no dead letter ${opts.id}`);
      if (opts.json) return (printJson(json), 0);
      process.stdout.write(
        `Dead letter ${String(json.id)} from ${String(json.source)} (key ${String(json.keyId)}), ${String(json.receivedAt)}\n` +
          `Reason: ${String(json.reason)}  State: ${String(json.state)}  Size: ${String(json.size)} bytes  sha256 ${String(json.sha256)}\n` +
          `Issues:\n${(json.issues as string[]).map((i) => `  - ${i}`).join('\n')}\nBody:\n${String(json.preview)}\n`,
      );
      return 0;
    }
    case 'retry': {
      if (!opts.id) throw new UsageError('vigil dlq retry <id>');
      const { status, json } = await admin('POST', `/v1/admin/dlq/${encodeURIComponent(opts.id)}/retry`);
      if (opts.json) printJson({ status, ...json });
      else if (status === 200) process.stdout.write(`resubmitted: ${String(json.incidentId)}\n`);
      else
        process.stdout.write(
          `not resubmitted (HTTP ${status}): ${String(json.error)}\n${((json.issues as string[] | undefined) ?? []).map((i) => `  - ${i}`).join('\n')}\n`,
        );
      return status === 200 ? 0 : 1;
    }
    default:
      throw new UsageError('vigil dlq list|show <id>|retry <id>');
  }
}
