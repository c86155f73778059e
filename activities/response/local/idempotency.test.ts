/**
 * Exactly one effect per idempotency key: repeats, reuse for another request, concurrent duplicates,
 * and a real crash: an agent process SIGKILLed in the middle of an action (it runs the built library from
 * dist/, `npm run build` first) leaves a `started` record that the next attempt reconciles.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  addUser,
  agentEnv,
  delUser,
  killQuietly,
  rootGate,
  shadow,
  tempDir,
  uniq,
} from '../../../test/helpers/host-sandbox.js';
import { loadLocalResponderConfig } from './config.js';
import { descendants, readStat } from './procfs.js';
import { createLocalResponder, type LocalResponder } from './responder.js';
import { openResponderStore } from './store.js';

const gate = rootGate(['useradd', 'userdel', 'usermod', 'chage']);
const DIST = resolve(import.meta.dirname, '../../../dist/activities/response/local/index.js');

/** Run one request in a separate agent process that SIGKILLs itself right after `crashAfter` ran. */
function crashingAgent(
  env: Record<string, string>,
  req: object,
  crashAfter: string,
): Promise<NodeJS.Signals | null> {
  const code = `
    const { createLocalResponder, createCommandRunner, loadLocalResponderConfig } = await import(${JSON.stringify(DIST)});
    const real = createCommandRunner({ timeoutMs: 10000 });
    const runner = { ...real, async run(cmd, args, o) {
      const r = await real.run(cmd, args, o);
      if (cmd === process.env.CRASH_AFTER) process.kill(process.pid, 'SIGKILL');
      return r;
    } };
    const r = createLocalResponder(loadLocalResponderConfig(JSON.parse(process.env.CFG)), { runner });
    await r.execute(JSON.parse(process.env.REQ));
    console.log('finished without crashing');`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', code], {
    env: { ...process.env, CFG: JSON.stringify(env), REQ: JSON.stringify(req), CRASH_AFTER: crashAfter },
    stdio: 'inherit',
  });
  return new Promise((res) => child.once('exit', (_c, sig) => res(sig)));
}

