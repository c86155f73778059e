/**
 * Process (benchmark only): the mail sink both sides notify. A real SMTP server (smtp-server) on loopback
 * that requires credentials like the dev mailbox, reads every message and only counts it (no parsing, no
 * storage), so neither side pays for the sink. Its own process, so it does not disturb the driver's
 * latency measurements. Prints {"smtpPort","httpPort"} on stdout; GET /count answers {"messages"}.
 */
import { createServer } from 'node:http';
import { SMTPServer } from 'smtp-server';

const user = process.env.SINK_USER ?? 'bench';
const password = process.env.SINK_PASSWORD ?? 'bench';
let messages = 0;

const smtp = new SMTPServer({
  secure: false,
  disabledCommands: ['STARTTLS'],
  allowInsecureAuth: true, // loopback only
  authMethods: ['PLAIN', 'LOGIN'],
  banner: 'Vigil bench sink',
  logger: false,
  onAuth(auth, _session, cb) {
    if (auth.username === user && auth.password === password) cb(null, { user: auth.username });
    else cb(new Error('Invalid username or password'));
  },
  onData(stream, _session, cb) {
    stream.on('data', () => undefined);
    stream.on('end', () => {
      messages += 1;
      cb();
    });
  },
});

const http = createServer((req, res) => {
  if (req.url === '/count') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ messages }));
  } else {
    res.writeHead(404).end();
  }
});

const listen = (s: { listen: (port: number, host: string, cb: () => void) => unknown }) =>
  new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));

await listen(smtp.server);
await listen(http);
const port = (a: ReturnType<typeof http.address>) => (typeof a === 'object' && a ? a.port : 0);
process.stdout.write(
  `${JSON.stringify({ smtpPort: port(smtp.server.address()), httpPort: port(http.address()) })}\n`,
);

const stop = () => {
  http.close();
  smtp.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
