/**
 * nftables and socket helpers. Our rules live only in our own tables (`inet vigil` for per-process
 * blocks, `inet vigil_isolate` for host isolation); every change is one `nft -f -` transaction, so a
 * failure leaves the previous ruleset in place. Nothing here reads or changes another table.
 */
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import type { CommandRunner } from './runner.js';

export const BLOCK_TABLE = 'vigil';
export const ISOLATE_TABLE = 'vigil_isolate';

export async function nftApply(run: CommandRunner, script: string, check = false): Promise<void> {
  await run.net('nft', check ? ['-c', '-f', '-'] : ['-f', '-'], { input: script });
}

/** The rules of a table (`nft -a list table`), with their chain, handle and comment. */
export async function listRules(
  run: CommandRunner,
  table: string,
): Promise<{ exists: boolean; rules: { chain: string; handle: number; text: string; comment?: string }[] }> {
  const r = await run.net('nft', ['-a', 'list', 'table', 'inet', table], { allowFail: true });
  if (r.code !== 0) {
    if (/No such file or directory/.test(r.stderr)) return { exists: false, rules: [] };
    throw new Error(`nft list table inet ${table}: ${r.stderr.trim()}`);
  }
  const rules: { chain: string; handle: number; text: string; comment?: string }[] = [];
  let chain = '';
  for (const line of r.stdout.split('\n')) {
    const c = /^\s*chain (\S+) \{/.exec(line);
    if (c?.[1]) {
      chain = c[1];
      continue;
    }
    const h = /^\s*(.*?) # handle (\d+)$/.exec(line);
    if (!h?.[1] || !chain || /^(type|policy) /.test(h[1])) continue;
    const comment = /comment "([^"]*)"/.exec(h[1])?.[1];
    rules.push({ chain, handle: Number(h[2]), text: h[1], ...(comment ? { comment } : {}) });
  }
  return { exists: true, rules };
}

export async function tableExists(run: CommandRunner, table: string): Promise<boolean> {
  const r = await run.net('nft', ['list', 'tables', 'inet']);
  return r.stdout.split('\n').some((l) => l.trim() === `table inet ${table}`);
}

export interface OpenSocket {
  proto: 'tcp' | 'udp';
  family: 4 | 6;
  local: string;
  localPort: number;
  remote: string;
  remotePort: number;
  /** TCP state from /proc/net/tcp: 01 established, 0A listen, ... */
  state: string;
  inode: string;
}

function hexAddr(hex: string): string {
  if (hex.length === 8) {
    const n = Buffer.from(hex, 'hex');
    return `${n[3]}.${n[2]}.${n[1]}.${n[0]}`;
  }
  // IPv6: four 32-bit words, each in host (little-endian) order.
  const parts: string[] = [];
  for (let w = 0; w < 4; w++) {
    const word = Buffer.from(hex.slice(w * 8, w * 8 + 8), 'hex').reverse();
    parts.push(word.subarray(0, 2).toString('hex'), word.subarray(2, 4).toString('hex'));
  }
  const full = parts.map((p) => p.replace(/^0+(?=.)/, '')).join(':');
  const v4mapped = /^0:0:0:0:0:ffff:([0-9a-f]+):([0-9a-f]+)$/.exec(full);
  if (v4mapped?.[1] && v4mapped[2]) {
    const a = parseInt(v4mapped[1], 16);
    const b = parseInt(v4mapped[2], 16);
    return `::ffff:${a >> 8}.${a & 255}.${b >> 8}.${b & 255}`;
  }
  return full;
}

/** The TCP/UDP sockets the given processes hold, from /proc/<pid>/fd and /proc/<pid>/net/*. */
export function socketsOf(pids: number[]): OpenSocket[] {
  const inodes = new Set<string>();
  for (const pid of pids) {
    let fds: string[] = [];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m?.[1]) inodes.add(m[1]);
      } catch {
        // fd closed meanwhile
      }
    }
  }
  const out: OpenSocket[] = [];
  const seen = new Set<string>();
  for (const pid of pids) {
    for (const [file, proto, family] of [
      ['tcp', 'tcp', 4],
      ['tcp6', 'tcp', 6],
      ['udp', 'udp', 4],
      ['udp6', 'udp', 6],
    ] as const) {
      let text = '';
      try {
        text = readFileSync(`/proc/${pid}/net/${file}`, 'utf8');
      } catch {
        continue;
      }
      for (const line of text.split('\n').slice(1)) {
        const f = line.trim().split(/\s+/);
        const inode = f[9];
        if (!inode || !inodes.has(inode) || seen.has(`${proto}:${inode}`)) continue;
        seen.add(`${proto}:${inode}`);
        const [la, lp] = (f[1] ?? ':').split(':');
        const [ra, rp] = (f[2] ?? ':').split(':');
        out.push({
          proto,
          family,
          local: hexAddr(la ?? ''),
          localPort: parseInt(lp ?? '0', 16),
          remote: hexAddr(ra ?? ''),
          remotePort: parseInt(rp ?? '0', 16),
          state: f[3] ?? '',
          inode,
        });
      }
    }
  }
  return out;
}

const hostPort = (addr: string, port: number, family: 4 | 6) =>
  family === 6 ? `[${addr}]:${port}` : `${addr}:${port}`;

/** Abort established TCP connections with SOCK_DESTROY (`ss -K`, CONFIG_INET_DIAG_DESTROY). */
export async function abortConnections(
  run: CommandRunner,
  socks: OpenSocket[],
  netnsPath?: string,
): Promise<string[]> {
  const done: string[] = [];
  for (const s of socks) {
    if (s.proto !== 'tcp' || s.state === '0A') continue;
    const src = hostPort(s.local, s.localPort, s.family);
    const dst = hostPort(s.remote, s.remotePort, s.family);
    await run.net(
      'ss',
      ['-K', '-tn', `-${s.family}`, 'src', src, 'dst', dst],
      netnsPath ? { netnsPath } : {},
    );
    done.push(`${src} -> ${dst}`);
  }
  return done;
}
