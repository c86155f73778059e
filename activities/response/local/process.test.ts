import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { agentEnv, killQuietly, rootGate, tempDir, uniq } from '../../../test/helpers/host-sandbox.js';
import { ResponseResult } from '../../../src/contracts/response-schemas.js';
import { loadLocalResponderConfig } from './config.js';
import { descendants, descendantsByScan, executable, readStat, startTimeMs } from './procfs.js';
import { createLocalResponder, type LocalResponder } from './responder.js';
import { protectedReason } from './process.js';

const gate = rootGate();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** bash with two sleeping children and a grandchild. */
async function spawnTree(): Promise<ChildProcess> {
  const c = spawn('bash', ['-c', 'sleep 60 & (sleep 60 & wait) & wait'], { stdio: 'ignore' });
  for (let i = 0; i < 100 && descendants(c.pid!).length < 3; i++) await sleep(10);
  return c;
}

const startOf = (pid: number) => new Date(startTimeMs(readStat(pid)!.startTicks)).toISOString();
const stateOf = (pid: number) => readStat(pid)?.state;

describe('process trees from /proc', () => {
  it('walks the kernel children lists to the same tree a full /proc scan finds', async () => {
    const c = await spawnTree();
    try {
      const byPid = (xs: { pid: number }[]) => xs.map((x) => x.pid).sort((a, b) => a - b);
      expect(descendants(c.pid!)).toHaveLength(3);
      expect(byPid(descendants(c.pid!))).toEqual(byPid(descendantsByScan(c.pid!)));
      expect(descendants(2 ** 22 + 1)).toEqual([]);
    } finally {
      c.kill('SIGKILL');
    }
  });
});

describe('protected processes', () => {
  it('takes a descendant whose executable is gone (exiting) by its name, never for a kernel thread', () => {
    const config = loadLocalResponderConfig({ VIGIL_AGENT_PROTECTED: 'vigil-breakglass' });
    // A pid that does not exist: /proc/<pid>/exe cannot be read, as for a process in the middle of exiting.
    const exiting = { pid: 2 ** 22 + 3, comm: 'sleep', state: 'R', ppid: 4242, startTicks: 1 };
    expect(protectedReason(exiting, config)).toMatch(/kernel thread/);
    expect(protectedReason(exiting, config, { descendant: true })).toBeUndefined();
    expect(protectedReason({ ...exiting, comm: 'temporal' }, config, { descendant: true })).toBe(
      'the Temporal server',
    );
    expect(protectedReason({ ...exiting, comm: 'vigil-breakglass' }, config, { descendant: true })).toMatch(
      /VIGIL_AGENT_PROTECTED/,
    );
    expect(protectedReason({ ...exiting, ppid: 2 }, config, { descendant: true })).toBe('a kernel thread');
  });
});

