/**
 * What /proc says about processes. Identity of a process = pid + start time (field 22 of
 * /proc/<pid>/stat, clock ticks since boot): a pid is reused, the pair is not.
 */
import { existsSync, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { basename } from 'node:path';

export interface ProcStat {
  pid: number;
  comm: string;
  /** R, S, D, T (stopped), t (traced), Z (zombie), ... */
  state: string;
  ppid: number;
  /** Field 22: start time in clock ticks since boot. */
  startTicks: number;
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** /proc/<pid>/stat, or undefined when the process is gone. `comm` may contain spaces and parentheses. */
export function readStat(pid: number): ProcStat | undefined {
  const s = readText(`/proc/${pid}/stat`);
  if (!s) return undefined;
  const open = s.indexOf('(');
  const close = s.lastIndexOf(')');
  if (open < 0 || close < open) return undefined;
  const rest = s
    .slice(close + 2)
    .trim()
    .split(' ');
  // rest[0] is field 3 (state); field n is rest[n - 3].
  return {
    pid,
    comm: s.slice(open + 1, close),
    state: rest[0] ?? '?',
    ppid: Number(rest[1]),
    startTicks: Number(rest[19]),
  };
}

/** A process is alive when it exists, is not a zombie, and still has the start time we knew. */
export function isAlive(pid: number, startTicks?: number): boolean {
  const st = readStat(pid);
  if (!st || st.state === 'Z' || st.state === 'X') return false;
  return startTicks === undefined || st.startTicks === startTicks;
}

export function listProcesses(): ProcStat[] {
  const out: ProcStat[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const st = readStat(Number(name));
    if (st) out.push(st);
  }
  return out;
}

/**
 * The children of `pid` from /proc/<pid>/task/<tid>/children (every thread's; kernels with
 * CONFIG_PROC_CHILDREN), or undefined when the kernel does not offer the file.
 */
function childrenOf(pid: number): number[] | undefined {
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return [];
  }
  const out: number[] = [];
  for (const tid of tids) {
    const text = readText(`/proc/${pid}/task/${tid}/children`);
    if (text === undefined) {
      if (existsSync(`/proc/${pid}/task/${tid}`)) return undefined;
      continue;
    }
    for (const c of text.split(' ')) if (c.trim()) out.push(Number(c));
  }
  return out;
}

/**
 * The live (non-zombie) descendants of `root`, parents before children: walked through the kernel's
 * children lists (the cost grows with the tree, not with the host's process count), else by one scan of
 * /proc. A child is kept only while its stat still names its parent (no pid reused in between).
 */
export function descendants(root: number): ProcStat[] {
  const out: ProcStat[] = [];
  const queue = [root];
  const seen = new Set([root]);
  while (queue.length) {
    const pid = queue.shift()!;
    const kids = childrenOf(pid);
    if (kids === undefined) return descendantsByScan(root);
    for (const k of kids) {
      if (seen.has(k)) continue;
      const st = readStat(k);
      if (!st || st.ppid !== pid || st.state === 'Z' || st.state === 'X') continue;
      seen.add(k);
      out.push(st);
      queue.push(k);
    }
  }
  return out;
}

/** descendants() by one scan of every process in /proc. */
export function descendantsByScan(root: number): ProcStat[] {
  const children = new Map<number, ProcStat[]>();
  for (const p of listProcesses()) {
    if (p.state === 'Z' || p.state === 'X') continue;
    const list = children.get(p.ppid) ?? [];
    list.push(p);
    children.set(p.ppid, list);
  }
  const out: ProcStat[] = [];
  const queue = [root];
  const seen = new Set([root]);
  while (queue.length) {
    const pid = queue.shift()!;
    for (const c of children.get(pid) ?? []) {
      if (seen.has(c.pid)) continue;
      seen.add(c.pid);
      out.push(c);
      queue.push(c.pid);
    }
  }
  return out;
}

/** Ancestors of `pid` (its parent, grandparent, ... up to pid 1). */
export function ancestors(pid: number): number[] {
  const out: number[] = [];
  let cur = readStat(pid)?.ppid ?? 0;
  while (cur > 0 && !out.includes(cur)) {
    out.push(cur);
    cur = readStat(cur)?.ppid ?? 0;
  }
  return out;
}

let bootCache: number | undefined;
/** Boot time in ms since the epoch (`btime`, whole seconds, from /proc/stat). */
export function bootTimeMs(): number {
  if (bootCache === undefined) {
    const m = /^btime (\d+)$/m.exec(readText('/proc/stat') ?? '');
    if (!m?.[1]) throw new Error('/proc/stat has no btime');
    bootCache = Number(m[1]) * 1000;
  }
  return bootCache;
}

/** Clock ticks per second (sysconf(_SC_CLK_TCK)); 100 on every Linux architecture Node supports. */
export const CLK_TCK = 100;

/** Wall-clock start time of a process from its start ticks. */
export function startTimeMs(startTicks: number): number {
  return bootTimeMs() + (startTicks * 1000) / CLK_TCK;
}

/** readlink /proc/<pid>/exe, without the " (deleted)" suffix; undefined for kernel threads or gone processes. */
export function executable(pid: number): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/exe`).replace(/ \(deleted\)$/, '');
  } catch {
    return undefined;
  }
}

export function exeName(pid: number): string | undefined {
  const e = executable(pid);
  return e ? basename(e) : undefined;
}

/** Real and effective uid of a process. */
export function uids(pid: number): { real: number; effective: number } | undefined {
  const m = /^Uid:\s+(\d+)\s+(\d+)/m.exec(readText(`/proc/${pid}/status`) ?? '');
  return m ? { real: Number(m[1]), effective: Number(m[2]) } : undefined;
}

/** The process's cgroup v2 path (the `0::` line), e.g. `/system.slice/foo.service`. */
export function cgroupV2Of(pid: number): string | undefined {
  const m = /^0::(.*)$/m.exec(readText(`/proc/${pid}/cgroup`) ?? '');
  return m?.[1];
}

/** The cgroup v2 mount point, from /proc/self/mountinfo (`/sys/fs/cgroup` or `/sys/fs/cgroup/unified`). */
export function cgroupV2Mount(): string | undefined {
  for (const line of (readText('/proc/self/mountinfo') ?? '').split('\n')) {
    const [pre, post] = line.split(' - ');
    if (!pre || !post) continue;
    if (post.split(' ')[0] === 'cgroup2') return pre.split(' ')[4]?.replace(/\\040/g, ' ');
  }
  return undefined;
}

/** Identity (dev:inode) of a network namespace file (`/proc/<pid>/ns/net`, `/run/netns/<name>`). */
export function netnsId(path: string): string | undefined {
  try {
    const s = statSync(path);
    return `${s.dev}:${s.ino}`;
  } catch {
    return undefined;
  }
}
