/**
 * `vigil up` keeps its processes running: a worker that crashes (a native fault, kill -9) is restarted, a
 * configuration error (exit code 2) stops the stack instead of looping, and a crash loop gives up.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { supervise, type ManagedProcess } from './supervisor.js';

const dir = mkdtempSync(join(tmpdir(), 'vigil-supervisor-'));
const running: ManagedProcess[] = [];
afterEach(async () => {
  for (const p of running.splice(0)) await p.stop();
});

/** A child that records each start (its pid) in `starts`, then runs `body`. */
function script(name: string, body: string): { entry: string; starts: () => number[] } {
  const entry = join(dir, `${name}.cjs`);
  const starts = join(dir, `${name}.starts`);
  writeFileSync(starts, '');
  writeFileSync(
    entry,
    `require('node:fs').appendFileSync(${JSON.stringify(starts)}, process.pid + '\\n');\n${body}\n`,
  );
  const read = () => readFileSync(starts, 'utf8').split('\n').filter(Boolean).map(Number);
  return { entry, starts: read };
}

function run(name: string, entry: string, maxRestarts?: number) {
  const lines: string[] = [];
  let gaveUp: string | undefined;
  const p = supervise({
    name,
    entry,
    env: process.env,
    logFile: join(dir, `${name}.log`),
    echo: (l) => lines.push(l),
    onGiveUp: (why) => (gaveUp = why),
    maxRestarts,
  });
  running.push(p);
  return { p, lines, gaveUp: () => gaveUp };
}

async function until(cond: () => boolean, what: string, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('supervise', () => {
  it('restarts a process killed with SIGKILL, and stop() ends it without a restart', async () => {
    const s = script('killed', 'setInterval(() => undefined, 1000); console.log("polling");');
    const { p, lines, gaveUp } = run('worker', s.entry);
    await until(() => lines.includes('[worker] polling'), 'the first start');
    const first = p.child()?.pid;
    expect(first).toBe(s.starts()[0]);
    p.child()?.kill('SIGKILL');
    await until(() => s.starts().length === 2, 'the restart');
    expect(lines).toContain('[worker] exited (SIGKILL); restarting in 1s');
    await until(() => p.child()?.pid === s.starts()[1], 'the new child');
    expect(p.child()?.pid).not.toBe(first);
    await p.stop();
    await new Promise((r) => setTimeout(r, 1500));
    expect(s.starts()).toHaveLength(2);
    expect(gaveUp()).toBeUndefined();
    // Output went to the log file as well as the console.
    expect(readFileSync(join(dir, 'worker.log'), 'utf8')).toContain('polling');
  });

  it('does not restart a process that stopped on a configuration error (exit code 2)', async () => {
    const s = script('config', 'console.error("bad config: VIGIL_X"); process.exit(2);');
    const { gaveUp } = run('intake', s.entry);
    await until(() => gaveUp() !== undefined, 'the give-up');
    expect(gaveUp()).toBe('intake stopped on a configuration error (see above)');
    await new Promise((r) => setTimeout(r, 1500));
    expect(s.starts()).toHaveLength(1);
  });

  it('gives up on a crash loop after maxRestarts within a minute', async () => {
    const s = script('loop', 'setTimeout(() => process.exit(1), 50);');
    const { gaveUp } = run('agent', s.entry, 2);
    await until(() => gaveUp() !== undefined, 'the give-up');
    expect(gaveUp()).toBe('agent exited 3 times within a minute');
    expect(s.starts()).toHaveLength(3);
  });
});
