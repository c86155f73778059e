/**
 * A local Request Tracker 5 following the documented REST2 API
 * (https://docs.bestpractical.com/rt/5.0.3/RT/REST2.html): `Authorization: token <token>`;
 * POST /REST/2.0/ticket (201 {id, type, _url}); GET /REST/2.0/tickets?query=<TicketSQL> (paged
 * {count, page, per_page, total, items}); GET/PUT /REST/2.0/ticket/{id} (PUT returns the list of changes);
 * POST /REST/2.0/ticket/{id}/comment (201 ["Comments added"]); GET /REST/2.0/ticket/{id}/attachments.
 * Errors: {message}. Statuses of the default lifecycle: new, open, stalled, resolved, rejected, deleted.
 */
import { startFake, type FakeServer, type FakeTicket, type Reply } from './common.js';

const STATUSES = new Set(['new', 'open', 'stalled', 'resolved', 'rejected', 'deleted']);
interface Ticket {
  id: number;
  Queue: string;
  Subject: string;
  Status: string;
  content: string;
  attachments: { id: number; Subject: string; Content: string }[];
}

export interface RtFake extends FakeServer {
  token: string;
  tickets(): FakeTicket[];
}

const unquote = (s: string) => s.slice(1, -1).replace(/\\(.)/g, '$1');

export async function startRtFake(): Promise<RtFake> {
  const token = 'rt-auth-token-xyz';
  const tickets: Ticket[] = [];
  let attachmentSeq = 1;
  const fail = (status: number, message: string): Reply => ({ status, body: { message } });
  let base = '';
  const fake = await startFake({
    authorized: (r) => r.headers.authorization === `token ${token}`,
    errorBody: (_s, m) => ({ message: m }),
    route(r) {
      const b = (r.body ?? {}) as Record<string, unknown>;
      if (r.method === 'POST' && r.path === '/REST/2.0/ticket') {
        if (b.Queue !== 'General') return fail(400, `Could not create ticket. Queue not set`);
        if (typeof b.Subject !== 'string') return fail(400, 'Subject is required');
        const t: Ticket = {
          id: tickets.length + 1,
          Queue: b.Queue,
          Subject: b.Subject,
          Status: 'new',
          content: typeof b.Content === 'string' ? b.Content : '',
          attachments: [],
        };
        t.attachments.push({ id: attachmentSeq++, Subject: t.Subject, Content: t.content });
        tickets.push(t);
        return { status: 201, body: { id: t.id, type: 'ticket', _url: `${base}/REST/2.0/ticket/${t.id}` } };
      }
      if (r.method === 'GET' && r.path === '/REST/2.0/tickets') {
        const q = r.query.get('query') ?? '';
        const m = /^Queue = ('(?:[^'\\]|\\.)*') AND Subject LIKE ('(?:[^'\\]|\\.)*')$/.exec(q);
        if (!m) return fail(400, `Invalid query: unsupported by this fake: ${q}`);
        const queue = unquote(m[1] ?? "''");
        const like = unquote(m[2] ?? "''");
        const found = tickets.filter(
          (t) => t.Queue === queue && t.Subject.includes(like) && t.Status !== 'deleted',
        );
        const per = Number(r.query.get('per_page') ?? 20);
        const items = found
          .slice(0, per)
          .map((t) => ({ type: 'ticket', id: String(t.id), _url: `${base}/REST/2.0/ticket/${t.id}` }));
        return {
          status: 200,
          body: {
            count: items.length,
            page: 1,
            per_page: per,
            pages: Math.ceil(found.length / per),
            total: found.length,
            items,
          },
        };
      }
      const m = /^\/REST\/2\.0\/ticket\/(\d+)(\/comment|\/attachments)?$/.exec(r.path);
      const t = m && tickets.find((x) => x.id === Number(m[1]));
      if (!m || !t) return fail(404, 'Resource does not exist');
      if (!m[2] && r.method === 'GET')
        return {
          status: 200,
          body: { id: t.id, Queue: t.Queue, Subject: t.Subject, Status: t.Status, type: 'ticket' },
        };
      if (!m[2] && r.method === 'PUT') {
        const s = b.Status;
        if (s === undefined) return { status: 200, body: [] };
        if (typeof s !== 'string' || !STATUSES.has(s))
          return fail(400, `Status '${JSON.stringify(s)}' isn't a valid status for this ticket.`);
        const msg = `Ticket ${t.id}: Status changed from '${t.Status}' to '${s}'`;
        t.Status = s;
        return { status: 200, body: [msg] };
      }
      if (m[2] === '/comment' && r.method === 'POST') {
        if (typeof b.Content !== 'string' || !b.Content) return fail(400, 'No content');
        t.attachments.push({
          id: attachmentSeq++,
          Subject: typeof b.Subject === 'string' ? b.Subject : '',
          Content: b.Content,
        });
        return { status: 201, body: ['Comments added'] };
      }
      if (m[2] === '/attachments' && r.method === 'GET') {
        const per = Number(r.query.get('per_page') ?? 20);
        const withSubject = (r.query.get('fields') ?? '').split(',').includes('Subject');
        const items = t.attachments.slice(0, per).map((a) => ({
          type: 'attachment',
          id: String(a.id),
          _url: `${base}/REST/2.0/attachment/${a.id}`,
          ...(withSubject ? { Subject: a.Subject } : {}),
        }));
        return {
          status: 200,
          body: { count: items.length, page: 1, per_page: per, total: t.attachments.length, items },
        };
      }
      return fail(405, 'Method not allowed');
    },
  });
  base = fake.url;
  return {
    ...fake,
    token,
    tickets: () =>
      tickets.map((t) => ({
        id: String(t.id),
        key: `#${t.id}`,
        title: t.Subject,
        description: t.content,
        status: t.Status,
        closed: ['resolved', 'rejected', 'deleted'].includes(t.Status),
        notes: t.attachments.slice(1).map((a) => `${a.Subject}\n${a.Content}`),
        closing: {},
      })),
  };
}
