/**
 * A local TheHive 5 following the documented API v1 (https://docs.strangebee.com/thehive/api-docs/):
 * `Authorization: Bearer <API key>`; POST /api/v1/case (201, the case: _id, _type, number, status, stage,
 * ...); GET/PATCH /api/v1/case/{id} (PATCH: 204); POST /api/v1/case/{id}/comment {message} (201);
 * POST /api/v1/query with listCase / getCase, filter (_eq), sort, page and the comments step.
 * Statuses New, InProgress; closing statuses TruePositive, FalsePositive, Indeterminate, Other, Duplicated
 * put the case in stage Closed. Errors: {type, message}.
 */
import { startFake, type FakeServer, type FakeTicket, type Reply } from './common.js';

const CLOSING = new Set(['TruePositive', 'FalsePositive', 'Indeterminate', 'Other', 'Duplicated']);
const OPEN = new Set(['New', 'InProgress']);

interface Case {
  _id: string;
  _type: 'Case';
  _createdAt: number;
  number: number;
  title: string;
  description: string;
  severity: number;
  tags: string[];
  status: string;
  stage: string;
  summary?: string;
  comments: { _id: string; message: string }[];
}

export interface TheHiveFake extends FakeServer {
  apiKey: string;
  tickets(): FakeTicket[];
}

export async function startTheHiveFake(): Promise<TheHiveFake> {
  const apiKey = 'thehive-key-abc';
  const cases: Case[] = [];
  let seq = 4096;
  const fail = (status: number, type: string, message: string): Reply => ({
    status,
    body: { type, message },
  });
  const out = (k: Case) => {
    const { comments: _c, ...rest } = k;
    return rest;
  };
  const fake = await startFake({
    authorized: (r) => r.headers.authorization === `Bearer ${apiKey}`,
    errorBody: (s, m) => ({
      type:
        s === 401
          ? 'AuthenticationError'
          : s === 429
            ? 'RateLimited'
            : s >= 500
              ? 'InternalError'
              : 'BadRequest',
      message: m,
    }),
    route(r) {
      const b = (r.body ?? {}) as Record<string, unknown>;
      if (r.method === 'POST' && r.path === '/api/v1/case') {
        if (typeof b.title !== 'string' || !b.title)
          return fail(400, 'BadRequest', 'Invalid format for case.title: missing');
        if (typeof b.description !== 'string')
          return fail(400, 'BadRequest', 'Invalid format for case.description: missing');
        if (b.severity !== undefined && ![1, 2, 3, 4].includes(b.severity as number))
          return fail(400, 'BadRequest', 'Invalid format for case.severity');
        const k: Case = {
          _id: `~${seq++}`,
          _type: 'Case',
          _createdAt: Date.now(),
          number: cases.length + 1,
          title: b.title,
          description: b.description,
          severity: (b.severity as number) ?? 2,
          tags: (b.tags as string[]) ?? [],
          status: 'New',
          stage: 'New',
          comments: [],
        };
        cases.push(k);
        return { status: 201, body: out(k) };
      }
      if (r.method === 'POST' && r.path === '/api/v1/query') {
        const steps = (b.query ?? []) as Record<string, unknown>[];
        let list: unknown[] = [];
        for (const s of steps) {
          switch (s._name) {
            case 'listCase':
              list = [...cases];
              break;
            case 'getCase': {
              const k = cases.find((x) => x._id === s.idOrName || `#${x.number}` === s.idOrName);
              if (!k) return fail(404, 'NotFoundError', `Case ${String(s.idOrName)} not found`);
              list = [k];
              break;
            }
            case 'comments':
              list = (list as Case[]).flatMap((k) => k.comments);
              break;
            case 'filter': {
              const eq = s._eq as { _field?: string; _value?: unknown } | undefined;
              if (!eq?._field) return fail(400, 'BadRequest', 'unsupported filter in this fake');
              list = list.filter((x) => {
                const v = (x as Record<string, unknown>)[eq._field ?? ''];
                return Array.isArray(v) ? v.includes(eq._value) : v === eq._value;
              });
              break;
            }
            case 'sort':
              break; // creation order already
            case 'page':
              list = list.slice(Number(s.from), Number(s.to));
              break;
            default:
              return fail(400, 'BadRequest', `unknown query step ${String(s._name)}`);
          }
        }
        return { status: 200, body: list.map((x) => ((x as Case)._type === 'Case' ? out(x as Case) : x)) };
      }
      const m = /^\/api\/v1\/case\/([^/]+)(\/comment)?$/.exec(r.path);
      const k = m && cases.find((x) => x._id === decodeURIComponent(m[1] ?? ''));
      if (!m || !k) return fail(404, 'NotFoundError', `Case ${m?.[1] ?? ''} not found`);
      if (m[2] && r.method === 'POST') {
        if (typeof b.message !== 'string' || !b.message)
          return fail(400, 'BadRequest', 'Invalid format for comment.message: missing');
        const c = { _id: `~${seq++}`, message: b.message };
        k.comments.push(c);
        return {
          status: 201,
          body: {
            ...c,
            _type: 'Comment',
            createdBy: 'vigil@thehive.local',
            createdAt: Date.now(),
            isEdited: false,
          },
        };
      }
      if (r.method === 'GET') return { status: 200, body: out(k) };
      if (r.method === 'PATCH') {
        if (b.status !== undefined) {
          const s = typeof b.status === 'string' ? b.status : JSON.stringify(b.status);
          if (!OPEN.has(s) && !CLOSING.has(s))
            return fail(400, 'BadRequest', `Invalid format for case.status: ${s}`);
          k.status = s;
          k.stage = CLOSING.has(s) ? 'Closed' : s === 'InProgress' ? 'InProgress' : 'New';
        }
        if (typeof b.summary === 'string') k.summary = b.summary;
        return { status: 204 };
      }
      return fail(405, 'BadRequest', 'method not allowed');
    },
  });
  return {
    ...fake,
    apiKey,
    tickets: () =>
      cases.map((k) => ({
        id: k._id,
        key: `#${k.number}`,
        title: k.title,
        description: k.description,
        status: k.status,
        closed: k.stage === 'Closed',
        notes: k.comments.map((c) => c.message),
        closing: { summary: k.summary, tags: k.tags, severity: k.severity },
      })),
  };
}
