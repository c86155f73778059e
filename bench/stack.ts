/**
 * The benchmark's stack, one of each, all children of the benchmark process: a Temporal dev server
 * (fresh temp SQLite file, WAL pragmas, headless), the namespace with Vigil's search attributes, an SMTP
 * sink, Vigil's playbook worker and intake started with the environment `vigil up` gives them
 * (cli/commands/up.ts), and the bare baseline worker. Every child is stopped on exit, error or signal.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { ensureNamespace } from '../cli/stack/namespace.js';
import { freePort, startDevServer, stopChild, type DevServer } from '../cli/stack/temporal.js';
import { distEntry } from '../src/paths.js';
import { childPids } from './proc.js';
import { waitHttp } from '../cli/stack/supervisor.js';

export const NAMESPACE = 'vigil';

export interface StackOptions {
  bin: string;
  quietPeriod: string;
  rateLimit: number;
  rateBurst: number;
  say: (line: string) => void;
  /**
   * Run the intake, both workers and the processes of `spawn` (the response side) with `node --cpu-prof`,
   * each process's profiles written in a directory of its own under this one.
   */
  cpuProfDir?: string;
}

export interface Stack {
  dir: string;
  dbFile: string;
  address: string;
  connection: Connection;
  client: Client;
  intakePort: number;
  intakeKey: { id: string; secret: string };
  adminToken: string;
  queues: { ours: string; bare: string };
  pids: { server?: number; worker?: number; intake?: number; bareWorker?: number; sink?: number };
  sinkHttpPort: number;
  env: Record<string, string>;
  /** The environment `vigil up` gives a playbook worker on `queue` (SMTP to the sink, short quiet period). */
  workerEnv(queue: string, metricsPort: number): NodeJS.ProcessEnv;
  /** The intake's environment (same keys, admin token and raised rate limit) on `queue`, `port`, `dataDir`. */
  intakeEnv(queue: string, port: number, dataDir: string): NodeJS.ProcessEnv;
  /**
   * Start one more child process (stopped with the stack): resolves once it prints `ready` (a RegExp
   * on stdout/stderr) or answers 2xx on `ready` (a URL), with its pid.
   */
  spawn(
    name: string,
    entry: string,
    env: NodeJS.ProcessEnv,
    ready: RegExp | string,
    opts?: { restart?: boolean },
  ): Promise<Extra>;
  stop(keepDir: boolean): Promise<void>;
}

export interface Extra {
  /** The current process (a new one after a restart). */
  readonly pid: number;
  log: string;
  /** When and why it was restarted (spawned with `restart`). */
  restarts(): string[];
  /** SIGTERM, then SIGKILL after the grace time. */
  stop(): Promise<void>;
}

const children = new Set<ChildProcess>();
let temporal: DevServer | undefined;

/** Last resort (process 'exit', second Ctrl-C): SIGKILL every child we started, by pid. */
export function killAllNow(): void {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  if (temporal && temporal.process.exitCode === null) temporal.process.kill('SIGKILL');
  for (const pid of childPids()) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}

