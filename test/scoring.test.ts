/**
 * Scoring inside the real playbook worker on the run's Temporal server: a shadow model recorded beside the
 * active one in the decision record (only the active one decides), the scoring metrics on
 * VIGIL_SCORING_METRICS, and a model revoked while the worker runs (the next incident falls back to a person).
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IncidentStatus } from '../src/contracts/incident.js';
import { temporalStarter } from '../intake/incidents.js';
import { normalized } from './helpers/events.js';
import { forestVariant, newSigner, SHIPPED_MODEL, signedModelDir } from './helpers/model-variant.js';
import { startTestSmtp, type TestSmtp } from './helpers/smtp.js';
import { startWorker, testClient, uniqueQueue, workerEnv } from './helpers/temporal.js';

let client: Client;
let closeClient: () => Promise<void>;
let smtp: TestSmtp;
let tmp: string;
let shadow: { dir: string; sha256: string };
let testKey: string;
const shippedSha = (
  JSON.parse(readFileSync(join(SHIPPED_MODEL, 'manifest.json'), 'utf8')) as { model: { sha256: string } }
).model.sha256;

beforeAll(async () => {
  ({ client, close: closeClient } = await testClient());
  smtp = await startTestSmtp({ user: 'vigil', password: 'pw' });
  tmp = mkdtempSync(join(tmpdir(), 'vigil-scoring-it-'));
  const signer = newSigner(join(tmp, 'keys'));
  testKey = signer.pubFile;
  shadow = signedModelDir(join(tmp, 'shadow'), signer, {
    model: forestVariant(readFileSync(join(SHIPPED_MODEL, 'model.onnx')), 3),
    version: '2.0.0-shadow',
  });
});
afterAll(async () => {
  await smtp.close();
  await closeClient();
  rmSync(tmp, { recursive: true, force: true });
});

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });

const syscalls = Array.from(
  { length: 60 },
  (_, i) =>
    ['execve', 'brk', 'mmap', 'openat', 'read', 'close', 'socket', 'connect', 'dup2', 'write'][i % 10]!,
);
const windowed = () =>
  normalized('generic', {
    time: '2026-11-26T09:00:00Z',
    host: `h-${randomUUID().slice(0, 8)}`,
    rule: 'Odd shell',
    severity: 'medium',
    process: { pid: 7, name: 'bash', ancestors: [{ name: 'bash' }] },
    syscalls,
  });

const result = (id: string) => client.workflow.getHandle(id).result() as Promise<IncidentStatus>;

describe('scoring in the playbook worker', () => {
  it('records the shadow score in the decision record, decides on the active score, and serves the metrics', async () => {
    const queue = uniqueQueue('scoring');
    const port = await freePort();
    const w = await startWorker(
      workerEnv(smtp.port, queue, {
        SMTP_USER: 'vigil',
        SMTP_PASSWORD: 'pw',
        VIGIL_MODEL_TRUSTED_KEYS: `6f3b4ee0d94213f6,${testKey}`,
        VIGIL_MODEL_SHADOW_DIR: shadow.dir,
        VIGIL_SCORING_METRICS: `127.0.0.1:${port}`,
      }),
    );
    try {
      const start = temporalStarter(client.connection, client.options.namespace, queue, 5000);
      const e = windowed();
      await start.start(e.incidentId, e.correlationKey, e.event);
      const r = await result(e.incidentId);
      const score = r.decisions.find((d) => d.kind === 'score');
      expect(score?.version).toBe(`1.0.0 sha256:${shippedSha}`);
      const inputs = score?.inputs as { score: number; threshold: number; shadow: Record<string, unknown> };
      expect(inputs.shadow).toMatchObject({ version: '2.0.0-shadow', sha256: shadow.sha256 });
      expect(inputs.shadow.score).not.toBe(inputs.score);
      expect(inputs.shadow.disagrees).toBe(
        (inputs.shadow.score as number) >= (inputs.shadow.threshold as number) !==
          inputs.score >= inputs.threshold,
      );
      // The rule set read the active model's score only.
      const rules = r.decisions.find((d) => d.kind === 'rules');
      expect(rules?.reasons.find((x) => x.startsWith('model '))).toContain(
        `syscall-anomaly@1.0.0 score ${inputs.score.toFixed(3)}`,
      );
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      expect(text).toMatch(
        /vigil_scoring_inference_seconds_count\{model="syscall-anomaly@1.0.0",stage="score"\} 1/,
      );
      expect(text).toContain(
        `vigil_scoring_score_count{model="syscall-anomaly@2.0.0-shadow",sha256="${shadow.sha256}",role="shadow"} 1`,
      );
      expect(text).toMatch(
        /vigil_scoring_shadow_total\{active="syscall-anomaly@1.0.0",shadow="syscall-anomaly@2.0.0-shadow",outcome="(agree|disagree)"\} 1/,
      );
      expect(text).toContain('vigil_worker_process_cpu_seconds_total');
      expect((await fetch(`http://127.0.0.1:${port}/other`)).status).toBe(404);
    } finally {
      await w.stop();
    }
    // The endpoint goes away with the worker.
    await expect(fetch(`http://127.0.0.1:${port}/metrics`)).rejects.toThrow();
  });

  it('stops scoring with a model revoked while the worker runs (the next incident goes to a person) until a reload after the hash is taken off', async () => {
    const queue = uniqueQueue('scoring-revoke');
    const list = join(tmp, 'revoked.txt');
    writeFileSync(list, '# revoked models\n');
    const w = await startWorker(
      workerEnv(smtp.port, queue, {
        SMTP_USER: 'vigil',
        SMTP_PASSWORD: 'pw',
        VIGIL_MODEL_REVOKED_FILE: list,
      }),
    );
    try {
      const start = temporalStarter(client.connection, client.options.namespace, queue, 5000);
      const before = windowed();
      await start.start(before.incidentId, before.correlationKey, before.event);
      expect((await result(before.incidentId)).decisions.some((d) => d.kind === 'score')).toBe(true);

      writeFileSync(list, `# revoked models\n${shippedSha}\n`);
      await new Promise((r) => setTimeout(r, 1100)); // the file is looked at once a second at most
      const after = windowed();
      await start.start(after.incidentId, after.correlationKey, after.event);
      const r = await result(after.incidentId);
      expect(r.decisions.some((d) => d.kind === 'score')).toBe(false);
      const rules = r.decisions.find((d) => d.kind === 'rules');
      expect(
        rules?.reasons.some((x) =>
          /no model score \(Misconfigured: scoring model refused \(revoked\)/.test(x),
        ),
      ).toBe(true);
      expect(r.actions.find((a) => a.action === 'notify-email')?.status).toBe('done');

      // Taking the hash off the list needs a reload (SIGHUP); then incidents are scored again.
      writeFileSync(list, '# revoked models\n');
      await new Promise((res) => setTimeout(res, 1100));
      const stillOff = windowed();
      await start.start(stillOff.incidentId, stillOff.correlationKey, stillOff.event);
      expect((await result(stillOff.incidentId)).decisions.some((d) => d.kind === 'score')).toBe(false);
      process.emit('SIGHUP', 'SIGHUP');
      await new Promise((res) => setTimeout(res, 500));
      const again = windowed();
      await start.start(again.incidentId, again.correlationKey, again.event);
      expect((await result(again.incidentId)).decisions.find((d) => d.kind === 'score')?.version).toBe(
        `1.0.0 sha256:${shippedSha}`,
      );
    } finally {
      await w.stop();
    }
  });
});
