/**
 * suspend-process (undo: resume) and kill-process-tree. Before any signal, the pid must still name the
 * event's process (start time and executable) and must not be protected: pid 1, kernel threads, the
 * responder and its ancestors, the Temporal server, and VIGIL_AGENT_PROTECTED. The whole tree is checked.
 *
 * Signals go by pid (Node has no pidfd_send_signal); the window between the identity check and the
 * signal is a few microseconds, and every pid of the tree is re-checked against its start time.
 */
import { basename } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { ErrorType } from '../../../src/errors.js';
import { ProcessTarget } from '../../../src/contracts/response-schemas.js';
import { failure } from '../../lib/failures.js';
import type { LocalResponderConfig } from './config.js';
import {
  ancestors,
  descendants,
  executable,
  isAlive,
  readStat,
  startTimeMs,
  type ProcStat,
} from './procfs.js';
import { op, type LocalAction } from './types.js';

export interface ProcessIdentity {
  pid: number;
  startTicks: number;
  startTime: string;
  executable?: string;
  comm: string;
}

interface Member {
  pid: number;
  startTicks: number;
  comm: string;
}

const member = (s: ProcStat): Member => ({ pid: s.pid, startTicks: s.startTicks, comm: s.comm });

/**
 * Why `pid` must never be touched, or undefined. `descendant`: `st` was found in the tree of a user process,
 * so it is no kernel thread (those are children of kthreadd, pid 2): an unreadable executable there means a
 * process in the middle of exiting (the kernel drops the link before the zombie state), judged by its name.
 */
export function protectedReason(
  st: ProcStat,
  config: LocalResponderConfig,
  opts: { descendant?: boolean } = {},
): string | undefined {
  const pid = st.pid;
  if (pid === 1) return 'pid 1 (init)';
  if (pid === 2 || st.ppid === 2) return 'a kernel thread';
  if (pid === process.pid) return 'the responder itself';
  if (ancestors(process.pid).includes(pid)) return "an ancestor of the responder's process";
  const exe = executable(pid);
  if (!exe && !opts.descendant) return 'a process without an executable (kernel thread)';
  const name = exe ? basename(exe) : st.comm;
  if (name === 'temporal' || st.comm === 'temporal') return 'the Temporal server';
  for (const p of config.VIGIL_AGENT_PROTECTED) {
    if (p.includes('/') ? exe === p : name === p || st.comm === p)
      return `protected by VIGIL_AGENT_PROTECTED (${p})`;
  }
  return undefined;
}

/**
 * The process the event named, or a failure: NotFound when the pid is gone or now names another process
 * (start time beyond VIGIL_AGENT_PID_START_TOLERANCE, or another executable), Forbidden when protected.
 */
export function resolveProcess(p: ProcessTarget, config: LocalResponderConfig): ProcessIdentity {
  const st = readStat(p.pid);
  if (st && p.pid === 1) throw failure(ErrorType.Forbidden, 'refused: pid 1 (init) is protected', { pid: 1 });
  if (!st || st.state === 'Z' || st.state === 'X') {
    throw failure(ErrorType.NotFound, `process ${p.pid} no longer exists`, { pid: p.pid });
  }
  const started = startTimeMs(st.startTicks);
  if (p.startTime !== undefined) {
    const want = Date.parse(p.startTime);
    if (Number.isNaN(want)) throw failure(ErrorType.InvalidInput, `startTime "${p.startTime}" is not a date`);
    if (Math.abs(started - want) > config.VIGIL_AGENT_PID_START_TOLERANCE) {
      throw failure(
        ErrorType.NotFound,
        `pid ${p.pid} now names another process: started ${new Date(started).toISOString()}, the event's started ${p.startTime}`,
        { pid: p.pid, startedAt: new Date(started).toISOString(), expected: p.startTime },
      );
    }
  }
  const exe = executable(p.pid);
  if (p.executable !== undefined) {
    const same = p.executable.includes('/')
      ? exe === p.executable
      : exe !== undefined && basename(exe) === p.executable;
    if (!same) {
      throw failure(
        ErrorType.NotFound,
        `pid ${p.pid} now runs ${exe ?? '(no executable)'}, not ${p.executable}`,
        {
          pid: p.pid,
          executable: exe,
          expected: p.executable,
        },
      );
    }
  }
  const why = protectedReason(st, config);
  if (why)
    throw failure(ErrorType.Forbidden, `refused: pid ${p.pid} (${st.comm}) is ${why}`, { pid: p.pid, why });
  return {
    pid: p.pid,
    startTicks: st.startTicks,
    startTime: new Date(started).toISOString(),
    ...(exe ? { executable: exe } : {}),
    comm: st.comm,
  };
}

