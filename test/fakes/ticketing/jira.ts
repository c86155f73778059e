/**
 * A local Jira Cloud that follows the documented REST API v3
 * (https://developer.atlassian.com/cloud/jira/platform/rest/v3/): Basic auth with email + API token;
 * POST /rest/api/3/issue (fields.project.key, fields.issuetype.name, fields.summary, description as an ADF
 * document; 201 {id, key, self}); POST /rest/api/3/search/jql ({jql, fields, maxResults} -> {issues,
 * isLast}); GET /rest/api/3/issue/{idOrKey}; GET/POST .../comment (ADF bodies); GET/POST .../transitions
 * (204). Errors: {errorMessages: [], errors: {}}. Workflow: To Do -> In Progress -> Done.
 */
import { startFake, type FakeServer, type FakeTicket, type Reply } from './common.js';

type Adf = { type?: string; version?: number; content?: Adf[]; text?: string };
const isAdfDoc = (d: unknown) => {
  const a = d as Adf | undefined;
  return !!a && a.type === 'doc' && a.version === 1 && Array.isArray(a.content);
};
const text = (n: Adf | undefined): string =>
  !n ? '' : (n.text ?? '') + (n.content ?? []).map(text).join(n.type === 'doc' ? '\n' : '');

const STATUSES = {
  'To Do': { name: 'To Do', statusCategory: { key: 'new' } },
  'In Progress': { name: 'In Progress', statusCategory: { key: 'indeterminate' } },
  Done: { name: 'Done', statusCategory: { key: 'done' } },
} as const;
type StatusName = keyof typeof STATUSES;
const TRANSITIONS: { id: string; name: string; to: StatusName; from: StatusName[] }[] = [
  { id: '11', name: 'To Do', to: 'To Do', from: ['In Progress', 'Done'] },
  { id: '21', name: 'In Progress', to: 'In Progress', from: ['To Do'] },
  { id: '31', name: 'Done', to: 'Done', from: ['To Do', 'In Progress'] },
];

interface Issue {
  id: string;
  key: string;
  summary: string;
  description: Adf;
  labels: string[];
  status: StatusName;
  comments: { id: string; body: Adf }[];
}

export interface JiraFake extends FakeServer {
  email: string;
  token: string;
  project: string;
  tickets(): FakeTicket[];
}

