/** Run Vigil's processes as children: output prefixed on the console and appended to a log; restarts bounded. */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { stopChild } from './temporal.js';

export interface ManagedProcess {
  name: string;
  child(): ChildProcess | undefined;
  stop(): Promise<void>;
}

export function supervise(o: {
  name: string;
  entry: string;
  env: NodeJS.ProcessEnv;
  logFile: string;
  echo: (line: string) => void;
  onGiveUp: (why: string) => void;
  maxRestarts?: number;
}): ManagedProcess {
  mkdirSync(dirname(o.logFile), { recursive: true });
  const log = createWriteStream(o.logFile, { flags: 'a' });
  let current: ChildProcess | undefined;
  let stopping = false;
  const restarts: number[] = [];
  const maxRestarts = o.maxRestarts ?? 5;

  const pipe = (stream: NodeJS.ReadableStream | null) => {
    let buf = '';
    stream?.on('data', (d: Buffer) => {
      log.write(d);
      buf += d.toString();
      const lines = buf.split('\n');
      buf = lines.pop() ?? '';
      for (const l of lines) if (l.trim()) o.echo(`[${o.name}] ${l}`);
    });
  };

  const start = () => {
    const child = spawn(process.execPath, [o.entry], { env: o.env, stdio: ['ignore', 'pipe', 'pipe'] });
    current = child;
    pipe(child.stdout);
    pipe(child.stderr);
    child.once('exit', (code, signal) => {
      if (stopping) return;
      const now = Date.now();
      restarts.push(now);
      while (restarts.length && (restarts[0] ?? 0) < now - 60_000) restarts.shift();
      if (code === 2) return o.onGiveUp(`${o.name} stopped on a configuration error (see above)`);
      if (restarts.length > maxRestarts)
        return o.onGiveUp(`${o.name} exited ${restarts.length} times within a minute`);
      o.echo(`[${o.name}] exited (${signal ?? `code ${code}`}); restarting in 1s`);
      setTimeout(() => {
        if (!stopping) start();
      }, 1000);
    });
  };
  start();
  return {
    name: o.name,
    child: () => current,
    async stop() {
      stopping = true;
      if (current) await stopChild(current, 'SIGTERM', 15_000);
      log.end();
    },
  };
}

/** Poll `url` until it answers 2xx or `timeoutMs` passes. */
export async function waitHttp(url: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(1000) });
      if (r.ok) return true;
    } catch {
      /* not yet */
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return false;
}
