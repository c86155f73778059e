/** A real SMTP server (smtp-server) for tests: records every message, can require auth, delay or fail. */
import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer } from 'smtp-server';

export interface TestSmtp {
  port: number;
  messages: ParsedMail[];
  /** Hook run when a message's data arrives, before the server answers (e.g. to kill a worker mid-send). */
  onMessage?: (m: ParsedMail) => Promise<void> | void;
  close(): Promise<void>;
}

export async function startTestSmtp(
  o: { user?: string; password?: string; port?: number } = {},
): Promise<TestSmtp> {
  const t: TestSmtp = { port: 0, messages: [], close: async () => undefined };
  const server = new SMTPServer({
    secure: false,
    disabledCommands: ['STARTTLS'],
    allowInsecureAuth: true,
    authOptional: !o.user,
    onAuth(auth, _s, cb) {
      if (auth.username === o.user && auth.password === o.password) cb(null, { user: auth.username });
      else cb(new Error('Invalid username or password'));
    },
    onData(stream, _s, cb) {
      simpleParser(stream)
        .then(async (m) => {
          t.messages.push(m);
          await t.onMessage?.(m);
          cb();
        })
        .catch((e: Error) => cb(e));
    },
  });
  await new Promise<void>((r) => server.listen(o.port ?? 0, '127.0.0.1', () => r()));
  const a = server.server.address();
  t.port = typeof a === 'object' && a ? a.port : 0;
  t.close = () => new Promise<void>((r) => server.close(() => r()));
  return t;
}