function spawnNode(
  name: string,
  entry: string,
  env: NodeJS.ProcessEnv,
  logFile: string,
  execArgv: string[] = [],
): ChildProcess {
  const child = spawn(process.execPath, [...execArgv, entry], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  const log = createWriteStream(logFile, { flags: 'a' });
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  child.once('exit', () => children.delete(child));
  child.once('error', (e) => log.write(`${name}: ${e.message}\n`));
  return child;
}

/** Resolve once `child` prints a line matching `re` on stderr/stdout; reject if it exits first or times out. */
function waitForLine(child: ChildProcess, name: string, re: RegExp, timeoutMs: number, logFile: string) {
  return new Promise<string>((resolve, reject) => {
    let buf = '';
    const t = setTimeout(
      () => done(new Error(`${name} did not start within ${timeoutMs / 1000}s (log: ${logFile})`)),
      timeoutMs,
    );
    const onData = (d: Buffer) => {
      buf += d.toString();
      const m = re.exec(buf);
      if (m) done(undefined, m[0]);
    };
    const onExit = (code: number | null) =>
      done(new Error(`${name} exited (code ${code}) while starting (log: ${logFile})`));
    const done = (e?: Error, line?: string) => {
      clearTimeout(t);
      child.stdout?.off('data', onData);
      child.stderr?.off('data', onData);
      child.off('exit', onExit);
      if (e) reject(e);
      else resolve(line ?? '');
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', onExit);
  });
}

export async function startStack(o: StackOptions): Promise<Stack> {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-bench-'));
  const dbFile = join(dir, 'temporal.db');
  const tag = randomBytes(3).toString('hex');
  const queues = { ours: `vigil-bench-ours-${tag}`, bare: `vigil-bench-bare-${tag}` };
  const pids: Stack['pids'] = {};
  let connection: Connection | undefined;
  let stopped: Promise<void> | undefined;
  let stopping = false;
  const stop = (keepDir: boolean) => (stopped ??= stopOnce(keepDir));
  const stopOnce = async (keepDir: boolean) => {
    stopping = true;
    await connection?.close().catch(() => undefined);
    // Vigil's processes and the bare worker first (they drain), then the sink, then Temporal.
    const byName = [...children];
    await Promise.all(byName.filter((c) => c.pid !== pids.sink).map((c) => stopChild(c, 'SIGTERM', 15_000)));
    await Promise.all([...children].map((c) => stopChild(c, 'SIGTERM', 5_000)));
    if (temporal) await temporal.stop().catch(() => undefined);
    temporal = undefined;
    if (!keepDir) rmSync(dir, { recursive: true, force: true });
  };

  try {
    o.say(`bench: starting the Temporal dev server (SQLite ${dbFile}, headless)...`);
    temporal = await startDevServer({
      bin: o.bin,
      dbFile,
      headless: true,
      logFile: join(dir, 'temporal.log'),
      namespaces: [NAMESPACE],
    });
    pids.server = temporal.process.pid;
    const address = temporal.address;
    connection = await Connection.connect({ address, connectTimeout: 10_000 });
    await ensureNamespace(connection, NAMESPACE, 1);
    const client = new Client({ connection, namespace: NAMESPACE });

    o.say('bench: starting the SMTP sink, the playbook worker, the bare worker and the intake...');
    const sinkUser = 'bench';
    const sinkPassword = randomBytes(12).toString('hex');
    const sinkLog = join(dir, 'smtp-sink.log');
    const sink = spawn(process.execPath, [distEntry('bench/smtp-sink')], {
      env: { ...process.env, SINK_USER: sinkUser, SINK_PASSWORD: sinkPassword },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.add(sink);
    sink.once('exit', () => children.delete(sink));
    sink.stderr?.pipe(createWriteStream(sinkLog, { flags: 'a' }));
    pids.sink = sink.pid;
    const sinkLine = await waitForLine(sink, 'smtp sink', /\{[^\n]*\}\n/, 20_000, sinkLog);
    const sinkPorts = JSON.parse(sinkLine) as { smtpPort: number; httpPort: number };

    const intakePort = await freePort();
    const intakeKey = { id: 'bench', secret: randomBytes(24).toString('hex') };
    const adminToken = randomBytes(24).toString('hex');
    const common = { ...process.env, TEMPORAL_ADDRESS: address, TEMPORAL_NAMESPACE: NAMESPACE };
    const adminTokenSha256 = createHash('sha256').update(adminToken).digest('hex');
    // Exactly the worker environment of `vigil up`, plus the short quiet period.
    const workerEnv = (queue: string, metricsPort: number): NodeJS.ProcessEnv => ({
      ...common,
      VIGIL_TASK_QUEUE: queue,
      SMTP_HOST: '127.0.0.1',
      SMTP_PORT: String(sinkPorts.smtpPort),
      SMTP_SECURITY: 'none',
      SMTP_USER: sinkUser,
      SMTP_PASSWORD: sinkPassword,
      VIGIL_MAIL_FROM: 'vigil@vigil.local',
      VIGIL_MAIL_TO: 'soc@vigil.local',
      VIGIL_WORKER_METRICS: `127.0.0.1:${metricsPort}`,
      VIGIL_QUIET_PERIOD: o.quietPeriod,
    });
    // --cpu-prof: each process's profiles (one per thread) in a directory of its own.
    const cpuProf = (name: string) =>
      o.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${join(o.cpuProfDir, name)}`] : [];
    const workerLog = join(dir, 'worker.log');
    const worker = spawnNode(
      'worker',
      distEntry('workers/playbook-worker'),
      workerEnv(queues.ours, await freePort()),
      workerLog,
      cpuProf('worker'),
    );
    pids.worker = worker.pid;
    const bareLog = join(dir, 'bare-worker.log');
    const bare = spawnNode(
      'bare-worker',
      distEntry('bench/bare-worker'),
      workerEnv(queues.bare, await freePort()),
      bareLog,
      cpuProf('bare-worker'),
    );
    pids.bareWorker = bare.pid;
    const intakeEnvFor = (queue: string, port: number, dataDir: string): Record<string, string> => ({
      VIGIL_TASK_QUEUE: queue,
      VIGIL_INTAKE_HOST: '127.0.0.1',
      VIGIL_INTAKE_PORT: String(port),
      VIGIL_INTAKE_KEYS: JSON.stringify([{ ...intakeKey, sources: ['*'], hosts: ['*'] }]),
      VIGIL_ADMIN_TOKEN_SHA256: adminTokenSha256,
      VIGIL_METRICS_PUBLIC: 'true',
      VIGIL_DATA_DIR: dataDir,
      // Raised so the per-sender limit (default 2000/s, burst 4000) does not shape the numbers.
      VIGIL_RATE_LIMIT: String(o.rateLimit),
      VIGIL_RATE_BURST: String(o.rateBurst),
    });
    const intakeEnv = intakeEnvFor(queues.ours, intakePort, dir);
    const intakeLog = join(dir, 'intake.log');
    const intake = spawnNode(
      'intake',
      distEntry('workers/intake'),
      { ...common, ...intakeEnv },
      intakeLog,
      cpuProf('intake'),
    );
    pids.intake = intake.pid;

    await Promise.all([
      waitForLine(worker, 'playbook worker', /polling/, 180_000, workerLog),
      waitForLine(bare, 'bare worker', /polling/, 180_000, bareLog),
      (async () => {
        if (!(await waitHttp(`http://127.0.0.1:${intakePort}/readyz`, 60_000)))
          throw new Error(`the intake did not become ready (log: ${intakeLog})`);
      })(),
    ]);
    for (const [name, c] of [
      ['worker', worker],
      ['bare worker', bare],
      ['intake', intake],
      ['smtp sink', sink],
    ] as const) {
      c.once('exit', (code, signal) => {
        if (!stopping)
          o.say(`bench: the ${name} exited unexpectedly (${signal ?? `code ${code}`}); logs in ${dir}`);
      });
    }
    return {
      dir,
      dbFile,
      address,
      connection,
      client,
      intakePort,
      intakeKey,
      adminToken,
      queues,
      pids,
      sinkHttpPort: sinkPorts.httpPort,
      workerEnv,
      intakeEnv: (queue, port, dataDir) => ({ ...common, ...intakeEnvFor(queue, port, dataDir) }),
      async spawn(name, entry, env, ready, opts = {}) {
        const log = join(dir, `${name.replace(/[^a-z0-9-]+/gi, '-')}.log`);
        const start = async () => {
          const c = spawnNode(name, entry, env, log, cpuProf(name));
          if (!c.pid) throw new Error(`could not start ${name}`);
          if (typeof ready === 'string') {
            const exited = new Promise<never>((_, reject) =>
              c.once('exit', (code) => reject(new Error(`${name} exited (code ${code}) (log: ${log})`))),
            );
            const up = waitHttp(ready, 60_000).then((ok) => {
              if (!ok) throw new Error(`${name} did not become ready (log: ${log})`);
            });
            await Promise.race([up, exited]);
          } else await waitForLine(c, name, ready, 180_000, log);
          return c;
        };
        let current = await start();
        let stoppingThis = false;
        const restarts: string[] = [];
        const watch = (c: ChildProcess) =>
          c.once('exit', (code, signal) => {
            if (stopping || stoppingThis) return;
            const why = signal ?? `code ${code}`;
            o.say(`bench: the ${name} exited unexpectedly (${why}); log ${log}`);
            if (!opts.restart) return;
            // As `vigil up`'s supervisor (and compose's restart policy) would: start it again.
            restarts.push(`${new Date().toISOString()} ${why}`);
            o.say(`bench: restarting the ${name} (restart ${restarts.length})`);
            void start().then(
              (next) => {
                current = next;
                watch(next);
              },
              (e: Error) => o.say(`bench: the ${name} did not restart: ${e.message}`),
            );
          });
        watch(current);
        return {
          get pid() {
            return current.pid as number;
          },
          log,
          restarts: () => [...restarts],
          stop: () => {
            stoppingThis = true;
            return stopChild(current, 'SIGTERM', 15_000);
          },
        };
      },
      env: {
        ...intakeEnv,
        VIGIL_INTAKE_KEYS: '[{"id":"bench","secret":"<random>","sources":["*"],"hosts":["*"]}]',
        VIGIL_QUIET_PERIOD: o.quietPeriod,
        SMTP_SECURITY: 'none',
      },
      stop,
    };
  } catch (e) {
    await stop(true);
    throw e;
  }
}

/** Messages the SMTP sink has received so far. */
export async function sinkCount(stack: Stack): Promise<number> {
  const r = await fetch(`http://127.0.0.1:${stack.sinkHttpPort}/count`, {
    signal: AbortSignal.timeout(5000),
  });
  return ((await r.json()) as { messages: number }).messages;
}