export async function startJiraFake(
  o: { email?: string; token?: string; project?: string } = {},
): Promise<JiraFake> {
  const email = o.email ?? 'soc-bot@corp.example';
  const token = o.token ?? 'jira-api-token-123';
  const project = o.project ?? 'SEC';
  const issues: Issue[] = [];
  let nextId = 10000;
  const err = (status: number, messages: string[], errors: Record<string, string> = {}): Reply => ({
    status,
    body: { errorMessages: messages, errors },
  });
  const byIdOrKey = (k: string) => issues.find((i) => i.id === k || i.key === k);
  const notFound = () => err(404, ['Issue does not exist or you do not have permission to see it.']);
  let base = '';
  const fake = await startFake({
    authorized: (r) =>
      r.headers.authorization === `Basic ${Buffer.from(`${email}:${token}`).toString('base64')}`,
    errorBody: (_s, m) => ({ errorMessages: [m], errors: {} }),
    route(r) {
      const b = (r.body ?? {}) as Record<string, unknown>;
      if (r.method === 'POST' && r.path === '/rest/api/3/search')
        return err(410, [
          'The requested API has been removed. Please migrate to the /rest/api/3/search/jql API.',
        ]);
      if (r.method === 'POST' && r.path === '/rest/api/3/search/jql') {
        const jql = typeof b.jql === 'string' ? b.jql : '';
        const m = /^project = "([^"]+)" AND labels = "([^"]+)"( ORDER BY created ASC)?$/.exec(jql);
        if (!m) return err(400, [`Error in the JQL Query: unsupported by this fake: ${jql}`]);
        const found = issues.filter((i) => m[1] === project && i.labels.includes(m[2] ?? ''));
        const max = Number(b.maxResults ?? 50);
        const fields = (b.fields as string[] | undefined) ?? [];
        return {
          status: 200,
          body: {
            issues: found.slice(0, max).map((i) => ({
              id: i.id,
              key: i.key,
              self: `${base}/rest/api/3/issue/${i.id}`,
              ...(fields.includes('status') ? { fields: { status: STATUSES[i.status] } } : {}),
            })),
            isLast: found.length <= max,
          },
        };
      }
      if (r.method === 'POST' && r.path === '/rest/api/3/issue') {
        const f = (b.fields ?? {}) as {
          project?: { key?: string };
          issuetype?: { name?: string };
          summary?: unknown;
          description?: unknown;
          labels?: unknown;
        };
        const errors: Record<string, string> = {};
        if (f.project?.key !== project) errors.project = 'valid project is required';
        if (f.issuetype?.name !== 'Task') errors.issuetype = 'Specify a valid issue type';
        if (typeof f.summary !== 'string' || !f.summary)
          errors.summary = 'You must specify a summary of the issue.';
        else if (f.summary.length > 255 || /[\r\n]/.test(f.summary))
          errors.summary = 'Summary must be less than 255 characters and on one line.';
        if (f.description !== undefined && !isAdfDoc(f.description))
          errors.description =
            'Operation value must be an Atlassian Document (see the Atlassian Document Format)';
        const labels = (f.labels ?? []) as string[];
        if (labels.some((l) => /\s/.test(l))) errors.labels = 'The label cannot contain spaces.';
        if (Object.keys(errors).length) return err(400, [], errors);
        const id = String(nextId++);
        const issue: Issue = {
          id,
          key: `${project}-${issues.length + 1}`,
          summary: f.summary as string,
          description: f.description as Adf,
          labels,
          status: 'To Do',
          comments: [],
        };
        issues.push(issue);
        return { status: 201, body: { id, key: issue.key, self: `${base}/rest/api/3/issue/${id}` } };
      }
      const m = /^\/rest\/api\/3\/issue\/([^/]+)(\/comment|\/transitions)?$/.exec(r.path);
      if (!m) return err(404, ['No route']);
      const issue = byIdOrKey(decodeURIComponent(m[1] ?? ''));
      if (!issue) return notFound();
      if (!m[2] && r.method === 'GET')
        return {
          status: 200,
          body: {
            id: issue.id,
            key: issue.key,
            fields: { status: STATUSES[issue.status], summary: issue.summary },
          },
        };
      if (m[2] === '/comment' && r.method === 'GET') {
        const desc = r.query.get('orderBy') === '-created';
        const list = desc ? [...issue.comments].reverse() : issue.comments;
        const max = Number(r.query.get('maxResults') ?? 50);
        return {
          status: 200,
          body: { startAt: 0, maxResults: max, total: list.length, comments: list.slice(0, max) },
        };
      }
      if (m[2] === '/comment' && r.method === 'POST') {
        if (!isAdfDoc(b.body))
          return err(400, [], { comment: 'Comment body must be an Atlassian Document.' });
        const c = { id: String(nextId++), body: b.body as Adf };
        issue.comments.push(c);
        return { status: 201, body: { id: c.id, body: c.body } };
      }
      if (m[2] === '/transitions' && r.method === 'GET')
        return {
          status: 200,
          body: {
            transitions: TRANSITIONS.filter((t) => t.from.includes(issue.status)).map((t) => ({
              id: t.id,
              name: t.name,
              to: STATUSES[t.to],
            })),
          },
        };
      if (m[2] === '/transitions' && r.method === 'POST') {
        const id = (b.transition as { id?: string } | undefined)?.id;
        const t = TRANSITIONS.find((x) => x.id === id && x.from.includes(issue.status));
        if (!t) return err(400, [`Transition id '${id}' is not valid for this issue.`]);
        issue.status = t.to;
        return { status: 204 };
      }
      return err(405, ['Method not allowed']);
    },
  });
  base = fake.url;
  return {
    ...fake,
    email,
    token,
    project,
    tickets: () =>
      issues.map((i) => ({
        id: i.id,
        key: i.key,
        title: i.summary,
        description: text(i.description),
        status: i.status,
        closed: i.status === 'Done',
        notes: i.comments.map((c) => text(c.body)),
        closing: { labels: i.labels },
      })),
  };
}
