/**
 * Request Tracker 5, REST2 (https://docs.bestpractical.com/rt/5.0.3/RT/REST2.html):
 * - auth: `Authorization: token <auth token>` (RT auth tokens; no password hashing per call);
 * - create: POST /REST/2.0/ticket {Queue, Subject, Content, ContentType} (201, {id, type, _url});
 *   the marker is a subject tag;
 * - find: GET /REST/2.0/tickets?query=<TicketSQL>;
 * - notes: POST /REST/2.0/ticket/{id}/comment {Subject, Content, ContentType} (internal comment); the
 *   note marker is in the Subject, read back with GET /REST/2.0/ticket/{id}/attachments?fields=Subject;
 * - state: PUT /REST/2.0/ticket/{id} {Status: open | resolved}.
 * Errors come as {message}.
 */
import { outboundFailure } from '../lib/ssrf.js';
import type { HttpFactory } from './client.js';
import type { RtConfig } from './config.js';
import type { TicketBackend, TicketRef } from './types.js';

export function rtReason(data: unknown): string | undefined {
  const d = data as { message?: string } | string[] | undefined;
  if (Array.isArray(d)) return d.join('; ') || undefined;
  return d?.message;
}
const FINAL = new Set(['resolved', 'rejected', 'deleted']);
const sqlString = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

export function rtBackend(c: RtConfig, http: HttpFactory): TicketBackend {
  const api = http(`${c.RT_URL}/REST/2.0`, { Authorization: `token ${c.RT_TOKEN}` });
  const call = async <T>(what: string, fn: () => Promise<{ data: T }>): Promise<T> => {
    try {
      return (await fn()).data;
    } catch (e) {
      throw outboundFailure(e, `RT ${what}`, rtReason, [c.RT_TOKEN]);
    }
  };
  const ref = (id: string | number): TicketRef => ({
    system: 'rt',
    id: String(id),
    key: `#${id}`,
    url: `${c.RT_URL}/Ticket/Display.html?id=${encodeURIComponent(String(id))}`,
  });
  const path = (r: TicketRef, rest = '') => `/ticket/${encodeURIComponent(r.id)}${rest}`;

  return {
    system: 'rt',
    async find(marker) {
      const r = await call('search tickets', () =>
        api.get<{ items?: { id: string | number }[] }>('/tickets', {
          params: {
            query: `Queue = ${sqlString(c.RT_QUEUE)} AND Subject LIKE ${sqlString(`[${marker}]`)}`,
            orderby: 'id',
            order: 'ASC',
            per_page: 1,
          },
        }),
      );
      const first = r.items?.[0];
      return first ? ref(first.id) : null;
    },
    async create(t, marker, description) {
      const r = await call('create ticket', () =>
        api.post<{ id: string | number }>('/ticket', {
          Queue: c.RT_QUEUE,
          Subject: `[${marker}] [Vigil] ${t.title}`.replace(/[\r\n]+/g, ' ').slice(0, 200),
          Content: description,
          ContentType: 'text/plain',
        }),
      );
      return ref(r.id);
    },
    async hasNote(r, marker) {
      const res = await call('list attachments', () =>
        api.get<{ items?: { Subject?: string }[] }>(path(r, '/attachments'), {
          params: { fields: 'Subject', per_page: 100 },
        }),
      );
      return (res.items ?? []).some((a) => (a.Subject ?? '').includes(marker));
    },
    async addNote(r, note) {
      await call('comment', () =>
        api.post(path(r, '/comment'), {
          Subject: `${note.title} [${note.marker}]`.replace(/[\r\n]+/g, ' ').slice(0, 200),
          Content: note.text,
          ContentType: 'text/plain',
        }),
      );
    },
    async setState(r, state) {
      const t = await call('read ticket', () => api.get<{ Status?: string }>(path(r)));
      const status = (t.Status ?? '').toLowerCase();
      if (FINAL.has(status)) return; // never reopen
      const target = state.kind === 'closed' ? 'resolved' : 'open';
      if (status !== target) await call('set status', () => api.put(path(r), { Status: target }));
    },
  };
}
