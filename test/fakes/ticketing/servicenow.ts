/**
 * A local ServiceNow instance following the documented Table API (/api/now/table/{tableName}):
 * Basic auth or an OAuth bearer token; GET with sysparm_query (field=value, ^ separated, ORDERBY...),
 * sysparm_fields, sysparm_limit, sysparm_display_value; POST (201 {result}); PATCH (200 {result}).
 * work_notes is a journal field: each write appends an entry, and the display value is the journal text.
 * Resolving (state 6) without close_code and close_notes fails the data policy (403).
 * Errors: {error: {message, detail}, status: "failure"}.
 */
import { randomBytes } from 'node:crypto';
import { startFake, type FakeServer, type FakeTicket, type Reply } from './common.js';

const STATE_LABEL: Record<string, string> = {
  '1': 'New',
  '2': 'In Progress',
  '3': 'On Hold',
  '6': 'Resolved',
  '7': 'Closed',
  '8': 'Canceled',
};
const WRITABLE = new Set([
  'short_description',
  'description',
  'correlation_id',
  'correlation_display',
  'impact',
  'urgency',
  'assignment_group',
  'state',
  'close_code',
  'close_notes',
  'work_notes',
  'comments',
]);

type Rec = Record<string, string> & { sys_id: string; number: string; state: string };

export interface ServiceNowFake extends FakeServer {
  user: string;
  password: string;
  token: string;
  tickets(): FakeTicket[];
}

export async function startServiceNowFake(): Promise<ServiceNowFake> {
  const user = 'vigil.integration';
  const password = 'sn-password-456';
  const token = 'sn-oauth-token-789';
  const rows: Rec[] = [];
  const journal = new Map<string, { at: string; text: string }[]>();
  const fail = (status: number, message: string, detail = ''): Reply => ({
    status,
    body: { error: { message, detail }, status: 'failure' },
  });
  const view = (rec: Rec, fields: string | null, display: boolean) => {
    const out: Record<string, string> = {};
    const entries = journal.get(rec.sys_id) ?? [];
    const all: Record<string, string> = {
      ...rec,
      work_notes: display
        ? entries
            .map((e) => `${e.at} - Vigil Integration (Work notes)\n${e.text}\n\n`)
            .reverse()
            .join('')
        : '',
    };
    if (display) all.state = STATE_LABEL[rec.state] ?? rec.state;
    for (const k of fields ? fields.split(',') : Object.keys(all)) if (k in all) out[k] = all[k] ?? '';
    return out;
  };
  const apply = (rec: Rec, body: Record<string, unknown>): Reply | null => {
    for (const [k, v] of Object.entries(body)) {
      if (!WRITABLE.has(k)) continue; // unknown fields are ignored, as the Table API does
      if (k === 'work_notes')
        journal.set(rec.sys_id, [
          ...(journal.get(rec.sys_id) ?? []),
          { at: new Date().toISOString().replace('T', ' ').slice(0, 19), text: String(v) },
        ]);
      else rec[k] = String(v);
    }
    if (rec.state === '6' && (!rec.close_code || !rec.close_notes))
      return fail(
        403,
        'Operation Failed',
        'Data Policy Exception: \n The following fields are mandatory: Resolution code, Resolution notes',
      );
    return null;
  };
  const fake = await startFake({
    authorized: (r) =>
      r.headers.authorization === `Bearer ${token}` ||
      r.headers.authorization === `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`,
    errorBody: (_s, m) => ({ error: { message: m, detail: '' }, status: 'failure' }),
    route(r) {
      const m = /^\/api\/now\/table\/incident(?:\/([0-9a-f]{32}))?$/.exec(r.path);
      if (!m) return fail(400, 'Invalid table', 'only incident is served here');
      const fields = r.query.get('sysparm_fields');
      const display = r.query.get('sysparm_display_value') === 'true';
      const id = m[1];
      if (!id && r.method === 'GET') {
        const clauses = (r.query.get('sysparm_query') ?? '').split('^').filter(Boolean);
        let list = [...rows];
        for (const c of clauses) {
          if (c.startsWith('ORDERBY')) continue;
          const eq = /^([a-z_]+)=(.*)$/.exec(c);
          if (!eq) return fail(400, 'Invalid query', `unsupported clause ${c}`);
          list = list.filter((x) => x[eq[1] ?? ''] === eq[2]);
        }
        const limit = Number(r.query.get('sysparm_limit') ?? 10000);
        return { status: 200, body: { result: list.slice(0, limit).map((x) => view(x, fields, display)) } };
      }
      if (!id && r.method === 'POST') {
        const b = (r.body ?? {}) as Record<string, unknown>;
        const rec: Rec = {
          sys_id: randomBytes(16).toString('hex'),
          number: `INC${String(10001 + rows.length).padStart(7, '0')}`,
          state: '1',
          short_description: '',
          description: '',
          correlation_id: '',
          close_code: '',
          close_notes: '',
        };
        const bad = apply(rec, b);
        if (bad) return bad;
        rows.push(rec);
        return {
          status: 201,
          body: { result: view(rec, fields, display) },
          headers: { Location: `${fake.url}/api/now/table/incident/${rec.sys_id}` },
        };
      }
      const rec = rows.find((x) => x.sys_id === id);
      if (!rec)
        return fail(404, 'No Record found', "Record doesn't exist or ACL restricts the record retrieval");
      if (r.method === 'GET') return { status: 200, body: { result: view(rec, fields, display) } };
      if (r.method === 'PATCH' || r.method === 'PUT') {
        const copy = { ...rec };
        const bad = apply(copy, (r.body ?? {}) as Record<string, unknown>);
        if (bad) return bad;
        Object.assign(rec, copy);
        return { status: 200, body: { result: view(rec, fields, display) } };
      }
      return fail(405, 'Method not supported');
    },
  });
  return {
    ...fake,
    user,
    password,
    token,
    tickets: () =>
      rows.map((x) => ({
        id: x.sys_id,
        key: x.number,
        title: x.short_description ?? '',
        description: x.description ?? '',
        status: STATE_LABEL[x.state] ?? x.state,
        closed: ['6', '7', '8'].includes(x.state),
        notes: (journal.get(x.sys_id) ?? []).map((e) => e.text),
        closing: {
          close_code: x.close_code,
          close_notes: x.close_notes,
          correlation_id: x.correlation_id,
          impact: x.impact,
          urgency: x.urgency,
        },
      })),
  };
}
