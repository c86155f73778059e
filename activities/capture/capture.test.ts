/**
 * captureSyscalls with the real strace (Debian package) on real processes, and the pre-filter with the
 * shipped model on the real onnxruntime; an agent without a model does not load onnxruntime at all.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ApplicationFailure } from '@temporalio/common';
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorType } from '../../src/errors.js';
import { repoRoot } from '../../src/paths.js';
import { loadScoringConfig } from '../scoring/config.js';
import { openScoringModel } from '../scoring/model.js';
import { loadCaptureConfig } from './config.js';
import { createCaptureActivities, openPrefilter } from './index.js';

const hasStrace = existsSync('/usr/bin/strace');
const run = promisify(execFile);
const children: ChildProcess[] = [];

/** A busy little process: a shell that reads a file with cat ten times a second. */
function busy(): ChildProcess {
  const c = spawn('sh', ['-c', 'while :; do cat /etc/hostname >/dev/null; sleep 0.1; done'], {
    stdio: 'ignore',
  });
  children.push(c);
  return c;
}
afterEach(() => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
});

const on = loadCaptureConfig({ VIGIL_AGENT_CAPTURE: 'true', VIGIL_CAPTURE_MAX_SECONDS: '5' });
const failureOf = async (p: Promise<unknown>) => {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(ApplicationFailure);
  return e as ApplicationFailure;
};

describe.skipIf(!hasStrace)('captureSyscalls', () => {
  it('returns the syscall names a live process makes in a bounded window, and leaves it running', async () => {
    const c = busy();
    await new Promise((r) => setTimeout(r, 200));
    const { captureSyscalls } = createCaptureActivities(on);
    const t0 = Date.now();
    const r = await captureSyscalls({ pid: c.pid!, seconds: 1 });
    const took = (Date.now() - t0) / 1000;
    expect(took).toBeGreaterThanOrEqual(0.9);
    expect(took).toBeLessThan(4);
    expect(r).toMatchObject({ pid: c.pid, comm: 'sh', truncated: false, exited: false });
    // The shell forks and waits; its children (followed with -f) exec cat, which opens and reads the file.
    for (const name of ['wait4', 'execve', 'openat', 'read', 'close']) expect(r.syscalls).toContain(name);
    expect(r.calls).toBe(r.syscalls.length);
    expect(r.prefilter).toBeUndefined();
    // strace detached: the process still runs and is not stopped or traced.
    await new Promise((res) => setTimeout(res, 100));
    const { stdout } = await run('ps', ['-o', 'stat=', '-p', String(c.pid)]);
    expect(stdout.trim()).toMatch(/^S/);
    const status = await run('grep', ['TracerPid', `/proc/${c.pid}/status`]);
    expect(status.stdout).toMatch(/TracerPid:\s+0/);
  });

  it('stops at maxCalls and says the window was cut', async () => {
    const c = busy();
    const r = await createCaptureActivities(on).captureSyscalls({ pid: c.pid!, seconds: 5, maxCalls: 40 });
    expect(r.calls).toBe(40);
    expect(r.truncated).toBe(true);
    expect(r.seconds).toBeLessThan(4);
  });

  it('reports a process that exited during the capture', async () => {
    const c = spawn('sh', ['-c', 'sleep 0.3; cat /etc/hostname > /dev/null'], { stdio: 'ignore' });
    children.push(c);
    const r = await createCaptureActivities(on).captureSyscalls({ pid: c.pid!, seconds: 3 });
    expect(r.exited).toBe(true);
    expect(r.syscalls).toContain('exit_group');
    expect(r.seconds).toBeLessThan(2.5);
  });

  it('refuses a pid that now names another process', async () => {
    const c = busy();
    const e = await failureOf(
      createCaptureActivities(on).captureSyscalls({
        pid: c.pid!,
        seconds: 1,
        startTime: '2020-01-01T00:00:00Z',
      }),
    );
    expect(e.type).toBe(ErrorType.NotFound);
    expect(e.message).toContain('now names another process');
  });

  it('fails NotFound for a pid that does not exist, InvalidInput for bad input, and refuses when capture is off', async () => {
    const cap = createCaptureActivities(on);
    expect((await failureOf(cap.captureSyscalls({ pid: 4_000_000, seconds: 1 }))).type).toBe(
      ErrorType.NotFound,
    );
    const bad = await failureOf(cap.captureSyscalls({ pid: 1, seconds: -1 }));
    expect(bad.type).toBe(ErrorType.InvalidInput);
    expect(bad.nonRetryable).toBe(true);
    expect(bad.message).toMatch(/pid/);
    expect(bad.message).toMatch(/seconds/);
    const tooLong = await failureOf(cap.captureSyscalls({ pid: process.pid + 1, seconds: 60 }));
    expect(tooLong.message).toContain('VIGIL_CAPTURE_MAX_SECONDS');
    const off = createCaptureActivities(loadCaptureConfig({}));
    expect((await failureOf(off.captureSyscalls({ pid: 2, seconds: 1 }))).type).toBe(ErrorType.Forbidden);
  });

  it('fails Misconfigured, not retryable, when strace is not installed', async () => {
    const c = busy();
    const cap = createCaptureActivities({ ...on, VIGIL_STRACE_PATH: '/nonexistent/strace' });
    const e = await failureOf(cap.captureSyscalls({ pid: c.pid!, seconds: 1 }));
    expect(e.type).toBe(ErrorType.Misconfigured);
    expect(e.nonRetryable).toBe(true);
    expect(e.message).toContain('apt-get install strace');
  });

  it('scores the window locally with the signed model when the agent has one', async () => {
    const scoring = loadScoringConfig({}, repoRoot());
    const prefilter = await openPrefilter(
      { ...on, VIGIL_AGENT_MODEL_DIR: join(repoRoot(), 'models', 'syscall-anomaly') },
      scoring,
    );
    expect(prefilter).toBeDefined();
    const c = busy();
    const r = await createCaptureActivities(on, prefilter).captureSyscalls({ pid: c.pid!, seconds: 1 });
    const model = await openScoringModel(scoring);
    const [own] = await model.score([Float32Array.from(model.featurizer.features(r.syscalls))]);
    expect(r.prefilter).toMatchObject({
      modelId: 'syscall-anomaly',
      sha256: model.sha256,
      score: own,
      threshold: model.manifest.thresholds.detect90,
    });
    // A revoked model on the agent is refused like the central one: the window comes back unscored.
    const revoked = await openPrefilter(
      { ...on, VIGIL_AGENT_MODEL_DIR: join(repoRoot(), 'models', 'syscall-anomaly') },
      { ...scoring, VIGIL_MODEL_REVOKED: [model.sha256] },
    );
    const r2 = await createCaptureActivities(on, revoked).captureSyscalls({ pid: c.pid!, seconds: 0.3 });
    expect(r2.prefilter).toMatchObject({ reason: 'revoked' });
    expect(r2.calls).toBeGreaterThan(0);
  });
});

