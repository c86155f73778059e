/**
 * quarantine-file (undo: restore-file). A file under VIGIL_AGENT_ALLOWED_ROOTS is copied into the vault
 * (0700 dir, copy mode 000, fsynced), recorded in the store (sha256, owner, mode, times, origin), and only
 * then unlinked from its origin: a copy + fsync + unlink that works across file systems and leaves the
 * file in the vault if the agent dies half-way. A file with other hard links keeps its content under them (their
 * paths are unknown): its inode is made mode 000 before the unlink, so none of them can run or read it
 * but root, and the answer counts them. Restore writes a temporary file beside the origin, sets
 * owner, mode and times, and link()s it into place, which fails rather than overwrite whatever now
 * exists at the origin.
 */
import { createHash } from 'node:crypto';
import {
  closeSync,
  constants,
  fchmodSync,
  fchownSync,
  fstatSync,
  fsyncSync,
  linkSync,
  lstatSync,
  mkdirSync,
  openSync,
  readlinkSync,
  readSync,
  realpathSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
  chmodSync,
  type BigIntStats,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { FileTarget } from '../../../src/contracts/response-schemas.js';
import { ErrorType } from '../../../src/errors.js';
import { failure } from '../../lib/failures.js';
import { shortHash } from '../../lib/idempotency.js';
import type { VaultRecord } from './store.js';
import { op, type ActionContext, type LocalAction } from './types.js';

const inside = (p: string, root: string) =>
  p === root || p.startsWith(root.endsWith('/') ? root : `${root}/`);

function allowedRoots(ctx: ActionContext): string[] {
  const roots: string[] = [];
  for (const r of ctx.config.VIGIL_AGENT_ALLOWED_ROOTS) {
    try {
      roots.push(realpathSync(r));
    } catch {
      // A root that does not exist allows nothing.
    }
  }
  if (!roots.length) {
    throw failure(
      ErrorType.Misconfigured,
      'no quarantine roots: set VIGIL_AGENT_ALLOWED_ROOTS to existing directories',
    );
  }
  return roots;
}

function lstatOrUndefined(p: string): BigIntStats | undefined {
  try {
    return lstatSync(p, { bigint: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/** Ensure the vault exists, is 0700, and does not sit under a quarantine root. */
export function ensureVault(dir: string, roots: readonly string[]): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const real = realpathSync(dir);
  for (const r of roots) {
    if (inside(real, r)) {
      throw failure(ErrorType.Misconfigured, `the vault ${real} lies under the quarantine root ${r}`);
    }
  }
}

function hashFd(fd: number, copyTo?: number): { sha256: string; size: number } {
  const h = createHash('sha256');
  const buf = Buffer.allocUnsafe(1 << 20);
  let size = 0;
  for (let pos = 0; ;) {
    const n = readSync(fd, buf, 0, buf.length, pos);
    if (n === 0) break;
    h.update(buf.subarray(0, n));
    if (copyTo !== undefined) {
      for (let w = 0; w < n;) w += writeSync(copyTo, buf, w, n - w);
    }
    pos += n;
    size += n;
  }
  return { sha256: h.digest('hex'), size };
}

/**
 * Open a file to read it, never blocking: a FIFO or device swapped in after an lstat would block a plain
 * open (and with it the agent's whole event loop) until a writer comes. O_NONBLOCK changes nothing for a
 * regular file.
 */
function openForRead(path: string): number {
  return openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
}

export function sha256File(path: string): string {
  const fd = openForRead(path);
  try {
    if (!fstatSync(fd).isFile()) {
      throw failure(ErrorType.Unavailable, `${path} is no longer a regular file; retry`, { path });
    }
    return hashFd(fd).sha256;
  } finally {
    closeSync(fd);
  }
}

/** "1683356889122999000" -> "1683356889.122999000" (touch -d @...). */
export function nsToSeconds(ns: string): string {
  const v = BigInt(ns);
  const neg = v < 0n;
  const a = neg ? -v : v;
  return `${neg ? '-' : ''}${a / 1_000_000_000n}.${String(a % 1_000_000_000n).padStart(9, '0')}`;
}

function fsyncDir(dir: string): void {
  const fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Open the directory a file is restored into, or a failure when it no longer is the directory the file
 * was quarantined from: the origin was recorded as a real path, so its directory must still resolve to
 * itself (a directory swapped for a symlink would let the restore write anywhere as root). Work then goes
 * through /proc/self/fd/<fd>/, which names the opened directory itself, whatever the path turns into.
 */
function openOriginDir(origin: string): { fd: number; via: string } {
  const dir = dirname(origin);
  let fd: number;
  try {
    fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw failure(ErrorType.NotFound, `the directory ${dir} no longer exists`);
    if (code === 'ELOOP' || code === 'ENOTDIR') {
      throw failure(ErrorType.Forbidden, `refused: ${dir} is no longer a directory (a symlink?)`, {
        path: dir,
      });
    }
    throw e;
  }
  const via = `/proc/self/fd/${fd}`;
  let real: string | undefined;
  try {
    real = readlinkSync(via);
  } catch {
    real = undefined;
  }
  if (real !== dir) {
    closeSync(fd);
    throw failure(
      ErrorType.Forbidden,
      `refused: ${dir} now resolves to ${real ?? '(unknown)'}; not restoring ${basename(origin)} there`,
      { path: dir, realPath: real },
    );
  }
  return { fd, via };
}

interface QuarantineTarget {
  origin: string;
  sha256: string;
  dev: string;
  ino: string;
}

/** The real path of an existing file under the roots (symlinks resolved), or a failure. */
function resolveExisting(p: FileTarget, ctx: ActionContext): QuarantineTarget {
  const roots = allowedRoots(ctx);
  if (!lstatOrUndefined(p.path)) throw failure(ErrorType.NotFound, `no file at ${p.path}`, { path: p.path });
  let real: string;
  try {
    real = realpathSync(p.path);
  } catch {
    throw failure(ErrorType.NotFound, `${p.path} is a dangling symlink`, { path: p.path });
  }
  if (!roots.some((r) => inside(real, r))) {
    throw failure(
      ErrorType.InvalidInput,
      real === p.path
        ? `${p.path} is outside the quarantine roots (${roots.join(', ')})`
        : `${p.path} resolves to ${real}, outside the quarantine roots (${roots.join(', ')})`,
      { path: p.path, realPath: real },
    );
  }
  for (const own of [ctx.vaultDir, ctx.config.VIGIL_AGENT_STATE_DIR]) {
    let ownReal = own;
    try {
      ownReal = realpathSync(own);
    } catch {
      // not created yet
    }
    if (inside(real, ownReal)) {
      throw failure(ErrorType.Forbidden, `refused: ${real} belongs to the agent (${own})`, { path: real });
    }
  }
  const st = lstatSync(real, { bigint: true });
  if (!st.isFile()) throw failure(ErrorType.InvalidInput, `${real} is not a regular file`, { path: real });
  const sha256 = sha256File(real);
  if (p.sha256 && p.sha256 !== sha256) {
    throw failure(
      ErrorType.NotFound,
      `${real} changed since the event: sha256 ${sha256}, the event's ${p.sha256}`,
      {
        path: real,
        sha256,
        expected: p.sha256,
      },
    );
  }
  return { origin: real, sha256, dev: String(st.dev), ino: String(st.ino) };
}

/** The origin a restore puts a file back to: the real parent directory + the name. */
function originOf(path: string): string {
  try {
    return join(realpathSync(dirname(path)), basename(path));
  } catch {
    return path;
  }
}

function vaultPath(ctx: ActionContext, id: string): string {
  return join(ctx.vaultDir, id);
}

function describeMismatch(rec: VaultRecord, path: string): string | undefined {
  const st = lstatOrUndefined(path);
  if (!st) return `nothing at ${path}`;
  if (!st.isFile()) return `${path} is not a regular file`;
  const sha = sha256File(path);
  if (sha !== rec.sha256) return `${path} sha256 ${sha}, expected ${rec.sha256}`;
  if (Number(st.uid) !== rec.uid || Number(st.gid) !== rec.gid) return `${path} owner ${st.uid}:${st.gid}`;
  if (Number(st.mode & 0o7777n) !== rec.mode) return `${path} mode ${(st.mode & 0o7777n).toString(8)}`;
  if (st.mtimeNs !== BigInt(rec.mtimeNs))
    return `${path} mtime differs by ${st.mtimeNs - BigInt(rec.mtimeNs)} ns`;
  return undefined;
}

export const quarantineFile: LocalAction<FileTarget> = {
  action: 'quarantine-file',
  meta: {
    summary: 'move a file into the vault (mode 000)',
    blastRadius: 'low',
    undo: 'restore-file',
    outlivesReboot: true,
  },
  params: FileTarget,
  apply: op({
    async precheck(p, ctx) {
      const t = resolveExisting(p, ctx);
      ensureVault(ctx.vaultDir, allowedRoots(ctx));
      return t;
    },
    async plan(_p, t, ctx) {
      return [
        `copy ${t.origin} (sha256 ${t.sha256}) into the vault ${ctx.vaultDir} with mode 000, fsync`,
        'record origin, sha256, owner, mode and times in the agent store',
        `unlink ${t.origin}; verify the vault copy's hash and that the origin no longer holds it`,
      ];
    },
    async run(_p, t, ctx) {
      const id = `q-${shortHash(ctx.key, 24)}`;
      const dest = vaultPath(ctx, id);
      const src = openForRead(t.origin);
      let st: BigIntStats;
      let rec: Parameters<ActionContext['store']['putVault']>[0];
      let otherLinks = 0;
      try {
        st = fstatSync(src, { bigint: true });
        if (!st.isFile() || String(st.dev) !== t.dev || String(st.ino) !== t.ino) {
          throw failure(ErrorType.Unavailable, `${t.origin} was replaced while being quarantined; retry`);
        }
        const part = `${dest}.part`;
        const out = openSync(
          part,
          constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW,
          0o600,
        );
        let copied: { sha256: string; size: number };
        try {
          copied = hashFd(src, out);
          fchmodSync(out, 0o000);
          fsyncSync(out);
        } finally {
          closeSync(out);
        }
        if (copied.sha256 !== t.sha256) {
          unlinkSync(part);
          throw failure(ErrorType.Unavailable, `${t.origin} changed while being copied; retry`);
        }
        renameSync(part, dest);
        fsyncDir(ctx.vaultDir);
        // Recorded (with its mode, for the restore) before the origin is touched.
        rec = {
          id,
          origin: t.origin,
          sha256: t.sha256,
          size: Number(st.size),
          uid: Number(st.uid),
          gid: Number(st.gid),
          mode: Number(st.mode & 0o7777n),
          mtimeNs: String(st.mtimeNs),
          atimeNs: String(st.atimeNs),
          key: ctx.key,
        };
        ctx.store.putVault(rec);
        ctx.journal({ vaultId: id, origin: t.origin, sha256: t.sha256 });
        // Unlink only the file we copied (same inode), never something swapped in meanwhile.
        const now = lstatOrUndefined(t.origin);
        if (now && String(now.dev) === t.dev && String(now.ino) === t.ino) {
          // Other hard links (anywhere on the file system, also outside the roots) keep the content after
          // the unlink: the inode itself becomes mode 000, so none of them can run it or hand it to anyone
          // but root. Their paths are unknown (no reverse lookup); how many there were is reported.
          const links = fstatSync(src, { bigint: true }).nlink;
          if (links > 1n) {
            fchmodSync(src, 0o000);
            otherLinks = Number(links) - 1;
          }
          unlinkSync(t.origin);
          fsyncDir(dirname(t.origin));
        }
      } finally {
        closeSync(src);
      }
      return {
        vaultId: id,
        origin: t.origin,
        sha256: t.sha256,
        size: rec.size,
        uid: rec.uid,
        gid: rec.gid,
        mode: rec.mode.toString(8).padStart(4, '0'),
        mtime: new Date(Number(st.mtimeMs)).toISOString(),
        ...(otherLinks ? { otherLinks } : {}),
      };
    },
    async verify(_p, facts, ctx) {
      const id = facts.vaultId as string | undefined;
      const rec = id ? ctx.store.vault(id) : undefined;
      if (!rec) return { ok: false, saw: 'no vault record' };
      const v = lstatOrUndefined(vaultPath(ctx, rec.id));
      if (!v?.isFile()) return { ok: false, saw: `vault copy ${rec.id} missing` };
      const sha = sha256File(vaultPath(ctx, rec.id));
      if (sha !== rec.sha256) return { ok: false, saw: `vault copy sha256 ${sha} != ${rec.sha256}` };
      if ((v.mode & 0o7777n) !== 0n)
        return { ok: false, saw: `vault copy mode ${(v.mode & 0o7777n).toString(8)}` };
      const o = lstatOrUndefined(rec.origin);
      if (o?.isFile() && sha256File(rec.origin) === rec.sha256) {
        return { ok: false, saw: `${rec.origin} still holds sha256 ${rec.sha256}` };
      }
      return {
        ok: true,
        saw: `vault ${rec.id} sha256 ${sha} mode 000; ${rec.origin} ${o ? 'holds other content' : 'absent'}`,
      };
    },
  }),
  undo: op({
    async precheck(p, ctx) {
      const roots = allowedRoots(ctx);
      const origin = originOf(p.path);
      const rec = ctx.store.quarantinedFrom(origin) ?? ctx.store.quarantinedFrom(p.path);
      if (!rec) throw failure(ErrorType.NotFound, `nothing quarantined from ${p.path}`, { path: p.path });
      if (!roots.some((r) => inside(rec.origin, r))) {
        throw failure(ErrorType.InvalidInput, `${rec.origin} is outside the quarantine roots`, {
          path: rec.origin,
        });
      }
      if (p.sha256 && p.sha256 !== rec.sha256) {
        throw failure(
          ErrorType.NotFound,
          `the file quarantined from ${p.path} has sha256 ${rec.sha256}, not ${p.sha256}`,
        );
      }
      closeSync(openOriginDir(rec.origin).fd);
      if (lstatOrUndefined(rec.origin)) {
        throw failure(
          ErrorType.Forbidden,
          `refused: something now exists at ${rec.origin}; not overwriting it`,
          {
            path: rec.origin,
          },
        );
      }
      const vp = vaultPath(ctx, rec.id);
      if (!lstatOrUndefined(vp))
        throw failure(ErrorType.NotFound, `vault copy ${rec.id} is missing`, { vaultId: rec.id });
      const sha = sha256File(vp);
      if (sha !== rec.sha256) {
        throw failure(
          ErrorType.Misconfigured,
          `vault copy ${rec.id} does not match its record (sha256 ${sha})`,
          {
            vaultId: rec.id,
          },
        );
      }
      return rec;
    },
    async plan(_p, rec) {
      return [
        `copy vault ${rec.id} back to ${rec.origin} (sha256 ${rec.sha256})`,
        `set owner ${rec.uid}:${rec.gid}, mode ${rec.mode.toString(8).padStart(4, '0')}, mtime; link into place without overwriting`,
        'verify hash, owner, mode and mtime; then delete the vault copy',
      ];
    },
    async run(_p, rec, ctx) {
      const r = rec;
      ctx.journal({ vaultId: r.id, origin: r.origin });
      const dir = openOriginDir(r.origin);
      try {
        const name = basename(r.origin);
        const tmpName = `.vigil-restore-${r.id}`;
        const tmp = join(dir.via, tmpName);
        if (lstatOrUndefined(tmp)) unlinkSync(tmp);
        const src = openSync(vaultPath(ctx, r.id), constants.O_RDONLY | constants.O_NOFOLLOW);
        try {
          const out = openSync(
            tmp,
            constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
            0o600,
          );
          try {
            const copied = hashFd(src, out);
            if (copied.sha256 !== r.sha256)
              throw failure(ErrorType.Unavailable, `vault copy ${r.id} read back differently`);
            fchownSync(out, r.uid, r.gid);
            // After chown: chown clears set-id bits.
            fchmodSync(out, r.mode);
            fsyncSync(out);
          } finally {
            closeSync(out);
          }
        } finally {
          closeSync(src);
        }
        // Node's futimes takes a double of seconds (about 1 us off); touch sets the exact nanoseconds.
        // touch reaches the opened directory through the agent's fd (/proc/<agent pid>/fd/<fd>).
        const forTouch = join(`/proc/${process.pid}/fd/${dir.fd}`, tmpName);
        await ctx.run.run('touch', ['-h', '-a', '-d', `@${nsToSeconds(r.atimeNs)}`, forTouch]);
        await ctx.run.run('touch', ['-h', '-m', '-d', `@${nsToSeconds(r.mtimeNs)}`, forTouch]);
        const again = openSync(tmp, constants.O_RDONLY | constants.O_NOFOLLOW);
        try {
          fsyncSync(again);
        } finally {
          closeSync(again);
        }
        try {
          linkSync(tmp, join(dir.via, name));
        } catch (e) {
          unlinkSync(tmp);
          if ((e as NodeJS.ErrnoException).code === 'EEXIST') {
            throw failure(
              ErrorType.Forbidden,
              `refused: something now exists at ${r.origin}; not overwriting it`,
            );
          }
          throw e;
        }
        unlinkSync(tmp);
        fsyncSync(dir.fd);
        const st = statSync(join(dir.via, name));
        return {
          vaultId: r.id,
          origin: r.origin,
          sha256: r.sha256,
          uid: st.uid,
          gid: st.gid,
          mode: (st.mode & 0o7777).toString(8).padStart(4, '0'),
          mtime: st.mtime.toISOString(),
        };
      } finally {
        closeSync(dir.fd);
      }
    },
    async verify(_p, facts, ctx) {
      const rec = ctx.store.vault(String(facts.vaultId));
      if (!rec) return { ok: false, saw: 'no vault record' };
      const bad = describeMismatch(rec, rec.origin);
      return bad
        ? { ok: false, saw: bad }
        : {
            ok: true,
            saw: `${rec.origin} sha256 ${rec.sha256}, owner ${rec.uid}:${rec.gid}, mode ${rec.mode.toString(8)}, mtime kept`,
          };
    },
    async settle(_p, facts, ctx) {
      const id = String(facts.vaultId);
      ctx.store.markRestored(id);
      if (lstatOrUndefined(vaultPath(ctx, id))) unlinkSync(vaultPath(ctx, id));
    },
  }),
};