describe.skipIf(gate.skip)('local responder: processes', () => {
  const tmp = tempDir();
  const children: ChildProcess[] = [];
  let r: LocalResponder;
  let n = 0;
  const req = (action: string, params: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
    action: action as 'suspend-process',
    op: 'apply' as const,
    host: 'test-host',
    params,
    idempotencyKey: `wf-${uniq()}:act-${++n}`,
    incidentId: 'inc-1',
    ...extra,
  });

  /** A copy of sleep under another name, in its own directory (a running binary cannot be rewritten). */
  const copyOfSleep = (name: string) => {
    const dir = join(tmp.dir, uniq());
    mkdirSync(dir);
    const exe = join(dir, name);
    copyFileSync('/usr/bin/sleep', exe);
    chmodSync(exe, 0o755);
    return exe;
  };

  beforeAll(() => {
    r = createLocalResponder(
      loadLocalResponderConfig(agentEnv(tmp.dir, { VIGIL_AGENT_PROTECTED: 'vigil-protected-demo' })),
    );
  });
  afterEach(() => children.splice(0).forEach(killQuietly));
  afterAll(() => {
    r.close();
    tmp.cleanup();
  });

  it('suspends a process tree (state T in /proc) and resumes it', async () => {
    const c = await spawnTree();
    children.push(c);
    const tree = [c.pid!, ...descendants(c.pid!).map((d) => d.pid)];
    const res = await r.execute(
      req(
        'suspend-process',
        { pid: c.pid!, startTime: startOf(c.pid!), executable: '/usr/bin/bash' },
        { decidedAt: new Date(Date.now() - 5000).toISOString() },
      ),
    );
    expect(ResponseResult.parse(res)).toMatchObject({
      status: 'applied',
      already: false,
      responder: 'agent',
    });
    expect(res.decisionToEffectMs).toBeGreaterThanOrEqual(5000);
    expect(res.verified).toContain(`/proc/${c.pid}/stat state T`);
    for (const pid of tree) expect(stateOf(pid)).toBe('T');
    expect((res.effect.pids as unknown[]).length).toBe(tree.length);

    const un = await r.execute({ ...req('suspend-process', { pid: c.pid! }), op: 'undo' });
    expect(un.status).toBe('undone');
    for (const pid of tree) expect(stateOf(pid)).toMatch(/^[SR]$/);
  });

  it('resumes what it stopped even when the suspended process itself is gone', async () => {
    const c = await spawnTree();
    children.push(c);
    const rest = descendants(c.pid!).map((d) => d.pid);
    expect(rest.length).toBeGreaterThan(0);
    const res = await r.execute(req('suspend-process', { pid: c.pid!, startTime: startOf(c.pid!) }));
    expect(res.status).toBe('applied');
    // The root dies while stopped; its stopped children are re-parented out of its tree.
    process.kill(c.pid!, 'SIGKILL');
    for (let i = 0; i < 200 && !['Z', undefined].includes(stateOf(c.pid!)); i++) await sleep(5);
    for (const pid of rest) expect(stateOf(pid)).toBe('T');

    const un = await r.execute({ ...req('suspend-process', { pid: c.pid! }), op: 'undo' });
    expect(un.status).toBe('undone');
    expect(un.effect.rootGone).toMatch(/no longer exists/);
    for (const pid of rest) expect(stateOf(pid)).toMatch(/^[SRZ]$/);
    for (const pid of rest) process.kill(pid, 'SIGKILL');

    // A second resume has nothing recorded left: the pid is simply gone.
    await expect(r.execute({ ...req('suspend-process', { pid: c.pid! }), op: 'undo' })).rejects.toMatchObject(
      { type: 'NotFound' },
    );
  });

  it('kills a process tree and leaves no child behind', async () => {
    const c = await spawnTree();
    children.push(c);
    const tree = [c.pid!, ...descendants(c.pid!).map((d) => d.pid)];
    expect(tree.length).toBe(4);
    const res = await r.execute(req('kill-process-tree', { pid: c.pid!, startTime: startOf(c.pid!) }));
    expect(res.status).toBe('applied');
    expect(res.effect.killed).toBe(4);
    for (const pid of tree) expect(['Z', undefined]).toContain(stateOf(pid));
    expect(descendants(c.pid!)).toEqual([]);
  });

  it('refuses a pid that no longer exists', async () => {
    const c = spawn('true');
    await new Promise((res) => c.once('exit', res));
    await sleep(20);
    await expect(r.execute(req('kill-process-tree', { pid: c.pid! }))).rejects.toMatchObject({
      type: 'NotFound',
      nonRetryable: true,
    });
  });

  it('refuses a pid that now names another process (start time or executable differ)', async () => {
    const c = spawn('sleep', ['60'], { stdio: 'ignore' });
    children.push(c);
    await sleep(30);
    const hourEarlier = new Date(Date.parse(startOf(c.pid!)) - 3_600_000).toISOString();
    await expect(
      r.execute(req('kill-process-tree', { pid: c.pid!, startTime: hourEarlier })),
    ).rejects.toMatchObject({
      type: 'NotFound',
    });
    await expect(
      r.execute(req('kill-process-tree', { pid: c.pid!, executable: '/usr/bin/python3' })),
    ).rejects.toMatchObject({
      type: 'NotFound',
    });
    expect(stateOf(c.pid!)).toMatch(/^[SR]$/);
  });

  it('refuses pid 1, its own process, its parent, the Temporal server and protected executables', async () => {
    for (const pid of [1, process.pid, process.ppid]) {
      await expect(r.execute(req('suspend-process', { pid }))).rejects.toMatchObject({
        type: 'Forbidden',
        nonRetryable: true,
      });
      expect(stateOf(pid)).not.toBe('T');
    }
    for (const name of ['temporal', 'vigil-protected-demo']) {
      const exe = copyOfSleep(name);
      const c = spawn(exe, ['60'], { stdio: 'ignore' });
      children.push(c);
      for (let i = 0; i < 100 && executable(c.pid!) !== exe; i++) await sleep(10);
      await expect(r.execute(req('kill-process-tree', { pid: c.pid! }))).rejects.toMatchObject({
        type: 'Forbidden',
      });
      expect(stateOf(c.pid!)).toMatch(/^[SR]$/);
    }
  });

  it('refuses a tree that contains a protected process and stops none of it', async () => {
    const exe = copyOfSleep('vigil-protected-demo');
    const c = spawn('bash', ['-c', `sleep 60 & ${exe} 60 & wait`], { stdio: 'ignore' });
    children.push(c);
    for (let i = 0; i < 100 && descendants(c.pid!).length < 2; i++) await sleep(10);
    await sleep(50);
    await expect(r.execute(req('suspend-process', { pid: c.pid! }))).rejects.toMatchObject({
      type: 'Forbidden',
    });
    for (const pid of [c.pid!, ...descendants(c.pid!).map((d) => d.pid)]) expect(stateOf(pid)).not.toBe('T');
  });

  it('a dry run describes the plan and changes nothing', async () => {
    const c = await spawnTree();
    children.push(c);
    const res = await r.execute(req('kill-process-tree', { pid: c.pid! }, { dryRun: true }));
    expect(res.status).toBe('dry-run');
    expect(res.plan.join('\n')).toMatch(/SIGKILL/);
    expect(stateOf(c.pid!)).toMatch(/^[SR]$/);
    expect(descendants(c.pid!).length).toBe(3);
  });

  it('rejects bad parameters with the zod issues, and a request for another host', async () => {
    await expect(r.execute(req('suspend-process', { pid: -3 }))).rejects.toMatchObject({
      type: 'InvalidInput',
      message: expect.stringContaining('pid'),
    });
    await expect(r.execute({ ...req('kill-process-tree', { pid: 1 }), op: 'undo' })).rejects.toMatchObject({
      type: 'InvalidInput',
    });
    await expect(
      r.execute(req('suspend-process', { pid: process.pid }, { host: 'other-host' })),
    ).rejects.toMatchObject({
      type: 'Misconfigured',
    });
  });
});
