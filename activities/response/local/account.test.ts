import { spawn, type ChildProcess } from 'node:child_process';
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
import { createLocalResponder, type LocalResponder } from './responder.js';
import { readStat } from './procfs.js';

const gate = rootGate(['useradd', 'userdel', 'usermod', 'chage', 'pkill']);

describe.skipIf(gate.skip)('local responder: local accounts (a throwaway user)', () => {
  const tmp = tempDir();
  const user = `vgt${uniq(3)}`;
  let ids: { uid: number; gid: number };
  let r: LocalResponder;
  const children: ChildProcess[] = [];
  let n = 0;
  const req = (account: string, extra: Record<string, unknown> = {}) => ({
    action: 'lock-local-account' as const,
    op: 'apply' as const,
    host: 'test-host',
    params: { account },
    idempotencyKey: `wf-${uniq()}:lock-${++n}`,
    incidentId: 'inc-4',
    ...extra,
  });

  beforeAll(() => {
    ids = addUser(user);
    r = createLocalResponder(
      loadLocalResponderConfig(agentEnv(tmp.dir, { VIGIL_AGENT_PROTECTED: 'vigil-breakglass' })),
    );
  });
  afterAll(() => {
    children.forEach(killQuietly);
    r.close();
    delUser(user);
    tmp.cleanup();
  });

  it('locks and expires the account and ends its processes; unlock restores exactly the previous state', async () => {
    const before = shadow(user)!;
    expect(before.password.startsWith('!')).toBe(false);
    const procs = [0, 1].map(() => spawn('sleep', ['60'], { uid: ids.uid, gid: ids.gid, stdio: 'ignore' }));
    children.push(...procs);
    await new Promise((res) => setTimeout(res, 50));

    const res = await r.execute(req(user));
    expect(res.status).toBe('applied');
    expect(res.effect).toMatchObject({ wasLocked: false, previousExpire: before.expire, uid: ids.uid });
    const locked = shadow(user)!;
    expect(locked.password).toBe(`!${before.password}`);
    expect(locked.expire).toBe('1');
    for (const p of procs) expect(['Z', undefined]).toContain(readStat(p.pid!)?.state);

    const un = await r.execute({ ...req(user), op: 'undo' });
    expect(un.status).toBe('undone');
    expect(shadow(user)).toEqual(before);
  });

  it('refuses root, system accounts, protected and unknown accounts without touching them', async () => {
    const rootBefore = shadow('root');
    await expect(r.execute(req('root'))).rejects.toMatchObject({ type: 'Forbidden', nonRetryable: true });
    await expect(r.execute(req('daemon'))).rejects.toMatchObject({ type: 'Forbidden' });
    await expect(r.execute(req(`nosuch${uniq(2)}`))).rejects.toMatchObject({ type: 'NotFound' });
    expect(shadow('root')).toEqual(rootBefore);
    const guard = createLocalResponder(
      loadLocalResponderConfig(
        agentEnv(tmp.dir, { VIGIL_AGENT_PROTECTED: user, VIGIL_AGENT_STATE_DIR: `${tmp.dir}/s2` }),
      ),
    );
    try {
      const before = shadow(user);
      await expect(guard.execute(req(user))).rejects.toMatchObject({ type: 'Forbidden' });
      expect(shadow(user)).toEqual(before);
    } finally {
      guard.close();
    }
  });

  it('refuses nobody (uid 65534, above VIGIL_AGENT_MIN_UID) as a system account', async () => {
    // A dry run: without the check it would only describe the lock, never lock the host's real nobody.
    await expect(r.execute(req('nobody', { dryRun: true }))).rejects.toMatchObject({
      type: 'Forbidden',
      message: expect.stringContaining('overflow'),
    });
  });

  it('refuses an unlock nobody recorded (it cannot know the previous expiry)', async () => {
    await expect(r.execute({ ...req(user), op: 'undo' })).rejects.toMatchObject({ type: 'NotFound' });
  });
});
