/** The only file that knows SMTP/nodemailer. Maps transport errors onto our failure types once. */
import tls from 'node:tls';
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
    // opportunistic: nodemailer's default (upgrade when the server offers STARTTLS).
    auth: c.SMTP_USER && c.SMTP_PASSWORD ? { user: c.SMTP_USER, pass: c.SMTP_PASSWORD } : undefined,
    tls: {
      rejectUnauthorized: c.SMTP_TLS_REJECT_UNAUTHORIZED,
      minVersion: 'TLSv1.2',
      // Added to Node's default roots (not replacing them): a private relay CA next to public ones.
      ...(c.SMTP_TLS_CA_FILE ? { ca: [...tls.rootCertificates, c.SMTP_TLS_CA_FILE] } : {}),
      ...(c.SMTP_TLS_SERVERNAME ? { servername: c.SMTP_TLS_SERVERNAME } : {}),
    },
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
          // Our own headers carry event-derived ids: one line each, whatever they contain.
          headers: m.headers
            ? Object.fromEntries(Object.entries(m.headers).map(([k, v]) => [k, oneLine(v)]))
            : undefined,
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

/** Node's certificate verification codes (tls.TLSSocket#authorizationError, X509_V_ERR_* names). */
const CERT_ERRORS =
  /^(ERR_TLS_CERT_ALTNAME_INVALID|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT(_LOCALLY)?|CERT_HAS_EXPIRED|CERT_NOT_YET_VALID|CERT_UNTRUSTED|CERT_REVOKED|HOSTNAME_MISMATCH|ERR_SSL_.*)$/;

function mapSmtpError(e: SmtpError) {
  // Never echo credentials: nodemailer's messages carry the server's reply, not our secrets.
  const reason = `${e.code ?? 'SMTP'}${e.responseCode ? ` ${e.responseCode}` : ''}: ${oneLine(e.response ?? e.message)}`;
  const certCode = [e.code, (e as { cause?: { code?: string } }).cause?.code].find(
    (x) => x !== undefined && CERT_ERRORS.test(x),
  );
  if (certCode || /certificate/i.test(e.message)) {
    // Not something a retry fixes: the server is not who it claims, or its CA is not trusted here.
    return failure(
      ErrorType.Misconfigured,
      `SMTP server certificate not trusted (${certCode ?? reason}): trust its CA with SMTP_TLS_CA_FILE or fix the server's certificate`,
    );
  }
  if (e.code === 'ETLS' || /STARTTLS|SSL routines/i.test(e.message)) {
    // starttls and the server did not offer it (or someone on the path removed it); tls against a plain port.
    return failure(ErrorType.Misconfigured, `SMTP server did not negotiate TLS (${reason})`);
  }
  if (e.code === 'EAUTH')
    return failure(ErrorType.Unauthenticated, `SMTP server refused our credentials (${reason})`);
  if (e.code === 'EENVELOPE' || (e.responseCode !== undefined && e.responseCode >= 500)) {
    return failure(ErrorType.UpstreamRejected, `SMTP server rejected the message (${reason})`);
  }
  return failure(ErrorType.Unavailable, `SMTP server unavailable (${reason})`);
}

const oneLine = (s: string) => s.replace(/[\r\n]+/g, ' ').slice(0, 300);
