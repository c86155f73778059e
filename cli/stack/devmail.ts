/**
 * The dev stack's mailbox: a real SMTP server (smtp-server) on loopback that requires the generated
 * credentials and keeps every message in SQLite, so `vigil mail` can show what the playbooks sent.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { simpleParser } from 'mailparser';
import { SMTPServer } from 'smtp-server';

export interface StoredMail {
  id: number;
  receivedAt: string;
  messageId: string | null;
  from: string;
  to: string[];
  subject: string;
  text: string;
  html: string | null;
  headers: Record<string, string>;
}

function open(file: string, readonly = false): Database.Database {
  if (!readonly) mkdirSync(dirname(file), { recursive: true });
  const db = new Database(file, { readonly, fileMustExist: readonly });
  if (!readonly) {
    db.pragma('journal_mode = WAL');
    db.exec(`CREATE TABLE IF NOT EXISTS mail (
      id INTEGER PRIMARY KEY AUTOINCREMENT, received_at TEXT NOT NULL, message_id TEXT, mail_from TEXT NOT NULL,
      rcpt_to TEXT NOT NULL, subject TEXT NOT NULL, text TEXT NOT NULL, html TEXT, headers TEXT NOT NULL, raw BLOB NOT NULL)`);
  }
  return db;
}

export async function startDevMailServer(o: {
  file: string;
  user: string;
  password: string;
  port?: number;
  host?: string;
}) {
  const db = open(o.file);
  const insert = db.prepare(
    'INSERT INTO mail (received_at, message_id, mail_from, rcpt_to, subject, text, html, headers, raw) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
  );
  const server = new SMTPServer({
    secure: false,
    disabledCommands: ['STARTTLS'],
    allowInsecureAuth: true, // loopback only
    authMethods: ['PLAIN', 'LOGIN'],
    size: 25 * 1024 * 1024,
    banner: 'Vigil dev mailbox',
    onAuth(auth, _session, cb) {
      if (auth.username === o.user && auth.password === o.password) cb(null, { user: auth.username });
      else cb(new Error('Invalid username or password'));
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks);
        simpleParser(raw)
          .then((m) => {
            const headers: Record<string, string> = {};
            for (const [k, v] of m.headers) headers[k] = typeof v === 'string' ? v : JSON.stringify(v);
            insert.run(
              new Date().toISOString(),
              m.messageId ?? null,
              session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
              JSON.stringify(session.envelope.rcptTo.map((r) => r.address)),
              m.subject ?? '',
              m.text ?? '',
              typeof m.html === 'string' ? m.html : null,
              JSON.stringify(headers),
              raw,
            );
            cb();
          })
          .catch((e: Error) => cb(e));
      });
    },
  });
  const host = o.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port ?? 0, host, () => resolve());
  });
  const addr = server.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    host,
    port,
    close: () =>
      new Promise<void>((r) =>
        server.close(() => {
          db.close();
          r();
        }),
      ),
  };
}

export function readMailbox(file: string, opts: { id?: number; limit?: number } = {}): StoredMail[] {
  const db = open(file, true);
  try {
    const rows = (
      opts.id !== undefined
        ? db.prepare('SELECT * FROM mail WHERE id = ?').all(opts.id)
        : db.prepare('SELECT * FROM mail ORDER BY id DESC LIMIT ?').all(opts.limit ?? 50)
    ) as Record<string, unknown>[];
    return rows.map((r) => ({
      id: Number(r.id),
      receivedAt: String(r.received_at),
      messageId: (r.message_id as string | null) ?? null,
      from: String(r.mail_from),
      to: JSON.parse(String(r.rcpt_to)) as string[],
      subject: String(r.subject),
      text: String(r.text),
      html: (r.html as string | null) ?? null,
      headers: JSON.parse(String(r.headers)) as Record<string, string>,
    }));
  } finally {
    db.close();
  }
}
