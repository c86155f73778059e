/**
 * Throwaway host resources for the endpoint agent's real-effect tests: network namespaces joined by veth
 * pairs, processes inside them, a temp state dir, a local user. Never touches the machine's own network
 * namespace: every nft rule a test causes lives in a namespace created here.
 *
 * The tests need root, `nft`, `ip` and `nsenter`. Without them they are skipped loudly, unless
 * VIGIL_REQUIRE_ROOT_TESTS=1, in which case they fail.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function has(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Why the root tests cannot run here, or undefined. */
export function rootTestsUnavailable(extra: string[] = []): string | undefined {
  if (process.getuid?.() !== 0) return 'not running as root';
  for (const c of ['nft', 'ip', 'nsenter', 'ss', ...extra])
    if (!has(c)) return `${c} is not installed (apt-get install -y nftables iproute2)`;
  return undefined;
}

/** `describe` when the root tests can run; otherwise a loud skip, or a failure under VIGIL_REQUIRE_ROOT_TESTS=1. */
export function rootGate(extra: string[] = []): { skip: boolean } {
  const why = rootTestsUnavailable(extra);
  if (why && process.env.VIGIL_REQUIRE_ROOT_TESTS === '1') {
    throw new Error(`VIGIL_REQUIRE_ROOT_TESTS=1 but the endpoint agent tests cannot run: ${why}`);
  }
  if (why) process.stderr.write(`\n!!! SKIPPING endpoint agent real-effect tests: ${why} !!!\n\n`);
  return { skip: !!why };
}

export const uniq = (n = 4) => randomBytes(n).toString('hex');

export function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

export interface Netns {
  name: string;
  path: string;
}

export function addNetns(prefix = 'vgt'): Netns {
  const name = `${prefix}-${uniq()}`;
  sh('ip', ['netns', 'add', name]);
  sh('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  return { name, path: `/run/netns/${name}` };
}

export function delNetns(ns: Netns | undefined): void {
  if (!ns) return;
  try {
    sh('ip', ['netns', 'del', ns.name]);
  } catch {
    // already gone
  }
}

/** A veth pair between two namespaces; `a` gets addrA/24, `b` gets every address in addrsB (/24). */
export function link(a: Netns, addrA: string, b: Netns, addrsB: string[]): void {
  const ia = `va${uniq(3)}`;
  const ib = `vb${uniq(3)}`;
  sh('ip', ['link', 'add', ia, 'netns', a.name, 'type', 'veth', 'peer', 'name', ib, 'netns', b.name]);
  sh('ip', ['-n', a.name, 'addr', 'add', `${addrA}/24`, 'dev', ia]);
  for (const x of addrsB) sh('ip', ['-n', b.name, 'addr', 'add', `${x}/24`, 'dev', ib]);
  sh('ip', ['-n', a.name, 'link', 'set', ia, 'up']);
  sh('ip', ['-n', b.name, 'link', 'set', ib, 'up']);
}

/** A random 10.x.y.0/24 prefix, e.g. "10.37.201". */
export function subnet(): string {
  const b = randomBytes(2);
  return `10.${(b[0]! % 200) + 20}.${b[1]}`;
}

/** Start a process inside a namespace (`nsenter --net` execs, so the pid is the command's). */
export function spawnIn(
  ns: Netns,
  cmd: string,
  args: string[],
  opts: { uid?: number; gid?: number } = {},
): ChildProcess {
  return spawn('nsenter', [`--net=${ns.path}`, '--', cmd, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    ...opts,
  });
}

/** A TCP server in `ns` on 0.0.0.0:port answering "ok" to every connection. */
export async function tcpServer(ns: Netns, port: number): Promise<ChildProcess> {
  const child = spawnIn(ns, process.execPath, [
    '-e',
    `require('net').createServer(s => s.end('ok')).listen(${port}, '0.0.0.0', () => console.log('listening'))`,
  ]);
  await new Promise<void>((resolve, reject) => {
    child.stdout!.once('data', () => resolve());
    child.once('exit', (c) => reject(new Error(`server exited ${c}`)));
  });
  return child;
}

/** Can a fresh process in `ns` open a TCP connection to ip:port within timeoutMs? */
export function canConnect(ns: Netns, ip: string, port: number, timeoutMs = 700): boolean {
  try {
    execFileSync(
      'nsenter',
      [
        `--net=${ns.path}`,
        '--',
        'timeout',
        String(timeoutMs / 1000),
        'bash',
        '-c',
        `exec 3<>/dev/tcp/${ip}/${port} && head -c 2 <&3`,
      ],
      { stdio: ['ignore', 'pipe', 'ignore'] },
    );
    return true;
  } catch {
    return false;
  }
}

/**
 * A long-running client in `ns` that, on each line "go" on stdin, connects to ip:port and prints
 * "ok" or "fail <code>" (a connect timeout counts as a failure). Its pid is the process to block.
 */
export async function probeClient(
  ns: Netns,
  ip: string,
  port: number,
  as?: { uid: number; gid: number },
): Promise<{ child: ChildProcess; probe(): Promise<string> }> {
  const code = `
    const net = require('net');
    const rl = require('readline').createInterface({ input: process.stdin });
    rl.on('line', () => {
      const s = net.connect({ host: '${ip}', port: ${port} });
      const t = setTimeout(() => { s.destroy(); console.log('fail timeout'); }, 700);
      s.on('data', () => { clearTimeout(t); s.destroy(); console.log('ok'); });
      s.on('error', (e) => { clearTimeout(t); console.log('fail ' + e.code); });
    });
    console.log('ready');`;
  const ids = as ? ['-S', String(as.uid), '-G', String(as.gid)] : [];
  const child = spawn('nsenter', [`--net=${ns.path}`, ...ids, '--', process.execPath, '-e', code], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const waiters: ((l: string) => void)[] = [];
  let buf = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    buf += d;
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      const l = buf.slice(0, i);
      buf = buf.slice(i + 1);
      const w = waiters.shift();
      if (w) w(l);
      else lines.push(l);
    }
  });
  const next = () => new Promise<string>((r) => (lines.length ? r(lines.shift()!) : waiters.push(r)));
  await next();
  return {
    child,
    probe() {
      child.stdin.write('go\n');
      return next();
    },
  };
}

