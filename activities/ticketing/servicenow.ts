/**
 * ServiceNow, Table API (https://www.servicenow.com/docs/ "Table API"; /api/now/table/{tableName}):
 * - auth: Basic (user + password) or an OAuth bearer token;
 * - create: POST /api/now/table/incident with correlation_id = the incident marker (201, {result});
 * - find: GET /api/now/table/incident?sysparm_query=correlation_id=<marker>;
 * - notes: PATCH work_notes (a journal field: each write appends); read back with
 *   sysparm_display_value=true, which returns the journal as text;
 * - state: 2 In Progress, 6 Resolved (with close_code and close_notes, mandatory to resolve), 7 Closed,
 *   8 Canceled.
 * Errors come as {error: {message, detail}, status: "failure"}; rate limits are 429 with Retry-After.
 */
import { outboundFailure } from '../lib/ssrf.js';
import type { HttpFactory } from './client.js';
import type { ServiceNowConfig } from './config.js';
import type { TicketBackend, TicketRef } from './types.js';

export function serviceNowReason(data: unknown): string | undefined {
  const e = (data as { error?: { message?: string; detail?: string } } | undefined)?.error;
  if (!e) return undefined;
  return [e.message, e.detail].filter(Boolean).join(': ') || undefined;
}

const IMPACT: Record<string, { impact: string; urgency: string }> = {
  critical: { impact: '1', urgency: '1' },
  high: { impact: '1', urgency: '2' },
  medium: { impact: '2', urgency: '2' },
  low: { impact: '3', urgency: '3' },
  info: { impact: '3', urgency: '3' },
};
const FINAL_STATES = new Set(['6', '7', '8']);

type Row = { sys_id: string; number: string; state?: string; work_notes?: string };

export function serviceNowBackend(c: ServiceNowConfig, http: HttpFactory): TicketBackend {
  const authHeader = c.SERVICENOW_TOKEN
    ? `Bearer ${c.SERVICENOW_TOKEN}`
    : `Basic ${Buffer.from(`${c.SERVICENOW_USER ?? ''}:${c.SERVICENOW_PASSWORD ?? ''}`).toString('base64')}`;
  const api = http(c.SERVICENOW_URL, { Authorization: authHeader });
  const secrets = [c.SERVICENOW_TOKEN, c.SERVICENOW_PASSWORD, authHeader.split(' ')[1]];
  const call = async <T>(what: string, fn: () => Promise<{ data: { result: T } }>): Promise<T> => {
    try {
      return (await fn()).data.result;
    } catch (e) {
      throw outboundFailure(e, `ServiceNow ${what}`, serviceNowReason, secrets);
    }
  };
  const TABLE = '/api/now/table/incident';
  const ref = (r: Row): TicketRef => ({
    system: 'servicenow',
    id: r.sys_id,
    key: r.number,
    url: `${c.SERVICENOW_URL}/nav_to.do?uri=${encodeURIComponent(`incident.do?sys_id=${r.sys_id}`)}`,
  });
  const row = (r: TicketRef, fields: string, display = false) =>
    call('read incident', () =>
      api.get<{ result: Row }>(`${TABLE}/${encodeURIComponent(r.id)}`, {
        params: { sysparm_fields: fields, sysparm_display_value: display ? 'true' : 'false' },
      }),
    );
  const patch = (what: string, r: TicketRef, body: Record<string, string>) =>
    call(what, () =>
      api.patch<{ result: Row }>(`${TABLE}/${encodeURIComponent(r.id)}`, body, {
        params: { sysparm_fields: 'sys_id,number,state' },
      }),
    );

  return {
    system: 'servicenow',
    async find(marker) {
      const rows = await call('search incidents', () =>
        api.get<{ result: Row[] }>(TABLE, {
          params: {
            sysparm_query: `correlation_id=${marker}^ORDERBYsys_created_on`,
            sysparm_fields: 'sys_id,number,state',
            sysparm_limit: 1,
          },
        }),
      );
      return rows[0] ? ref(rows[0]) : null;
    },
    async create(t, marker, description) {
      const r = await call('create incident', () =>
        api.post<{ result: Row }>(
          TABLE,
          {
            short_description: `[Vigil] ${t.title}`.replace(/[\r\n]+/g, ' ').slice(0, 160),
            description,
            correlation_id: marker,
            correlation_display: 'Vigil',
            ...IMPACT[t.severity],
            ...(c.SERVICENOW_ASSIGNMENT_GROUP ? { assignment_group: c.SERVICENOW_ASSIGNMENT_GROUP } : {}),
          },
          { params: { sysparm_fields: 'sys_id,number,state' } },
        ),
      );
      return ref(r);
    },
    async hasNote(r, marker) {
      const cur = await row(r, 'work_notes', true);
      return (cur.work_notes ?? '').includes(marker);
    },
    async addNote(r, note) {
      await patch('add work note', r, { work_notes: note.text });
    },
    async setState(r, state) {
      const cur = await row(r, 'state');
      if (FINAL_STATES.has(String(cur.state))) return; // never reopen
      if (state.kind === 'in-progress') {
        if (cur.state !== '2') await patch('set in progress', r, { state: '2' });
        return;
      }
      await patch('resolve incident', r, {
        state: '6',
        close_code: c.SERVICENOW_CLOSE_CODE,
        close_notes: `${state.verdict ? `Verdict: ${state.verdict}. ` : ''}${state.outcome}`.slice(0, 4000),
      });
    },
  };
}
