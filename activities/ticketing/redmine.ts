/**
 * Redmine 5 REST API (https://www.redmine.org/projects/redmine/wiki/Rest_api):
 * - auth: `X-Redmine-API-Key` (the REST API must be enabled in Administration > Settings > API);
 * - create: POST /issues.json {issue: {project_id, subject, description}} (201); the marker is a subject tag;
 * - find: GET /issues.json with the filter subject contains the marker, any status;
 * - notes: PUT /issues/{id}.json {issue: {notes}} (204); read back with GET /issues/{id}.json?include=journals;
 * - state: status ids by name from GET /issue_statuses.json.
 * Errors: 422 {errors: [...]}; 401/403 for bad keys or missing rights.
 */
import { ErrorType } from '../../src/errors.js';
import { failure } from '../lib/failures.js';
import { outboundFailure } from '../lib/ssrf.js';
import type { HttpFactory } from './client.js';
import type { RedmineConfig } from './config.js';
import type { TicketBackend, TicketRef } from './types.js';

export function redmineReason(data: unknown): string | undefined {
  const d = data as { errors?: string[] } | undefined;
  return d?.errors?.length ? d.errors.join('; ') : undefined;
}

type Status = { id: number; name: string; is_closed?: boolean };
type Issue = { id: number; subject?: string; status?: Status; journals?: { notes?: string }[] };

export function redmineBackend(c: RedmineConfig, http: HttpFactory): TicketBackend {
  const api = http(c.REDMINE_URL, { 'X-Redmine-API-Key': c.REDMINE_API_KEY });
  const call = async <T>(what: string, fn: () => Promise<{ data: T }>): Promise<T> => {
    try {
      return (await fn()).data;
    } catch (e) {
      throw outboundFailure(e, `Redmine ${what}`, redmineReason, [c.REDMINE_API_KEY]);
    }
  };
  const ref = (id: number): TicketRef => ({
    system: 'redmine',
    id: String(id),
    key: `#${id}`,
    url: `${c.REDMINE_URL}/issues/${id}`,
  });
  const path = (r: TicketRef) => `/issues/${encodeURIComponent(r.id)}.json`;
  let statuses: Status[] | undefined;
  const statusNamed = async (name: string, key: string): Promise<Status> => {
    statuses ??= (
      await call('list statuses', () => api.get<{ issue_statuses: Status[] }>('/issue_statuses.json'))
    ).issue_statuses;
    const s = statuses.find((x) => x.name.toLowerCase() === name.toLowerCase());
    if (!s)
      throw failure(
        ErrorType.Misconfigured,
        `Redmine has no issue status "${name}" (${key}); it has: ${statuses.map((x) => x.name).join(', ')}`,
      );
    return s;
  };

  return {
    system: 'redmine',
    async find(marker) {
      // Query string by hand: Redmine's filter syntax repeats keys with [] (f[]=..&op[x]=..&v[x][]=..).
      const q = new URLSearchParams([
        ['project_id', c.REDMINE_PROJECT],
        ['f[]', 'status_id'],
        ['op[status_id]', '*'],
        ['f[]', 'subject'],
        ['op[subject]', '~'],
        ['v[subject][]', `[${marker}]`],
        ['sort', 'id'],
        ['limit', '5'],
      ]);
      const r = await call('search issues', () =>
        api.get<{ issues: Issue[] }>(`/issues.json?${q.toString()}`),
      );
      // "~" is "contains": keep only exact tag matches.
      const hit = r.issues.find((i) => (i.subject ?? '').includes(`[${marker}]`));
      return hit ? ref(hit.id) : null;
    },
    async create(t, marker, description) {
      let tracker_id: number | undefined;
      if (c.REDMINE_TRACKER) {
        const { trackers } = await call('list trackers', () =>
          api.get<{ trackers: { id: number; name: string }[] }>('/trackers.json'),
        );
        tracker_id = trackers.find((x) => x.name.toLowerCase() === c.REDMINE_TRACKER?.toLowerCase())?.id;
        if (tracker_id === undefined)
          throw failure(
            ErrorType.Misconfigured,
            `Redmine has no tracker "${c.REDMINE_TRACKER}" (REDMINE_TRACKER)`,
          );
      }
      const r = await call('create issue', () =>
        api.post<{ issue: Issue }>('/issues.json', {
          issue: {
            project_id: c.REDMINE_PROJECT,
            subject: `[${marker}] [Vigil] ${t.title}`.replace(/[\r\n]+/g, ' ').slice(0, 255),
            description,
            ...(tracker_id !== undefined ? { tracker_id } : {}),
          },
        }),
      );
      return ref(r.issue.id);
    },
    async hasNote(r, marker) {
      const { issue } = await call('read issue', () =>
        api.get<{ issue: Issue }>(path(r), { params: { include: 'journals' } }),
      );
      return (issue.journals ?? []).some((j) => (j.notes ?? '').includes(marker));
    },
    async addNote(r, note) {
      await call('add note', () => api.put(path(r), { issue: { notes: note.text } }));
    },
    async setState(r, state) {
      const { issue } = await call('read issue', () => api.get<{ issue: Issue }>(path(r)));
      if (issue.status?.is_closed) return; // never reopen
      const target =
        state.kind === 'closed'
          ? await statusNamed(c.REDMINE_CLOSED_STATUS, 'REDMINE_CLOSED_STATUS')
          : await statusNamed(c.REDMINE_IN_PROGRESS_STATUS, 'REDMINE_IN_PROGRESS_STATUS');
      if (issue.status?.id === target.id) return;
      await call('set status', () => api.put(path(r), { issue: { status_id: target.id } }));
    },
  };
}
