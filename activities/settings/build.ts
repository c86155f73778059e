/**
 * Which build of the playbooks a worker runs, computed once at worker start and handed to every incident
 * through the settings activity (so it is recorded in the incident's history and replays identically).
 *   id: VIGIL_BUILD_ID when set (CI, container images); else `git:<revision>` in a checkout (`+dirty` when
 *       playbooks/ or src/ differ from the commit); else `<package>@<version>+sha256:<12 hex of the code>`.
 *   codeSha256: always, a hash of the compiled workflow code (dist/playbooks and dist/src), so two workers
 *       claiming the same id but running different code can be told apart.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { z } from 'zod';
import type { PlaybookBuild } from '../../src/contracts/playbook.js';
import { parseEnv, type Env } from '../../src/config.js';

const BuildConfig = z.object({
  // Empty is unset: the image's `ENV VIGIL_BUILD_ID=${VIGIL_BUILD_ID}` when built without the build arg.
  VIGIL_BUILD_ID: z.preprocess(
    (v) => (v === '' ? undefined : v),
    z
      .string()
      .regex(/^[\w.:+@/-]{1,128}$/, 'at most 128 letters, digits and . : + @ / - _')
      .optional(),
  ),
});

/** Every .js file under `dirs` (relative to `root`), sorted, hashed with its path. */
export function codeHash(root: string, dirs: readonly string[]): string | undefined {
  const files: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name.endsWith('.js')) files.push(p);
    }
  };
  for (const d of dirs) if (existsSync(join(root, d))) walk(join(root, d));
  if (!files.length) return undefined;
  const h = createHash('sha256');
  for (const f of files.sort()) {
    h.update(`${relative(root, f)}\0`);
    h.update(readFileSync(f));
    h.update('\0');
  }
  return h.digest('hex');
}

function git(root: string, args: string[]): string | undefined {
  try {
    return execFileSync('git', args, {
      cwd: root,
      encoding: 'utf8',
      timeout: 3000,
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
  } catch {
    return undefined; // not a checkout, or no git: fall back to the package version
  }
}

export function resolvePlaybookBuild(env: Env, root: string): PlaybookBuild {
  const { VIGIL_BUILD_ID } = parseEnv(BuildConfig, env, 'playbook build');
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
    name?: string;
    version?: string;
  };
  const packageVersion = `${pkg.name ?? 'vigil'}@${pkg.version ?? '0.0.0'}`;
  const code = codeHash(root, ['dist/playbooks', 'dist/src']);
  const rev = existsSync(join(root, '.git')) ? git(root, ['rev-parse', 'HEAD']) : undefined;
  const gitRevision = rev && /^[0-9a-f]{40,64}$/.test(rev) ? rev : undefined;
  const dirty = gitRevision
    ? (git(root, ['status', '--porcelain', '--untracked-files=no', '--', 'playbooks', 'src']) ?? '') !== ''
    : undefined;
  const id =
    VIGIL_BUILD_ID ??
    (gitRevision
      ? `git:${gitRevision}${dirty ? '+dirty' : ''}`
      : `${packageVersion}${code ? `+sha256:${code.slice(0, 12)}` : ''}`);
  return {
    id,
    packageVersion,
    ...(gitRevision ? { gitRevision, dirty: dirty ?? false } : {}),
    ...(code ? { codeSha256: code } : {}),
  };
}
