/**
 * The embedded Temporal server: find or build the CLI (scripts/ensure-temporal.sh), start
 * `temporal server start-dev` on a SQLite file with WAL pragmas, wait until it serves, stop it cleanly.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { Connection } from '@temporalio/client';
import { repoRoot } from '../../src/paths.js';

export const SQLITE_PRAGMAS = ['journal_mode=WAL', 'synchronous=NORMAL'] as const;

/** Find or build the Temporal CLI; build progress is passed line by line to `progress`. */
export async function findTemporalBinary(
  progress: (line: string) => void = (l) => process.stderr.write(`${l}\n`),
): Promise<string> {
  const script = join(repoRoot(), 'scripts', 'ensure-temporal.sh');
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
      const lines = err.split('\n');
      err = lines.pop() ?? '';
      for (const l of lines) if (l.trim()) progress(l);
    });
    child.on('error', reject);
    child.on('close', (code) => {
      const path = out.trim().split('\n').pop();
      if (code === 0 && path) resolve(path);
      else reject(new Error(`could not find or build the Temporal CLI (exit ${code}); see the lines above`));
    });
  });
}

export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, host, () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

export async function portIsFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, host, () => s.close(() => resolve(true)));
  });
}

export interface DevServer {
  address: string;
  uiUrl?: string;
  metricsUrl: string;
  dbFile: string;
  process: ChildProcess;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export interface DevServerOptions {
  bin: string;
  dbFile: string;
  port?: number;
  uiPort?: number;
  metricsPort?: number;
  headless?: boolean;
  logFile?: string;
  /** The UI's remote codec endpoint (so it can show encrypted payloads to an authorized analyst). */
  uiCodecEndpoint?: string;
  /** Namespaces the server creates at start (immediately usable; retention is set by ensureNamespace). */
  namespaces?: string[];
  /** How long to wait for the server to serve. */
  readyTimeoutMs?: number;
}

export async function startDevServer(o: DevServerOptions): Promise<DevServer> {
  const port = o.port ?? (await freePort());
  const metricsPort = o.metricsPort ?? (await freePort());
  const uiPort = o.headless ? undefined : (o.uiPort ?? (await freePort()));
  mkdirSync(dirname(o.dbFile), { recursive: true });
  const args = [
    'server',
    'start-dev',
    '--ip',
    '127.0.0.1',
    '--port',
    String(port),
    '--metrics-port',
    String(metricsPort),
    '--db-filename',
    o.dbFile,
    ...SQLITE_PRAGMAS.flatMap((p) => ['--sqlite-pragma', p]),
    '--log-level',
    'warn',
    ...(o.namespaces ?? []).flatMap((n) => ['--namespace', n]),
    ...(o.uiCodecEndpoint && uiPort !== undefined ? ['--ui-codec-endpoint', o.uiCodecEndpoint] : []),
    ...(uiPort === undefined ? ['--headless'] : ['--ui-port', String(uiPort), '--ui-ip', '127.0.0.1']),
  ];
  const child = spawn(o.bin, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: false });
  if (o.logFile) {
    mkdirSync(dirname(o.logFile), { recursive: true });
    const log = createWriteStream(o.logFile, { flags: 'a' });
    child.stdout?.pipe(log);
    child.stderr?.pipe(log);
  } else {
    child.stdout?.resume();
    child.stderr?.resume();
  }
  const address = `127.0.0.1:${port}`;
  let exited: number | null | undefined;
  child.once('exit', (code) => (exited = code));
  const deadline = Date.now() + (o.readyTimeoutMs ?? 60_000);
  for (;;) {
    if (exited !== undefined)
      throw new Error(
        `the Temporal dev server exited with code ${exited} before serving${o.logFile ? ` (log: ${o.logFile})` : ''}`,
      );
    if (await isServing(address)) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`the Temporal dev server did not serve on ${address} in time`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return {
    address,
    uiUrl: uiPort === undefined ? undefined : `http://127.0.0.1:${uiPort}`,
    metricsUrl: `http://127.0.0.1:${metricsPort}/metrics`,
    dbFile: o.dbFile,
    process: child,
    stop: (signal: NodeJS.Signals = 'SIGTERM') => stopChild(child, signal),
  };
}

export async function isServing(address: string): Promise<boolean> {
  let conn: Connection | undefined;
  try {
    conn = await Connection.connect({ address, connectTimeout: 1000 });
    await conn.workflowService.getSystemInfo({});
    return true;
  } catch {
    return false;
  } finally {
    await conn?.close().catch(() => undefined);
  }
}

/** Send `signal`, wait up to `graceMs`, then SIGKILL. Resolves once the process has exited. */
export async function stopChild(
  child: ChildProcess,
  signal: NodeJS.Signals = 'SIGTERM',
  graceMs = 10_000,
): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const done = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill(signal);
  const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await done;
  clearTimeout(t);
}
