/**
 * A real Redmine 5 (Debian's `redmine` + `redmine-sqlite` + `thin`, installed by scripts/ticketing-server.sh)
 * started headless on a free loopback port for one test file: its own copy of the packaged SQLite database,
 * the REST API enabled, a project `vigil`, the admin's API key. `stop()` ends exactly the process it started.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const SHARE = '/usr/share/redmine';
const PACKAGED_DB = '/var/lib/dbconfig-common/sqlite3/redmine/instances/default/redmine_default';

export interface RedmineServer {
  url: string;
  port: number;
  apiKey: string;
  project: string;
  /** Run Ruby inside the Redmine app against this server's database (for asserting what it stored). */
  rails(code: string): Promise<string>;
  stop(): Promise<void>;
}

export function redmineInstalled(): boolean {
  return (
    existsSync(join(SHARE, 'bin/rails')) &&
    existsSync(PACKAGED_DB) &&
    existsSync('/etc/redmine/default/database.yml') &&
    (existsSync('/usr/bin/thin') || existsSync('/usr/bin/thin3'))
  );
}

/** Skip loudly when Redmine is missing, or fail when CI says it must be there. */
export function redmineAvailability(): { run: boolean; why: string } {
  if (redmineInstalled()) return { run: true, why: '' };
  const why =
    'Redmine is not installed: run `sudo bash scripts/ticketing-server.sh` to test against a real ticketing server';
  if (process.env.VIGIL_REQUIRE_TICKETING_SERVER === '1')
    throw new Error(`${why} (VIGIL_REQUIRE_TICKETING_SERVER=1)`);
  process.stderr.write(`\n*** SKIPPING real-Redmine tests: ${why} ***\n\n`);
  return { run: false, why };
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

const SETUP = `
Setting.rest_api_enabled = '1'
admin = User.find_by(login: 'admin')
admin.update_columns(must_change_passwd: false)
project = Project.find_by(identifier: 'vigil') || Project.create!(
  name: 'Vigil', identifier: 'vigil', is_public: false,
  enabled_module_names: ['issue_tracking'], tracker_ids: Tracker.pluck(:id))
puts "VIGIL_API_KEY=#{admin.api_key}"
`;

export async function startRedmine(): Promise<RedmineServer> {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-redmine-'));
  const db = join(dir, 'redmine.sqlite');
  copyFileSync(PACKAGED_DB, db);
  const env = {
    ...process.env,
    RAILS_ENV: 'production',
    REDMINE_INSTANCE: 'default',
    DATABASE_URL: `sqlite3:${db}`,
  };
  const rails = async (code: string) => {
    const file = join(dir, `runner-${Date.now()}-${Math.random().toString(36).slice(2)}.rb`);
    writeFileSync(file, code);
    const { stdout } = await promisify(execFile)(join(SHARE, 'bin/rails'), ['runner', file], {
      cwd: SHARE,
      env,
      timeout: 120_000,
    });
    return stdout;
  };
  const apiKey = /VIGIL_API_KEY=([0-9a-f]{40})/.exec(await rails(SETUP))?.[1];
  if (!apiKey) throw new Error('Redmine setup did not print an API key');

  const port = await freePort();
  let log = '';
  const child: ChildProcess = spawn(
    join(SHARE, 'bin/rails'),
    ['server', '-b', '127.0.0.1', '-p', String(port), '-P', join(dir, 'server.pid')],
    { cwd: SHARE, env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const onOut = (d: Buffer) => {
    log = (log + d.toString()).slice(-4000);
  };
  child.stdout?.on('data', onOut);
  child.stderr?.on('data', onOut);
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`Redmine exited (${child.exitCode}): ${log}`);
    const ok = await fetch(`${url}/issues.json?limit=1`, {
      headers: { 'X-Redmine-API-Key': apiKey },
      signal: AbortSignal.timeout(2000),
    })
      .then((r) => r.ok)
      .catch(() => false);
    if (ok) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`Redmine did not answer on ${url} within 90 s: ${log}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }

  return {
    url,
    port,
    apiKey,
    project: 'vigil',
    rails,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(t);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
