import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { loadWorkerConfig } from '../../workers/playbook-worker.js';
import { resolvePlaybookBuild } from './build.js';
import { loadPlaybookSettings } from './config.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A project folder with package.json and compiled playbooks. */
function project(): string {
  const root = mkdtempSync(join(tmpdir(), 'vigil-build-'));
  dirs.push(root);
  writeFileSync(join(root, 'package.json'), JSON.stringify({ name: 'vigil', version: '1.2.3' }));
  mkdirSync(join(root, 'dist', 'playbooks', 'lib'), { recursive: true });
  mkdirSync(join(root, 'playbooks'), { recursive: true });
  writeFileSync(join(root, 'dist', 'playbooks', 'index.js'), 'export const a = 1;\n');
  writeFileSync(join(root, 'dist', 'playbooks', 'lib', 'steps.js'), 'export const threshold = 75;\n');
  writeFileSync(join(root, 'playbooks', 'triage.ts'), 'export const x = 1;\n');
  return root;
}

const git = (root: string, ...args: string[]) =>
  execFileSync('git', ['-c', 'user.email=t@t', '-c', 'user.name=t', ...args], {
    cwd: root,
    encoding: 'utf8',
  }).trim();

describe('the playbook build', () => {
  it('outside a checkout is the package version plus a hash of the compiled playbooks, which any change alters', () => {
    const root = project();
    const a = resolvePlaybookBuild({}, root);
    expect(a.id).toMatch(/^vigil@1\.2\.3\+sha256:[0-9a-f]{12}$/);
    expect(a.gitRevision).toBeUndefined();
    expect(a.id.endsWith(a.codeSha256?.slice(0, 12) ?? 'x')).toBe(true);
    writeFileSync(join(root, 'dist', 'playbooks', 'lib', 'steps.js'), 'export const threshold = 50;\n');
    const b = resolvePlaybookBuild({}, root);
    expect(b.id).not.toBe(a.id);
    expect(b.codeSha256).not.toBe(a.codeSha256);
  });

  it('in a checkout is the git revision, marked dirty when the playbooks differ from the commit', () => {
    const root = project();
    git(root, 'init', '-q');
    git(root, 'add', '.');
    git(root, 'commit', '-qm', 'init');
    const rev = git(root, 'rev-parse', 'HEAD');
    expect(resolvePlaybookBuild({}, root)).toMatchObject({
      id: `git:${rev}`,
      gitRevision: rev,
      dirty: false,
    });
    writeFileSync(join(root, 'playbooks', 'triage.ts'), 'export const x = 2;\n');
    expect(resolvePlaybookBuild({}, root)).toMatchObject({ id: `git:${rev}+dirty`, dirty: true });
  });

  it('takes VIGIL_BUILD_ID when set, and refuses a malformed one naming the key', () => {
    const root = project();
    expect(resolvePlaybookBuild({ VIGIL_BUILD_ID: 'ci-4711' }, root).id).toBe('ci-4711');
    try {
      resolvePlaybookBuild({ VIGIL_BUILD_ID: 'has spaces; rm -rf' }, root);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      expect((e as ConfigError).problems.map((p) => p.key)).toEqual(['VIGIL_BUILD_ID']);
    }
  });

  it('treats an empty VIGIL_BUILD_ID (an image built without the build arg) as unset', () => {
    const root = project();
    expect(resolvePlaybookBuild({ VIGIL_BUILD_ID: '' }, root).id).toBe(resolvePlaybookBuild({}, root).id);
  });

  it('is part of the settings every incident reads, with the shadow-mode playbooks', () => {
    const root = project();
    const s = loadPlaybookSettings({ VIGIL_SHADOW_PLAYBOOKS: 'suspicious-process, triage' }, root);
    expect(s.shadowPlaybooks).toEqual(['suspicious-process', 'triage']);
    expect(s.build?.packageVersion).toBe('vigil@1.2.3');
    expect(loadPlaybookSettings({}, root).shadowPlaybooks).toEqual([]);
  });

  it('refuses a shadow-mode name that names no playbook (it would silently stay live)', () => {
    const env = {
      SMTP_HOST: '127.0.0.1',
      SMTP_PORT: '2525',
      SMTP_SECURITY: 'none',
      VIGIL_MAIL_FROM: 'vigil@test.local',
      VIGIL_MAIL_TO: 'soc@test.local',
      VIGIL_SHADOW_PLAYBOOKS: 'suspicious-proces',
    };
    try {
      loadWorkerConfig(env);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      const p = (e as ConfigError).problems;
      expect(p.map((x) => x.key)).toEqual(['VIGIL_SHADOW_PLAYBOOKS']);
      expect(p[0]?.message).toContain('suspicious-process');
    }
    expect(
      loadWorkerConfig({ ...env, VIGIL_SHADOW_PLAYBOOKS: 'suspicious-process' }).settings.shadowPlaybooks,
    ).toEqual(['suspicious-process']);
  });
});
