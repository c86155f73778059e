/**
 * TheHive 5, API v1 (https://docs.strangebee.com/thehive/api-docs/):
 * - auth: `Authorization: Bearer <API key>`, optional `X-Organisation`;
 * - create: POST /api/v1/case (201, the case with _id and number); the marker is a tag;
 * - find: POST /api/v1/query [{_name: listCase}, {_name: filter, _eq: {_field: tags, _value}}, page];
 * - notes: POST /api/v1/case/{id}/comment {message}; listed with the query [getCase, comments];
 * - state: PATCH /api/v1/case/{id} {status}: New, InProgress, then a closing status TruePositive,
 *   FalsePositive, Indeterminate, Other, Duplicated (stage Closed) with a summary.
 * Errors come as {type, message}.
 */
import { outboundFailure } from '../lib/ssrf.js';
import type { HttpFactory } from './client.js';
import type { TheHiveConfig } from './config.js';
import type { TicketBackend, TicketRef } from './types.js';

export function theHiveReason(data: unknown): string | undefined {
  const d = data as { type?: string; message?: string } | undefined;
  if (!d || typeof d !== 'object' || (!d.type && !d.message)) return undefined;
  return [d.type, d.message].filter(Boolean).join(': ');
}

const SEVERITY: Record<string, number> = { info: 1, low: 1, medium: 2, high: 3, critical: 4 };
const CLOSING: Record<string, string> = {
  malicious: 'TruePositive',
  benign: 'FalsePositive',
  suspicious: 'Indeterminate',
};
type Case = { _id: string; number: number; status?: string; stage?: string };

export function theHiveBackend(c: TheHiveConfig, http: HttpFactory): TicketBackend {
  const api = http(c.THEHIVE_URL, {
    Authorization: `Bearer ${c.THEHIVE_API_KEY}`,
    ...(c.THEHIVE_ORGANISATION ? { 'X-Organisation': c.THEHIVE_ORGANISATION } : {}),
  });
  const call = async <T>(what: string, fn: () => Promise<{ data: T }>): Promise<T> => {
    try {
      return (await fn()).data;
    } catch (e) {
      throw outboundFailure(e, `TheHive ${what}`, theHiveReason, [c.THEHIVE_API_KEY]);
    }
  };
  const ref = (k: Case): TicketRef => ({
    system: 'thehive',
    id: k._id,
    key: `#${k.number}`,
    url: `${c.THEHIVE_URL}/cases/${encodeURIComponent(k._id)}/details`,
  });
  const casePath = (r: TicketRef, rest = '') => `/api/v1/case/${encodeURIComponent(r.id)}${rest}`;

  return {
    system: 'thehive',
    async find(marker) {
      const cases = await call('search cases', () =>
        api.post<Case[]>('/api/v1/query', {
          query: [
            { _name: 'listCase' },
            { _name: 'filter', _eq: { _field: 'tags', _value: marker } },
            { _name: 'sort', _fields: [{ _createdAt: 'asc' }] },
            { _name: 'page', from: 0, to: 1 },
          ],
        }),
      );
      return cases[0] ? ref(cases[0]) : null;
    },
    async create(t, marker, description) {
      const k = await call('create case', () =>
        api.post<Case>('/api/v1/case', {
          title: `[Vigil] ${t.title}`.replace(/[\r\n]+/g, ' ').slice(0, 512),
          description,
          severity: SEVERITY[t.severity] ?? 2,
          tags: ['vigil', marker],
          tlp: 2,
          pap: 2,
        }),
      );
      return ref(k);
    },
    async hasNote(r, marker) {
      const comments = await call('list comments', () =>
        api.post<{ message?: string }[]>('/api/v1/query', {
          query: [
            { _name: 'getCase', idOrName: r.id },
            { _name: 'comments' },
            { _name: 'page', from: 0, to: 500 },
          ],
        }),
      );
      return comments.some((cm) => (cm.message ?? '').includes(marker));
    },
    async addNote(r, note) {
      await call('add comment', () => api.post(casePath(r, '/comment'), { message: note.text }));
    },
    async setState(r, state) {
      const k = await call('read case', () => api.get<Case>(casePath(r)));
      if (k.stage === 'Closed') return; // never reopen
      if (state.kind === 'in-progress') {
        if (k.status !== 'InProgress')
          await call('set in progress', () => api.patch(casePath(r), { status: 'InProgress' }));
        return;
      }
      await call('close case', () =>
        api.patch(casePath(r), {
          status: (state.verdict && CLOSING[state.verdict]) ?? 'Indeterminate',
          summary: state.outcome.slice(0, 1_048_576),
        }),
      );
    },
  };
}
