/** CPU time of processes from /proc (utime + stime, in clock ticks), and a description of the machine. */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { cpus, loadavg, release, totalmem } from 'node:os';

let ticks: number | undefined;

/** Clock ticks per second (`getconf CLK_TCK`, 100 on almost every Linux). */
export function clockTicks(): number {
  if (ticks === undefined) {
    try {
      ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticks = 100;
    }
  }
  return ticks;
}

interface Stat {
  pid: number;
  ppid: number;
  cpuTicks: number;
}

function readStat(pid: number): Stat | undefined {
  let s: string;
  try {
    s = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) is in parentheses and may hold spaces: split after the last ')'.
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  // f[0] is field 3 (state): ppid is field 4, utime field 14, stime field 15.
  return { pid, ppid: Number(f[1]), cpuTicks: Number(f[11]) + Number(f[12]) };
}

/** utime + stime (ticks) of each root process plus its live descendants. */
export function cpuTicksOf(roots: Record<string, number | undefined>): Record<string, number> {
  const all: Stat[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const st = readStat(Number(d));
    if (st) all.push(st);
  }
  const children = new Map<number, Stat[]>();
  for (const st of all) children.set(st.ppid, [...(children.get(st.ppid) ?? []), st]);
  const byPid = new Map(all.map((s) => [s.pid, s]));
  const out: Record<string, number> = {};
  for (const [name, pid] of Object.entries(roots)) {
    if (pid === undefined) continue;
    let sum = 0;
    const stack = [pid];
    const seen = new Set<number>();
    while (stack.length) {
      const p = stack.pop() as number;
      if (seen.has(p)) continue;
      seen.add(p);
      sum += byPid.get(p)?.cpuTicks ?? 0;
      for (const c of children.get(p) ?? []) stack.push(c.pid);
    }
    out[name] = sum;
  }
  return out;
}

/** Pids of this process's direct children (the last-resort clean-up on exit). */
export function childPids(): number[] {
  const me = process.pid;
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const st = readStat(Number(d));
    if (st?.ppid === me) out.push(st.pid);
  }
  return out;
}

export interface Machine {
  cores: number;
  cpuModel: string;
  memoryGiB: number;
  node: string;
  kernel: string;
  temporal: string;
  loadAvgAtStart: number[];
  clockTicks: number;
}

export function describeMachine(temporalBin: string): Machine {
  let cpuModel = cpus()[0]?.model ?? 'unknown';
  let cores = cpus().length;
  try {
    const info = readFileSync('/proc/cpuinfo', 'utf8');
    cpuModel = /^model name\s*:\s*(.+)$/m.exec(info)?.[1]?.trim() ?? cpuModel;
    cores = (info.match(/^processor\s*:/gm) ?? []).length || cores;
  } catch {
    /* not Linux: keep os.cpus() */
  }
  let memoryGiB = totalmem() / 2 ** 30;
  try {
    const kb = Number(/^MemTotal:\s*(\d+)\s*kB/m.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1]);
    if (kb) memoryGiB = kb / 2 ** 20;
  } catch {
    /* keep os.totalmem() */
  }
  let temporal = 'unknown';
  try {
    temporal = execFileSync(temporalBin, ['--version'], { encoding: 'utf8', timeout: 10_000 }).trim();
  } catch (e) {
    temporal = `unknown (${(e as Error).message})`;
  }
  return {
    cores,
    cpuModel,
    memoryGiB: Math.round(memoryGiB * 10) / 10,
    node: process.version,
    kernel: release(),
    temporal,
    loadAvgAtStart: loadavg().map((x) => Math.round(x * 100) / 100),
    clockTicks: clockTicks(),
  };
}
