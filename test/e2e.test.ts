/**
 * End to end, as a user: `vigil up` (its own embedded Temporal on a SQLite file, worker, intake, dev
 * mailbox), then the CLI sends events, reads incidents, the mail and the dead letters, and Ctrl-C stops it.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../src/paths.js';

const run = promisify(execFile);
const VIGIL = join(repoRoot(), 'bin', 'vigil.js');
let home: string;
let stack: ChildProcess;
let stackLog = '';
const env = () => ({ ...process.env, VIGIL_HOME: home, TEMPORAL_ADDRESS: undefined });

async function vigil(
  args: string[],
  input?: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  if (input !== undefined) {
    return new Promise((resolve) => {
      const c = spawn(process.execPath, [VIGIL, ...args], { env: env() });
      let stdout = '';
      let stderr = '';
      c.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      c.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      c.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
      c.stdin.end(input);
    });
  }
  try {
    const r = await run(process.execPath, [VIGIL, ...args], { env: env() });
    return { code: 0, ...r };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, stdout: x.stdout, stderr: x.stderr };
  }
}

beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), 'vigil-e2e-'));
  stack = spawn(process.execPath, [VIGIL, 'up'], {
    env: {
      ...env(),
      VIGIL_INTAKE_PORT: '0',
      VIGIL_TEMPORAL_PORT: '0',
      VIGIL_TEMPORAL_UI_PORT: '0',
      VIGIL_QUIET_PERIOD: '2s',
      VIGIL_MAIL_TO: 'analysts@corp.test',
    },
  });
  stack.stderr?.on('data', (d: Buffer) => (stackLog += d.toString()));
  stack.stdout?.on('data', (d: Buffer) => (stackLog += d.toString()));
  for (let i = 0; i < 600 && !stackLog.includes('Vigil is up.'); i++) {
    if (stack.exitCode !== null) throw new Error(`vigil up exited: ${stackLog}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  if (!stackLog.includes('Vigil is up.')) throw new Error(`vigil up did not come up: ${stackLog}`);
}, 180_000);

afterAll(async () => {
  if (stack.exitCode === null) {
    stack.kill('SIGKILL');
  }
  rmSync(home, { recursive: true, force: true });
});

describe('vigil up + CLI', () => {
  it('prints the intake, Temporal UI and metrics URLs', () => {
    expect(stackLog).toMatch(/Intake:\s+http:\/\/127\.0\.0\.1:\d+\/v1\/events/);
    expect(stackLog).toMatch(/Temporal UI:\s+http:\/\/127\.0\.0\.1:\d+\/namespaces\/vigil\/workflows/);
    expect(stackLog).toMatch(/Metrics:\s+http:\/\/127\.0\.0\.1:\d+\/metrics/);
  });

  it('turns a Falco alert sent with the CLI into a closed incident with a mail in the dev mailbox', async () => {
    const sent = await vigil([
      'send',
      '--source',
      'falco',
      join(repoRoot(), 'test', 'fixtures', 'falco', 'run-shell-untrusted.json'),
      '--json',
    ]);
    expect(sent.code).toBe(0);
    const [res] = JSON.parse(sent.stdout) as { status: number; incidentId: string }[];
    expect(res?.status).toBe(202);
    const id = res?.incidentId ?? '';

    // The playbook asks for approval before isolating the host: decide it as authenticated operators.
    let pending: { incidentId: string; approvalId: string; action: string }[] = [];
    for (let i = 0; i < 100 && !pending.some((a) => a.incidentId === id); i++) {
      await new Promise((r) => setTimeout(r, 300));
      const l = await vigil(['approvals', '--json']);
      if (l.code === 0) pending = JSON.parse(l.stdout) as typeof pending;
    }
    const approval = pending.find((a) => a.incidentId === id);
    expect(approval?.action).toBe('isolate-host');
    const asAnalyst = await vigil(['approve', id, approval?.approvalId ?? '', '--as', 'dev-analyst']);
    expect(asAnalyst.code).toBe(1);
    expect(asAnalyst.stdout).toContain('HTTP 403');
    const approved = await vigil([
      'approve',
      id,
      approval?.approvalId ?? '',
      '--reason',
      'confirmed reverse shell',
    ]);
    expect(approved.code).toBe(0);
    expect(approved.stdout).toContain('approved: dev-lead');
    const again = await vigil(['deny', id, approval?.approvalId ?? '']);
    expect(again.stdout).toContain('HTTP 409');

    let shown: {
      status?: string;
      verdict?: string;
      actions?: { action: string; status: string; idempotencyKey: string }[];
    } = {};
    for (let i = 0; i < 100 && shown.status !== 'closed'; i++) {
      await new Promise((r) => setTimeout(r, 300));
      const s = await vigil(['show', id, '--json']);
      if (s.code === 0) shown = JSON.parse(s.stdout) as typeof shown;
    }
    expect(shown).toMatchObject({ status: 'closed', verdict: 'malicious' });

    const human = await vigil(['show', id]);
    expect(human.stdout).toContain('Decisions:');
    expect(human.stdout).toContain('notify-email: done');
    expect(human.stdout).toContain('isolate-host: approved');
    expect(human.stdout).toMatch(/refused approval attempt on isolate-host-1 by dev-analyst/);

    const mail = JSON.parse((await vigil(['mail', '--json'])).stdout) as {
      headers: Record<string, string>;
      subject: string;
      to: string[];
      messageId: string;
      text: string;
    }[];
    const m = mail.find((x) => x.text.includes(id) && !x.headers['x-vigil-approval']);
    expect(m?.to).toEqual(['analysts@corp.test']);
    expect(m?.subject).toContain('MALICIOUS');
    // Through the email channel's notifier (the default): the incident records the queued notice.
    expect(m?.messageId).toBeTruthy();
    expect(shown.actions?.find((a) => a.action === 'notify-email')).toMatchObject({ status: 'done' });

    let listed: { incidentId: string; status: string }[] = [];
    for (let i = 0; i < 40 && !listed.some((x) => x.incidentId === id && x.status === 'closed'); i++) {
      listed = JSON.parse(
        (await vigil(['incidents', '--status', 'closed', '--host', 'web-01', '--json'])).stdout,
      ) as typeof listed;
      if (!listed.length) await new Promise((r) => setTimeout(r, 250));
    }
    expect(listed.map((x) => x.incidentId)).toContain(id);
  });

  it('exports every closed incident into the signed audit log, which verifies offline', async () => {
    let shown = { code: 1, stdout: '', stderr: '' };
    for (let i = 0; i < 60 && shown.code !== 0; i++) {
      await new Promise((r) => setTimeout(r, 500));
      shown = await vigil(['audit', 'show']);
    }
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(/inc-web-01-/);
    const verified = await vigil(['audit', 'verify']);
    expect(verified.code, `${verified.stdout}${verified.stderr}`).toBe(0);
  });

  it('keeps a malformed event as a dead letter that can be listed, shown and retried', async () => {
    const sent = await vigil(
      ['send', '--source', 'generic', '-'],
      '{"time":"2026-11-26T09:00:00Z","host":"db-1","rule":"r","severity":"loud"}\n',
    );
    expect(sent.code).toBe(1);
    expect(sent.stdout).toMatch(/HTTP 400 invalid-event \(dead letter (\d+)\)/);
    expect(sent.stdout).toContain('severity');
    const dl = JSON.parse((await vigil(['dlq', 'list', '--json'])).stdout) as {
      items: { id: number; source: string; reason: string }[];
    };
    const item = dl.items.find((i) => i.source === 'generic');
    expect(item?.reason).toBe('invalid-event');
    const shown = await vigil(['dlq', 'show', String(item?.id)]);
    expect(shown.stdout).toContain('"severity":"loud"');
    const retry = await vigil(['dlq', 'retry', String(item?.id)]);
    expect(retry.code).toBe(1);
    expect(retry.stdout).toContain('HTTP 422');
  });

  it('stops everything on Ctrl-C and removes its state file', async () => {
    expect(existsSync(join(home, 'state.json'))).toBe(true);
    const exited = new Promise<number | null>((r) => stack.once('exit', (code) => r(code)));
    stack.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(stackLog).toContain('vigil: stopped');
    expect(existsSync(join(home, 'state.json'))).toBe(false);
    const after = await vigil(['incidents']);
    expect(after.code).toBe(64);
    expect(after.stderr).toContain('no Vigil stack is running');
  });
});
