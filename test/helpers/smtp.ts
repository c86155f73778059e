/**
 * A real SMTP server (smtp-server) for tests: records every message, can require auth, speak implicit TLS
 * or offer STARTTLS with a given certificate, and records whether each session was encrypted.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer } from 'smtp-server';

export interface TestSmtp {
  port: number;
  messages: ParsedMail[];
  /** Per message: whether the session that carried it was encrypted (implicit TLS or STARTTLS). */
  secure: boolean[];
  /** Authenticated user names, one per successful AUTH. */
  logins: string[];
  /** Hook run when a message's data arrives, before the server answers (e.g. to kill a worker mid-send). */
  onMessage?: (m: ParsedMail) => Promise<void> | void;
  close(): Promise<void>;
}

export interface TestSmtpOptions {
  user?: string;
  password?: string;
  port?: number;
  /** A key and certificate: with `implicitTls` the server speaks TLS from the first byte, else it offers STARTTLS. */
  tls?: { key: string; cert: string };
  implicitTls?: boolean;
}

export async function startTestSmtp(o: TestSmtpOptions = {}): Promise<TestSmtp> {
  const t: TestSmtp = {
    port: 0,
    messages: [],
    secure: [],
    logins: [],
    close: async () => undefined,
  };
  const server = new SMTPServer({
    secure: !!o.implicitTls,
    ...(o.tls ? { key: o.tls.key, cert: o.tls.cert } : {}),
    disabledCommands: o.tls ? [] : ['STARTTLS'],
    allowInsecureAuth: true,
    authOptional: !o.user,
    // smtp-server logs nothing unless given a logger; keep it that way.
    logger: false,
    onAuth(auth, _s, cb) {
      if (auth.username === o.user && auth.password === o.password) {
        t.logins.push(auth.username ?? '');
        cb(null, { user: auth.username });
      } else cb(new Error('Invalid username or password'));
    },
    onData(stream, session, cb) {
      simpleParser(stream)
        .then(async (m) => {
          t.messages.push(m);
          t.secure.push(session.secure);
          await t.onMessage?.(m);
          cb();
        })
        .catch((e: Error) => cb(e));
    },
  });
  // A client that gives up on a bad certificate makes the server emit 'error'; that is the test's outcome.
  server.on('error', () => undefined);
  await new Promise<void>((r) => server.listen(o.port ?? 0, '127.0.0.1', () => r()));
  const a = server.server.address();
  t.port = typeof a === 'object' && a ? a.port : 0;
  t.close = () => new Promise<void>((r) => server.close(() => r()));
  return t;
}

/**
 * A fresh self-signed certificate for localhost / 127.0.0.1 made with `openssl req` (P-256, 1 day).
 * `caFile` is the certificate's path (a self-signed certificate is its own CA); `cleanup` removes the folder.
 */
export function selfSignedCert(cn = 'localhost'): {
  key: string;
  cert: string;
  caFile: string;
  dir: string;
  cleanup: () => void;
} {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-cert-'));
  const keyFile = join(dir, 'key.pem');
  const caFile = join(dir, 'cert.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      keyFile,
      '-out',
      caFile,
      '-days',
      '1',
      '-subj',
      `/CN=${cn}`,
      '-addext',
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
    ],
    { stdio: 'ignore' },
  );
  return {
    key: readFileSync(keyFile, 'utf8'),
    cert: readFileSync(caFile, 'utf8'),
    caFile,
    dir,
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** Write `text` to a temporary file (for config keys that take a path). */
export function tempFile(name: string, text: string): { path: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-file-'));
  const path = join(dir, name);
  writeFileSync(path, text);
  return { path, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
