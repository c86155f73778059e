import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  existsSync,
  linkSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentEnv, rootGate, tempDir, uniq } from '../../../test/helpers/host-sandbox.js';
import { loadLocalResponderConfig } from './config.js';
import { quarantineFile } from './file.js';
import { createLocalResponder, type LocalResponder } from './responder.js';

const gate = rootGate();
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe.skipIf(gate.skip)('local responder: files', () => {
  const tmp = tempDir();
  // The vault on tmpfs, the files on the disk: the move crosses file systems.
  const vaultHome = tempDir('vigil-vault-');
  const shm = existsSync('/dev/shm') ? join('/dev/shm', `vigil-vault-${uniq()}`) : join(vaultHome.dir, 'v');
  const root = join(tmp.dir, 'home');
  const outside = join(tmp.dir, 'etc');
  let r: LocalResponder;
  let n = 0;
  const req = (params: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
    action: 'quarantine-file' as const,
    op: 'apply' as const,
    host: 'test-host',
    params,
    idempotencyKey: `wf-${uniq()}:quarantine-${++n}`,
    incidentId: 'inc-2',
    ...extra,
  });
  const vaultFiles = () => (existsSync(shm) ? readdirSync(shm) : []);

  /** A file with unusual owner, set-id mode and a past mtime with nanoseconds. */
  function plant(name: string, bytes = randomBytes(300_000)) {
    const p = join(root, name);
    writeFileSync(p, bytes);
    chownSync(p, 12345, 23456);
    chmodSync(p, 0o4751);
    utimesSync(p, new Date('2024-01-02T03:04:05.678Z'), new Date('2023-05-06T07:08:09.123Z'));
    return { p, bytes, st: statSync(p, { bigint: true }) };
  }

  beforeAll(() => {
    mkdirSync(root);
    mkdirSync(outside);
    r = createLocalResponder(
      loadLocalResponderConfig(
        agentEnv(tmp.dir, {
          VIGIL_AGENT_ALLOWED_ROOTS: `${root},${join(tmp.dir, 'absent')}`,
          VIGIL_AGENT_VAULT_DIR: shm,
        }),
      ),
    );
  });
  afterAll(() => {
    r.close();
    tmp.cleanup();
    vaultHome.cleanup();
    execFileSync('rm', ['-rf', shm]);
  });

  it('quarantines a file into a 0700 vault as mode 000, verified by hash, and restores it exactly', async () => {
    const f = plant('dropper.bin');
    const res = await r.execute(req({ path: f.p, sha256: sha(f.bytes) }));
    expect(res).toMatchObject({ status: 'applied', already: false });
    expect(res.effect).toMatchObject({
      origin: f.p,
      sha256: sha(f.bytes),
      uid: 12345,
      gid: 23456,
      mode: '4751',
    });
    expect(existsSync(f.p)).toBe(false);
    expect(statSync(shm).mode & 0o777).toBe(0o700);
    const vp = join(shm, String(res.effect.vaultId));
    expect(statSync(vp).mode & 0o7777).toBe(0);
    expect(sha(readFileSync(vp))).toBe(sha(f.bytes));
    expect(statSync(vp).dev).not.toBe(statSync(root).dev);

    const un = await r.execute({ ...req({ path: f.p }), op: 'undo' });
    expect(un.status).toBe('undone');
    const back = statSync(f.p, { bigint: true });
    expect(readFileSync(f.p).equals(f.bytes)).toBe(true);
    expect([back.uid, back.gid]).toEqual([12345n, 23456n]);
    expect(back.mode & 0o7777n).toBe(0o4751n);
    expect(back.mtimeNs).toBe(f.st.mtimeNs);
    expect(existsSync(vp)).toBe(false);
  });

  it('leaves a hard link outside the roots unable to run or read the content (the inode becomes 000)', async () => {
    const f = plant('linked.bin');
    const elsewhere = join(outside, 'innocent-name');
    linkSync(f.p, elsewhere);
    const res = await r.execute(req({ path: f.p, sha256: sha(f.bytes) }));
    expect(res).toMatchObject({ status: 'applied' });
    expect(res.effect).toMatchObject({ mode: '4751', otherLinks: 1 });
    expect(existsSync(f.p)).toBe(false);
    // The content is still reachable through the other link, but nobody but root may open or run it.
    expect(statSync(elsewhere).mode & 0o7777).toBe(0);
    const asNobody = spawnSync('setpriv', [
      '--reuid=12345',
      '--regid=23456',
      '--clear-groups',
      'cat',
      elsewhere,
    ]);
    expect(asNobody.status).not.toBe(0);
    // The restore puts the original mode back on the restored file (a new inode at the origin).
    const un = await r.execute({ ...req({ path: f.p }), op: 'undo' });
    expect(un.status).toBe('undone');
    expect(statSync(f.p).mode & 0o7777).toBe(0o4751);
    expect(readFileSync(f.p).equals(f.bytes)).toBe(true);
  });

  it('refuses a path outside the roots and a symlink escaping them, and touches neither', async () => {
    const secret = join(outside, 'shadow');
    writeFileSync(secret, 'root:x');
    await expect(r.execute(req({ path: secret }))).rejects.toMatchObject({
      type: 'InvalidInput',
      nonRetryable: true,
    });
    const link = join(root, 'innocent');
    symlinkSync(secret, link);
    await expect(r.execute(req({ path: link }))).rejects.toMatchObject({
      type: 'InvalidInput',
      message: expect.stringContaining('resolves to'),
    });
    await expect(r.execute(req({ path: join(root, '..', 'etc', 'shadow') }))).rejects.toMatchObject({
      type: 'InvalidInput',
    });
    expect(readFileSync(secret, 'utf8')).toBe('root:x');
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
  });

  it('refuses a non-regular file, a missing file, and a file whose hash changed since the event', async () => {
    const fifo = join(root, 'pipe');
    execFileSync('mkfifo', [fifo]);
    await expect(r.execute(req({ path: fifo }))).rejects.toMatchObject({ type: 'InvalidInput' });
    await expect(r.execute(req({ path: join(root, 'nope') }))).rejects.toMatchObject({ type: 'NotFound' });
    // A NUL byte is bad input (not a retryable failure of the file system calls).
    await expect(r.execute(req({ path: `${root}/a\u0000b` }))).rejects.toMatchObject({
      type: 'InvalidInput',
      nonRetryable: true,
    });
    const f = plant('changed.sh');
    await expect(r.execute(req({ path: f.p, sha256: 'a'.repeat(64) }))).rejects.toMatchObject({
      type: 'NotFound',
    });
    expect(readFileSync(f.p).equals(f.bytes)).toBe(true);
  });

  it('refuses to restore over something that now exists at the origin', async () => {
    const f = plant('again.bin');
    await r.execute(req({ path: f.p }));
    writeFileSync(f.p, 'new content');
    await expect(r.execute({ ...req({ path: f.p }), op: 'undo' })).rejects.toMatchObject({
      type: 'Forbidden',
    });
    expect(readFileSync(f.p, 'utf8')).toBe('new content');
  });

  it('does not restore through a directory swapped for a symlink out of the roots', async () => {
    const dir = join(root, 'drop');
    mkdirSync(dir);
    const p = join(dir, 'evil.sh');
    writeFileSync(p, 'echo pwned');
    await r.execute(req({ path: p }));
    // Between the quarantine and the restore the (attacker-owned) directory becomes a symlink to /etc.
    execFileSync('rm', ['-rf', dir]);
    symlinkSync(outside, dir);
    await expect(r.execute({ ...req({ path: p }), op: 'undo' })).rejects.toMatchObject({
      type: 'Forbidden',
      nonRetryable: true,
    });
    expect(existsSync(join(outside, 'evil.sh'))).toBe(false);
  });

  it('does not hang on a FIFO swapped in for the file between the check and the copy', async () => {
    const p = join(root, 'swapped.bin');
    writeFileSync(p, 'payload');
    const events: string[] = [];
    // The FIFO replaces the file once the plan is journaled; a writer frees a blocked open after 3 s.
    const fifo = `${p}.fifo`;
    execFileSync('mkfifo', [fifo]);
    const freer = spawn('sh', ['-c', `sleep 3; : > ${p}`], { stdio: 'ignore' });
    const orig = quarantineFile.apply.run.bind(quarantineFile.apply);
    quarantineFile.apply.run = (params, target, ctx) => {
      renameSync(fifo, p);
      events.push('swapped');
      return orig(params, target, ctx);
    };
    const t0 = Date.now();
    try {
      await expect(r.execute(req({ path: p }))).rejects.toMatchObject({ type: 'Unavailable' });
    } finally {
      quarantineFile.apply.run = orig;
      freer.kill();
    }
    expect(events).toEqual(['swapped']);
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  it("refuses the agent's own store even under an allowed root", async () => {
    const wide = createLocalResponder(
      loadLocalResponderConfig(
        agentEnv(tmp.dir, {
          VIGIL_AGENT_ALLOWED_ROOTS: tmp.dir,
          VIGIL_AGENT_STATE_DIR: join(tmp.dir, 'agent-state'),
        }),
      ),
    );
    try {
      await expect(
        wide.execute(req({ path: join(tmp.dir, 'agent-state', 'agent.db') })),
      ).rejects.toMatchObject({
        type: 'Forbidden',
      });
      expect(existsSync(join(tmp.dir, 'agent-state', 'agent.db'))).toBe(true);
    } finally {
      wide.close();
    }
  });

  it('a dry run changes nothing and records nothing', async () => {
    const f = plant('dry.bin');
    const before = vaultFiles().length;
    const res = await r.execute(req({ path: f.p }, { dryRun: true }));
    expect(res.status).toBe('dry-run');
    expect(res.plan.join('\n')).toContain(f.p);
    expect(readFileSync(f.p).equals(f.bytes)).toBe(true);
    expect(vaultFiles().length).toBe(before);
  });
});
