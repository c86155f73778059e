/** The only file that knows SMTP/nodemailer. Maps transport errors onto our failure types once. */
import nodemailer from 'nodemailer';
import { ErrorType } from '../../src/errors.js';
import { failure } from '../lib/failures.js';
import type { NotifyConfig } from './config.js';

export interface OutgoingMail {
  messageId: string;
  to: string[];
  subject: string;
  text: string;
  html: string;
  headers?: Record<string, string>;
}

export interface Mailer {
  send(mail: OutgoingMail): Promise<{ accepted: string[]; rejected: string[] }>;
  close(): void;
}

interface SmtpError extends Error {
  code?: string;
  responseCode?: number;
  response?: string;
}

export function createSmtpMailer(c: NotifyConfig): Mailer {
  const transport = nodemailer.createTransport({
    host: c.SMTP_HOST,
    port: c.SMTP_PORT,
    secure: c.SMTP_SECURITY === 'tls',
    requireTLS: c.SMTP_SECURITY === 'starttls',
    ignoreTLS: c.SMTP_SECURITY === 'none',
    auth: c.SMTP_USER && c.SMTP_PASSWORD ? { user: c.SMTP_USER, pass: c.SMTP_PASSWORD } : undefined,
    tls: { rejectUnauthorized: c.SMTP_TLS_REJECT_UNAUTHORIZED },
    connectionTimeout: c.SMTP_TIMEOUT,
    greetingTimeout: c.SMTP_TIMEOUT,
    socketTimeout: c.SMTP_TIMEOUT,
  });
  return {
    async send(m) {
      try {
        const info = await transport.sendMail({
          from: c.VIGIL_MAIL_FROM,
          to: m.to,
          subject: m.subject,
          text: m.text,
          html: m.html,
          messageId: m.messageId,
          headers: m.headers,
        });
        return { accepted: info.accepted.map(String), rejected: info.rejected.map(String) };
      } catch (e) {
        throw mapSmtpError(e as SmtpError);
      }
    },
    close() {
      transport.close();
    },
  };
}

function mapSmtpError(e: SmtpError) {
  // Never echo credentials: nodemailer's messages carry the server's reply, not our secrets.
  const reason = `${e.code ?? 'SMTP'}${e.responseCode ? ` ${e.responseCode}` : ''}: ${e.response ?? e.message}`;
  if (e.code === 'EAUTH')
    return failure(ErrorType.Unauthenticated, `SMTP server refused our credentials (${reason})`);
  if (e.code === 'EENVELOPE' || (e.responseCode !== undefined && e.responseCode >= 500)) {
    return failure(ErrorType.UpstreamRejected, `SMTP server rejected the message (${reason})`);
  }
  return failure(ErrorType.Unavailable, `SMTP server unavailable (${reason})`);
}