/** Refuse a tree that contains a protected process (e.g. the agent started from the named shell). */
export function checkTree(root: ProcessIdentity, config: LocalResponderConfig): ProcStat[] {
  const tree = descendants(root.pid);
  for (const d of tree) {
    const why = protectedReason(d, config, { descendant: true });
    if (why) {
      throw failure(
        ErrorType.Forbidden,
        `refused: the tree of pid ${root.pid} contains pid ${d.pid} (${d.comm}), ${why}`,
        {
          pid: root.pid,
          protectedPid: d.pid,
          why,
        },
      );
    }
  }
  return tree;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function signal(m: Member, sig: NodeJS.Signals): void {
  if (!isAlive(m.pid, m.startTicks)) return;
  try {
    process.kill(m.pid, sig);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ESRCH') throw e;
  }
}

const stopped = (m: Member) => {
  const st = readStat(m.pid);
  return !st || st.startTicks !== m.startTicks || st.state === 'T' || st.state === 't' || st.state === 'Z';
};

/**
 * SIGSTOP the root, then its children, and repeat until the tree is stable: a stopped process cannot fork,
 * so each round can only find children forked before their parent stopped.
 */
export async function stopTree(root: ProcessIdentity, config: LocalResponderConfig): Promise<Member[]> {
  const rootMember: Member = { pid: root.pid, startTicks: root.startTicks, comm: root.comm };
  const known = new Map<number, Member>([[root.pid, rootMember]]);
  signal(rootMember, 'SIGSTOP');
  for (let round = 0; round < 50; round++) {
    // The kernel stops a process within a scheduler tick or so: look again soon, then every 5 ms.
    for (let i = 0; i < 200 && ![...known.values()].every(stopped); i++) await sleep(i < 5 ? 1 : 5);
    const tree = checkTree(root, config).map(member);
    const fresh = tree.filter((m) => !known.has(m.pid));
    if (fresh.length === 0 && [...known.values()].every(stopped)) break;
    for (const m of fresh) {
      known.set(m.pid, m);
      signal(m, 'SIGSTOP');
    }
  }
  return [...known.values()].filter((m) => isAlive(m.pid, m.startTicks));
}

function stateLine(members: Member[]): { ok: boolean; saw: string } {
  const states = members.map((m) => {
    const st = readStat(m.pid);
    return { m, state: st && st.startTicks === m.startTicks ? st.state : 'gone' };
  });
  const root = states[0];
  return {
    ok:
      states.every((s) => s.state === 'T' || s.state === 't' || s.state === 'gone') && root?.state !== 'gone',
    saw: states.map((s) => `/proc/${s.m.pid}/stat state ${s.state}`).join(', '),
  };
}

const members = (facts: Record<string, unknown>): Member[] => (facts.pids as Member[] | undefined) ?? [];

/** The agent store's subject for a suspension under `pid` (what the resume reads back). */
const suspendSubject = (pid: number) => `suspend:${pid}`;

export const suspendProcess: LocalAction<ProcessTarget> = {
  action: 'suspend-process',
  meta: {
    summary: 'SIGSTOP a process and its descendants',
    blastRadius: 'low',
    undo: 'resume-process',
    outlivesReboot: false,
  },
  params: ProcessTarget,
  apply: op({
    async precheck(p, ctx) {
      const id = resolveProcess(p, ctx.config);
      checkTree(id, ctx.config);
      return id;
    },
    async plan(_p, id) {
      const tree = descendants(id.pid);
      return [
        `SIGSTOP pid ${id.pid} (${id.comm}, started ${id.startTime})`,
        ...(tree.length
          ? [`SIGSTOP its ${tree.length} descendant(s): ${tree.map((t) => t.pid).join(', ')}`]
          : []),
        'repeat until the tree is stable; verify state T in /proc/<pid>/stat',
      ];
    },
    async run(_p, id, ctx) {
      ctx.journal({ root: id });
      const pids = await stopTree(id, ctx.config);
      // What was stopped, for the resume: members outlive their root (a killed parent leaves its stopped
      // children behind, re-parented where the root's tree no longer finds them).
      ctx.store.putEffect(suspendSubject(id.pid), 'suspend-process', ctx.key, { root: id, pids });
      return { root: id, pids };
    },
    async verify(p, facts) {
      const list = members(facts);
      if (!list.length) {
        const st = readStat(p.pid);
        return {
          ok: false,
          saw: `/proc/${p.pid}/stat state ${st?.state ?? 'gone'} (no stopped tree recorded)`,
        };
      }
      return stateLine(list);
    },
  }),
  undo: op({
    /**
     * The live process and what this agent stopped under its pid. The process being gone (or its pid
     * reused) is no reason to leave the rest suspended: the recorded members that still run (same start
     * time) are resumed. NotFound only when neither is there.
     */
    async precheck(p, ctx) {
      const recorded = members(ctx.store.activeEffect(suspendSubject(p.pid))?.facts ?? {});
      try {
        return { id: resolveProcess(p, ctx.config), recorded };
      } catch (e) {
        if (!(e instanceof ApplicationFailure && e.type === ErrorType.NotFound) || !recorded.length) throw e;
        return { id: undefined, gone: e.message, recorded };
      }
    },
    async plan(_p, t) {
      const alive = t.recorded.filter((m) => isAlive(m.pid, m.startTicks));
      return [
        t.id
          ? `SIGCONT pid ${t.id.pid} (${t.id.comm}) and its descendants`
          : `${t.gone ?? 'the process is gone'}: nothing to resume there`,
        `SIGCONT the ${alive.length} process(es) stopped with it that still run${alive.length ? `: ${alive.map((m) => m.pid).join(', ')}` : ''}`,
        'verify none is left in state T',
      ];
    },
    async run(_p, t) {
      const tree = new Map<number, Member>();
      if (t.id) {
        tree.set(t.id.pid, { pid: t.id.pid, startTicks: t.id.startTicks, comm: t.id.comm });
        for (const d of descendants(t.id.pid)) tree.set(d.pid, member(d));
      }
      for (const m of t.recorded) if (!tree.has(m.pid) && isAlive(m.pid, m.startTicks)) tree.set(m.pid, m);
      const pids = [...tree.values()];
      for (const m of pids) signal(m, 'SIGCONT');
      for (let i = 0; i < 200 && pids.some((m) => readStat(m.pid)?.state === 'T'); i++) await sleep(5);
      return { root: t.id, ...(t.id ? {} : { rootGone: t.gone }), pids };
    },
    async verify(p, facts) {
      const list = members(facts);
      const tree = list.length
        ? list
        : [{ pid: p.pid, startTicks: readStat(p.pid)?.startTicks ?? -1, comm: '' }];
      const states = tree.map((m) => {
        const st = readStat(m.pid);
        return { pid: m.pid, state: st && st.startTicks === m.startTicks ? st.state : 'gone' };
      });
      return {
        ok: states.every((s) => s.state !== 'T'),
        saw: states.map((s) => `/proc/${s.pid}/stat state ${s.state}`).join(', ') || 'no process left of it',
      };
    },
    async settle(p, _f, ctx) {
      ctx.store.endEffect(suspendSubject(p.pid));
    },
  }),
};

export const killProcessTree: LocalAction<ProcessTarget> = {
  action: 'kill-process-tree',
  meta: {
    summary: 'stop a process tree, then SIGKILL it',
    blastRadius: 'low',
    undo: null,
    outlivesReboot: false,
  },
  params: ProcessTarget,
  apply: op({
    async precheck(p, ctx) {
      const id = resolveProcess(p, ctx.config);
      checkTree(id, ctx.config);
      return id;
    },
    async plan(_p, id) {
      const tree = descendants(id.pid);
      return [
        `SIGSTOP pid ${id.pid} (${id.comm}) and its ${tree.length} descendant(s) until the tree is stable`,
        'SIGKILL every stopped process; verify none is left',
      ];
    },
    async run(_p, id, ctx) {
      ctx.journal({ root: id });
      const pids = await stopTree(id, ctx.config);
      // Journal before the irreversible step: a retry after a crash verifies these pids are gone.
      ctx.journal({ root: id, pids });
      for (const m of pids) signal(m, 'SIGKILL');
      for (let i = 0; i < 400 && pids.some((m) => isAlive(m.pid, m.startTicks)); i++) await sleep(5);
      return { root: id, pids, killed: pids.length };
    },
    async verify(_p, facts) {
      const list = members(facts);
      const alive = list.filter((m) => isAlive(m.pid, m.startTicks));
      return {
        ok: list.length > 0 && alive.length === 0,
        saw: alive.length
          ? `still alive: ${alive.map((m) => m.pid).join(', ')}`
          : `${list.length} process(es) gone from /proc: ${list.map((m) => m.pid).join(', ')}`,
      };
    },
  }),
};