describe('an agent without a model', () => {
  it('does not load onnxruntime', async () => {
    const script = `
      const { createCaptureActivities, openPrefilter, loadCaptureConfig } = await import(${JSON.stringify(join(repoRoot(), 'dist', 'activities', 'capture', 'index.js'))});
      const cfg = loadCaptureConfig({ VIGIL_AGENT_CAPTURE: 'true' });
      const p = await openPrefilter(cfg, { VIGIL_MODEL_KEYS_DIR: '/x', VIGIL_MODEL_REVOKED: [] });
      createCaptureActivities(cfg, p);
      const maps = (await import('node:fs')).readFileSync('/proc/self/maps', 'utf8');
      console.log(JSON.stringify({ prefilter: p === undefined, onnx: /onnxruntime/.test(maps) }));
    `;
    const { stdout } = await run('node', ['--input-type=module', '-e', script]);
    expect(JSON.parse(stdout)).toEqual({ prefilter: true, onnx: false });
    // The same check can fail: with a model dir, onnxruntime is mapped.
    const withModel = script
      .replace(
        "{ VIGIL_AGENT_CAPTURE: 'true' }",
        `{ VIGIL_AGENT_CAPTURE: 'true', VIGIL_AGENT_MODEL_DIR: ${JSON.stringify(join(repoRoot(), 'models', 'syscall-anomaly'))} }`,
      )
      .replace(
        "{ VIGIL_MODEL_KEYS_DIR: '/x', VIGIL_MODEL_REVOKED: [] }",
        `{ VIGIL_MODEL_KEYS_DIR: ${JSON.stringify(join(repoRoot(), 'models', 'keys'))}, VIGIL_MODEL_REVOKED: [] }`,
      );
    const loaded = await run('node', ['--input-type=module', '-e', withModel]);
    expect(JSON.parse(loaded.stdout)).toEqual({ prefilter: false, onnx: true });
  });
});