describe.skipIf(gate.skip)('local responder: one effect per idempotency key', () => {
  const tmp = tempDir();
  const root = join(tmp.dir, 'files');
  const vault = join(tmp.dir, 'vault');
  const env = agentEnv(tmp.dir, { VIGIL_AGENT_ALLOWED_ROOTS: root, VIGIL_AGENT_VAULT_DIR: vault });
  const user = `vgi${uniq(3)}`;
  const children: ChildProcess[] = [];
  let r: LocalResponder;
  const base = (action: string, params: Record<string, unknown>, key = `wf-${uniq()}:a`) => ({
    action: action as 'quarantine-file',
    op: 'apply' as const,
    host: 'test-host',
    params,
    idempotencyKey: key,
    incidentId: 'inc-5',
  });

  beforeAll(() => {
    mkdirSync(root);
    addUser(user);
    r = createLocalResponder(loadLocalResponderConfig(env));
  });
  afterAll(() => {
    children.forEach(killQuietly);
    r.close();
    delUser(user);
    tmp.cleanup();
  });

  it('answers a repeated key with the first result (already=true) and no second effect', async () => {
    const p = join(root, 'a.bin');
    writeFileSync(p, randomBytes(1000));
    const req = base('quarantine-file', { path: p });
    const first = await r.execute(req);
    writeFileSync(p, 'a new file at the same path');
    const again = await r.execute(req);
    expect(first.already).toBe(false);
    expect(again).toMatchObject({ already: true, status: 'applied', effect: first.effect, at: first.at });
    expect(existsSync(p)).toBe(true);
    expect(readdirSync(vault)).toEqual([first.effect.vaultId]);
  });

  it('runs concurrent duplicates once', async () => {
    const c = spawn('bash', ['-c', 'sleep 60 & wait'], { stdio: 'ignore' });
    children.push(c);
    for (let i = 0; i < 100 && descendants(c.pid!).length < 1; i++)
      await new Promise((res) => setTimeout(res, 10));
    const req = base('kill-process-tree', { pid: c.pid! });
    const both = await Promise.all([r.execute(req), r.execute(req)]);
    expect(both.map((b) => b.already).sort()).toEqual([false, true]);
    expect(['Z', undefined]).toContain(readStat(c.pid!)?.state);
  });

  it('refuses a key reused for another action or other parameters, and does nothing', async () => {
    const p = join(root, 'b.bin');
    writeFileSync(p, 'b');
    const key = `wf-${uniq()}:b`;
    // A refusal before any change does not use the key up.
    await expect(
      r.execute(base('quarantine-file', { path: join(root, 'missing.bin') }, key)),
    ).rejects.toMatchObject({
      type: 'NotFound',
    });
    writeFileSync(join(root, 'c.bin'), 'c');
    await r.execute(base('quarantine-file', { path: join(root, 'c.bin') }, key));
    await expect(r.execute(base('quarantine-file', { path: p }, key))).rejects.toMatchObject({
      type: 'InvalidInput',
      message: expect.stringContaining('idempotency key already used'),
    });
    await expect(
      r.execute({ ...base('quarantine-file', { path: join(root, 'c.bin') }, key), op: 'undo' }),
    ).rejects.toMatchObject({
      type: 'InvalidInput',
    });
    expect(existsSync(p)).toBe(true);
  });

  it('reconciles an agent killed after the effect: the retry verifies and finishes, acting no second time', async () => {
    expect(existsSync(DIST), 'run `npm run build` first: the crash test runs the built agent').toBe(true);
    const before = shadow(user)!;
    const req = base('lock-local-account', { account: user });
    expect(await crashingAgent(env, req, 'chage')).toBe('SIGKILL');
    const store = openResponderStore(join(env.VIGIL_AGENT_STATE_DIR!, 'agent.db'));
    expect(store.getAction(req.idempotencyKey)?.state).toBe('started');
    store.close();
    expect(shadow(user)!.expire).toBe('1');

    const res = await r.execute(req);
    expect(res).toMatchObject({
      status: 'applied',
      already: true,
      effect: { reconciled: true, wasLocked: false },
    });
    expect(shadow(user)!.password).toBe(`!${before.password}`);
    const un = await r.execute({ ...base('lock-local-account', { account: user }), op: 'undo' });
    expect(un.status).toBe('undone');
    expect(shadow(user)).toEqual(before);
  });

  it('finishes an action whose agent died half-way, keeping the facts found before the first change', async () => {
    const before = shadow(user)!;
    const req = base('lock-local-account', { account: user });
    // Dies after usermod -L, before the expiry: the password is locked, the account not yet expired.
    expect(await crashingAgent(env, req, 'usermod')).toBe('SIGKILL');
    expect(shadow(user)!.password.startsWith('!')).toBe(true);
    expect(shadow(user)!.expire).toBe(before.expire);

    const res = await r.execute(req);
    expect(res).toMatchObject({ status: 'applied', already: false, effect: { wasLocked: false } });
    expect(shadow(user)!.expire).toBe('1');
    await r.execute({ ...base('lock-local-account', { account: user }), op: 'undo' });
    expect(shadow(user)).toEqual(before);
  });
});

describe('the responder store: records of effects a reboot ends', () => {
  const STORE = resolve(import.meta.dirname, '../../../dist/activities/response/local/store.js');

  it('keeps a volatile action’s records across a SIGKILL of the agent (WAL, no fsync), back at FULL after each write', async () => {
    const tmp = tempDir();
    const file = join(tmp.dir, 'agent.db');
    try {
      // A separate process writes like the responder for a suspend (durable = false), then dies at once.
      const code = `
        const { openResponderStore } = await import(${JSON.stringify(STORE)});
        const s = openResponderStore(process.env.DB);
        s.begin('k-volatile', 'fp', 'suspend-process', 'apply', false);
        s.journal('k-volatile', { plan: ['SIGSTOP'] }, false);
        if (s.db.pragma('synchronous', { simple: true }) !== 2) process.exit(3);
        s.finish('k-volatile', { status: 'applied' }, false);
        s.begin('k-durable', 'fp', 'quarantine-file', 'apply');
        process.kill(process.pid, 'SIGKILL');`;
      const child = spawn(process.execPath, ['--input-type=module', '-e', code], {
        env: { ...process.env, DB: file },
        stdio: 'inherit',
      });
      const sig = await new Promise((res) => child.once('exit', (_c, s) => res(s)));
      expect(sig).toBe('SIGKILL');
      const store = openResponderStore(file);
      try {
        expect(store.getAction('k-volatile')).toMatchObject({
          state: 'done',
          journal: { plan: ['SIGSTOP'] },
          result: { status: 'applied' },
        });
        expect(store.getAction('k-durable')?.state).toBe('started');
        expect(store.db.pragma('synchronous', { simple: true })).toBe(2); // FULL
      } finally {
        store.close();
      }
    } finally {
      tmp.cleanup();
    }
  });
});
