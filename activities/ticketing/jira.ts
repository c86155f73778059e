/**
 * Jira Cloud, REST API v3 (https://developer.atlassian.com/cloud/jira/platform/rest/v3/):
 * - auth: Basic with the account email and an API token;
 * - create: POST /rest/api/3/issue, description in Atlassian Document Format (ADF), labels carry the marker;
 * - find: POST /rest/api/3/search/jql (the old /search is gone) with `labels = "<marker>"`;
 * - notes: GET/POST /rest/api/3/issue/{key}/comment (bodies in ADF);
 * - state: GET /rest/api/3/issue/{key}/transitions, POST {transition: {id}} (204).
 * Errors come as {errorMessages: [], errors: {field: message}}; 429 carries Retry-After.
 * Note: Jira's search index is eventually consistent; a retry comes seconds after a failed create, which
 * is normally enough for the first ticket to be found.
 */
import { ErrorType } from '../../src/errors.js';
import { failure } from '../lib/failures.js';
import { outboundFailure } from '../lib/ssrf.js';
import type { HttpFactory } from './client.js';
import type { JiraConfig } from './config.js';
import type { TicketBackend, TicketRef } from './types.js';

type Adf = { type: string; content?: Adf[]; text?: string; version?: number };

/** Plain text -> an ADF document: one paragraph per line (ADF text nodes must not be empty). */
export function adf(text: string): Adf {
  const paragraphs = text
    .split('\n')
    .map((line): Adf => ({ type: 'paragraph', content: line ? [{ type: 'text', text: line }] : [] }));
  return { type: 'doc', version: 1, content: paragraphs };
}
function adfText(node: unknown): string {
  const n = node as Adf | undefined;
  if (!n || typeof n !== 'object') return '';
  return (n.text ?? '') + (n.content ?? []).map(adfText).join(n.type === 'doc' ? '\n' : '');
}

export function jiraReason(data: unknown): string | undefined {
  const d = data as { errorMessages?: string[]; errors?: Record<string, string> } | undefined;
  if (!d || typeof d !== 'object') return undefined;
  const parts = [...(d.errorMessages ?? []), ...Object.entries(d.errors ?? {}).map(([k, v]) => `${k}: ${v}`)];
  return parts.length ? parts.join('; ') : undefined;
}

interface JiraIssue {
  id: string;
  key: string;
  fields?: { status?: { name: string; statusCategory?: { key: string } } };
}

export function jiraBackend(c: JiraConfig, http: HttpFactory): TicketBackend {
  const auth = Buffer.from(`${c.JIRA_EMAIL}:${c.JIRA_API_TOKEN}`).toString('base64');
  const api = http(c.JIRA_URL, { Authorization: `Basic ${auth}` });
  const secrets = [c.JIRA_API_TOKEN, auth];
  const call = async <T>(what: string, fn: () => Promise<{ data: T }>): Promise<T> => {
    try {
      return (await fn()).data;
    } catch (e) {
      throw outboundFailure(e, `Jira ${what}`, jiraReason, secrets);
    }
  };
  const ref = (i: { id: string; key: string }): TicketRef => ({
    system: 'jira',
    id: i.id,
    key: i.key,
    url: `${c.JIRA_URL}/browse/${encodeURIComponent(i.key)}`,
  });
  const path = (r: TicketRef, rest = '') => `/rest/api/3/issue/${encodeURIComponent(r.id)}${rest}`;

  return {
    system: 'jira',
    async find(marker) {
      const r = await call('search', () =>
        api.post<{ issues?: JiraIssue[] }>('/rest/api/3/search/jql', {
          jql: `project = "${c.JIRA_PROJECT}" AND labels = "${marker}" ORDER BY created ASC`,
          fields: ['status'],
          maxResults: 1,
        }),
      );
      const first = r.issues?.[0];
      return first ? ref(first) : null;
    },
    async create(t, marker, description) {
      const r = await call('create issue', () =>
        api.post<{ id: string; key: string }>('/rest/api/3/issue', {
          fields: {
            project: { key: c.JIRA_PROJECT },
            issuetype: { name: c.JIRA_ISSUE_TYPE },
            summary: `[Vigil] ${t.title}`.replace(/[\r\n]+/g, ' ').slice(0, 255),
            description: adf(description),
            labels: ['vigil', marker, `severity-${t.severity}`],
          },
        }),
      );
      return ref(r);
    },
    async hasNote(r, marker) {
      const res = await call('list comments', () =>
        api.get<{ comments?: { body: unknown }[] }>(path(r, '/comment'), {
          params: { maxResults: 100, orderBy: '-created' },
        }),
      );
      return (res.comments ?? []).some((cm) => adfText(cm.body).includes(marker));
    },
    async addNote(r, note) {
      await call('add comment', () => api.post(path(r, '/comment'), { body: adf(note.text) }));
    },
    async setState(r, state) {
      const issue = await call('read issue', () =>
        api.get<JiraIssue>(path(r), { params: { fields: 'status' } }),
      );
      const status = issue.fields?.status;
      if (status?.statusCategory?.key === 'done') return; // never reopen
      const target = state.kind === 'closed' ? c.JIRA_DONE_TRANSITION : c.JIRA_START_TRANSITION;
      if (status?.name.toLowerCase() === target.toLowerCase()) return;
      const { transitions = [] } = await call('list transitions', () =>
        api.get<{ transitions?: { id: string; name: string; to?: { name: string } }[] }>(
          path(r, '/transitions'),
        ),
      );
      const t = transitions.find(
        (x) =>
          x.name.toLowerCase() === target.toLowerCase() || x.to?.name.toLowerCase() === target.toLowerCase(),
      );
      if (!t) {
        if (state.kind !== 'closed') return; // "in progress" is a courtesy; its absence is not an error
        throw failure(
          ErrorType.Misconfigured,
          `Jira issue ${r.key} (status ${status?.name ?? '?'}) has no transition "${target}" (JIRA_DONE_TRANSITION); available: ${transitions.map((x) => x.name).join(', ') || 'none'}`,
        );
      }
      await call('transition issue', () => api.post(path(r, '/transitions'), { transition: { id: t.id } }));
    },
  };
}
