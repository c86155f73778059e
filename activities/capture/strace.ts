/**
 * A bounded strace of one running process (and its threads and children): the names of the system calls
 * it makes, in order, for at most `seconds` or `maxCalls` calls. strace attaches with PTRACE_SEIZE and is
 * stopped with SIGINT, on which it detaches and lets the process run on untouched. strace writes the trace
 * and its own diagnostics (lines starting `strace: `) to stderr (Node's stdio pipes are sockets, which
 * `-o /proc/self/fd/N` cannot open); arguments are not kept (`-s 0`, and only the call name is parsed), so
 * no file names or data leave the host.
 */
import { spawn } from 'node:child_process';

export interface StraceResult {
  syscalls: string[];
  /** stopped because maxCalls was reached */
  truncated: boolean;
  /** strace ended on its own before the time was up: the process (all its tasks) exited */
  exited: boolean;
  seconds: number;
}

export class StraceError extends Error {
  override readonly name = 'StraceError';
  constructor(
    readonly kind: 'not-installed' | 'no-such-process' | 'not-permitted' | 'failed',
    message: string,
  ) {
    super(message);
  }
}

/** `1234 read(...`, `[pid 1234] read(...`, or `read(...`; resumed (`<... read resumed>`) lines are not calls. */
const CALL = /^(?:\[pid\s+\d+\]\s+|\d+\s+)?([a-z_][a-z0-9_]*)\(/;
/** strace's own messages: `strace: ...` or `/usr/bin/strace: ...` */
const DIAG = /^(?:\S*\/)?strace: /;

export function straceArgs(pid: number): string[] {
  return ['-f', '-q', '-s', '0', '-e', 'signal=none', '-p', String(pid)];
}

export function runStrace(opts: {
  strace: string;
  pid: number;
  seconds: number;
  maxCalls: number;
  /** how long strace may take to detach after SIGINT before it is killed */
  graceMs?: number;
}): Promise<StraceResult> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(opts.strace, straceArgs(opts.pid), { stdio: ['ignore', 'ignore', 'pipe'] });
    const syscalls: string[] = [];
    let truncated = false;
    let stopping = false;
    let stderr = '';
    let rest = '';
    const stop = () => {
      if (stopping) return;
      stopping = true;
      child.kill('SIGINT');
      setTimeout(() => child.kill('SIGKILL'), opts.graceMs ?? 3000).unref();
    };
    const timer = setTimeout(stop, opts.seconds * 1000);
    const onLine = (line: string) => {
      if (DIAG.test(line)) {
        if (stderr.length < 4096) stderr += `${line}\n`;
        return;
      }
      if (truncated) return;
      const m = CALL.exec(line);
      if (m?.[1]) {
        syscalls.push(m[1]);
        if (syscalls.length >= opts.maxCalls) {
          truncated = true;
          stop();
        }
      }
    };
    const trace = child.stderr;
    trace.setEncoding('utf8');
    trace.on('data', (chunk: string) => {
      const lines = (rest + chunk).split('\n');
      rest = lines.pop() ?? '';
      for (const l of lines) onLine(l);
    });
    child.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(
        e.code === 'ENOENT'
          ? new StraceError(
              'not-installed',
              `${opts.strace} not found: install strace (apt-get install strace)`,
            )
          : new StraceError('failed', `cannot run ${opts.strace}: ${e.message}`),
      );
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      if (rest) onLine(rest);
      const diag = stderr.trim();
      if (/attach: .*No such process/.test(diag))
        return reject(new StraceError('no-such-process', `process ${opts.pid} does not exist`));
      if (/attach: .*Operation not permitted/.test(diag))
        return reject(
          new StraceError(
            'not-permitted',
            `not permitted to trace process ${opts.pid} (the agent needs CAP_SYS_PTRACE, and kernel.yama.ptrace_scope <= 1 for non-children): ${diag.slice(0, 300)}`,
          ),
        );
      // strace exits non-zero when stopped by SIGINT on some versions; what counts is that it attached.
      if (!stopping && code !== 0 && syscalls.length === 0)
        return reject(new StraceError('failed', `strace exited with ${code}: ${diag.slice(0, 300)}`));
      resolve({
        syscalls,
        truncated,
        exited: !stopping,
        seconds: (performance.now() - t0) / 1000,
      });
    });
  });
}
