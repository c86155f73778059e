/**
 * Runs the system tools the responder needs (nft, ss, usermod, pkill, ...): an argument array, never a
 * shell; a timeout; stderr in the error. Network tools can be pointed at a named network namespace.
 * `nsenter --net` is used instead of `ip netns exec` because the latter remounts /sys in a private mount
 * namespace, hiding /sys/fs/cgroup, and nft resolves `socket cgroupv2` paths there.
 */
import { spawn } from 'node:child_process';
import { ErrorType } from '../../../src/errors.js';
import { failure } from '../../lib/failures.js';

export interface RunResult {
  stdout: string;
  stderr: string;
  code: number;
}

export interface RunOptions {
  input?: string;
  /** Resolve with the exit code instead of failing on a non-zero one. */
  allowFail?: boolean;
  timeoutMs?: number;
}

export interface CommandRunner {
  run(cmd: string, args: string[], opts?: RunOptions): Promise<RunResult>;
  /** Run a network command (nft, ss) in the configured network namespace (or a given one). */
  net(cmd: string, args: string[], opts?: RunOptions & { netnsPath?: string }): Promise<RunResult>;
}

const MAX_OUTPUT = 4 * 1024 * 1024;

export function createCommandRunner(opts: { timeoutMs: number; netns?: string }): CommandRunner {
  const run = (cmd: string, args: string[], o: RunOptions = {}): Promise<RunResult> =>
    new Promise((resolve, reject) => {
      const timeoutMs = o.timeoutMs ?? opts.timeoutMs;
      const child = spawn(cmd, args, {
        stdio: ['pipe', 'pipe', 'pipe'],
        env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' },
      });
      let stdout = '';
      let stderr = '';
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        child.kill('SIGKILL');
      }, timeoutMs);
      child.stdout.setEncoding('utf8').on('data', (d: string) => {
        if (stdout.length < MAX_OUTPUT) stdout += d;
      });
      child.stderr.setEncoding('utf8').on('data', (d: string) => {
        if (stderr.length < MAX_OUTPUT) stderr += d;
      });
      child.on('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(
          err.code === 'ENOENT'
            ? failure(ErrorType.Misconfigured, `${cmd} is not installed (needed by the responder)`, { cmd })
            : failure(ErrorType.Unavailable, `${cmd} could not start: ${err.message}`, { cmd }),
        );
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        const line = [cmd, ...args].join(' ');
        if (timedOut) {
          reject(failure(ErrorType.Unavailable, `${line}: timed out after ${timeoutMs} ms`, { cmd, stderr }));
          return;
        }
        const rc = code ?? (signal ? 128 : 1);
        if (rc !== 0 && !o.allowFail) {
          reject(
            failure(ErrorType.Unavailable, `${line}: exit ${rc}: ${stderr.trim().slice(0, 2000)}`, {
              cmd,
              code: rc,
              stderr: stderr.slice(0, 4000),
            }),
          );
          return;
        }
        resolve({ stdout, stderr, code: rc });
      });
      child.stdin.on('error', () => undefined);
      child.stdin.end(o.input ?? '');
    });

  return {
    run,
    net(cmd, args, o = {}) {
      const nsPath = o.netnsPath ?? (opts.netns ? `/run/netns/${opts.netns}` : undefined);
      if (!nsPath) return run(cmd, args, o);
      return run('nsenter', [`--net=${nsPath}`, '--', cmd, ...args], o);
    },
  };
}