export function tempDir(prefix = 'vigil-agent-'): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function killQuietly(c: ChildProcess | undefined): void {
  if (c?.pid === undefined) return;
  try {
    process.kill(c.pid, 'SIGCONT');
    process.kill(c.pid, 'SIGKILL');
  } catch {
    // gone
  }
}

/** A base config for tests (state in `dir`, this host's name). */
export function agentEnv(dir: string, extra: Record<string, string> = {}): Record<string, string> {
  return { VIGIL_AGENT_HOST: 'test-host', VIGIL_AGENT_STATE_DIR: join(dir, 'state'), ...extra };
}

/** A local account's /etc/shadow password field and expiry (field 8). */
export function shadow(name: string): { password: string; expire: string } | undefined {
  const f = readFileSync('/etc/shadow', 'utf8')
    .split('\n')
    .map((l) => l.split(':'))
    .find((x) => x[0] === name);
  return f ? { password: f[1] ?? '', expire: f[7] ?? '' } : undefined;
}

export function addUser(name: string): { uid: number; gid: number } {
  // A password hash that is not locked (no '!'); nobody knows a password for it.
  execFileSync('useradd', ['-M', '-s', '/bin/sh', '-p', '$6$vigil$notarealhash', name]);
  const id = (o: string) => Number(execFileSync('id', [o, name], { encoding: 'utf8' }).trim());
  return { uid: id('-u'), gid: id('-g') };
}

export function delUser(name: string): void {
  try {
    execFileSync('pkill', ['-KILL', '-u', name], { stdio: 'ignore' });
  } catch {
    // no processes
  }
  try {
    execFileSync('userdel', ['-f', name], { stdio: 'ignore' });
  } catch {
    // already gone
  }
}
