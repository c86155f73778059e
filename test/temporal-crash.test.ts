/**
 * Kill -9 the Temporal dev server with incidents in flight and restart it on the same SQLite file:
 * every event the intake acknowledged (202) is in an incident that finishes; events refused while the
 * server was down (503 + Retry-After) are accepted once the sender retries. Nothing accepted is lost.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { afterAll, expect, inject, it } from 'vitest';
import { ensureNamespace } from '../cli/stack/namespace.js';
import { freePort, startDevServer, type DevServer } from '../cli/stack/temporal.js';
import type { IncidentStatus } from '../src/contracts/incident.js';
import { signedHeaders } from '../src/signing.js';
import { startIntake, TEST_KEY } from './helpers/intake.js';
import { startTestSmtp } from './helpers/smtp.js';
import { startWorker, uniqueQueue, workerEnv } from './helpers/temporal.js';

const NAMESPACE = 'vigil-crash';
const dir = mkdtempSync(join(tmpdir(), 'vigil-crash-'));
const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
});

async function server(port: number): Promise<DevServer> {
  return startDevServer({
    bin: inject('temporalBin'),
    dbFile: join(dir, 'temporal.db'),
    port,
    headless: true,
    namespaces: [NAMESPACE],
    logFile: join(dir, 'temporal.log'),
  });
}

it('loses no acknowledged incident when the Temporal server is killed -9 and restarted on its SQLite file', async () => {
  const port = await freePort();
  let temporal = await server(port);
  cleanups.push(() => temporal.stop('SIGKILL'));
  const connection = await Connection.connect({ address: temporal.address });
  cleanups.push(() => connection.close());
  await ensureNamespace(connection, NAMESPACE, 30);
  const client = new Client({ connection, namespace: NAMESPACE });
  const queue = uniqueQueue('tcrash');
  const smtp = await startTestSmtp();
  cleanups.push(() => smtp.close());
  const worker = await startWorker(
    workerEnv(smtp.port, queue, {
      TEMPORAL_ADDRESS: temporal.address,
      TEMPORAL_NAMESPACE: NAMESPACE,
      VIGIL_QUIET_PERIOD: '3s',
    }),
  );
  cleanups.push(() => worker.stop());
  const intake = await startIntake(client, queue, { VIGIL_TEMPORAL_TIMEOUT: '2s' });
  cleanups.push(() => intake.close());

  const path = '/v1/events/generic';
  const accepted: { incidentId: string; eventId: string }[] = [];
  let refusedWhileDown = 0;
  const send = async (i: number) => {
    const body = JSON.stringify({
      time: new Date(Date.UTC(2026, 10, 26, 10, 0, 0, i)).toISOString(),
      host: `crash-h${i % 20}`,
      rule: 'Crash rule',
      severity: 'high',
      message: `event ${i}`,
    });
    for (let attempt = 0; attempt < 120; attempt++) {
      const res = await fetch(`${intake.url}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...signedHeaders(TEST_KEY, 'POST', path, body) },
        body,
      });
      if (res.status === 202) {
        accepted.push((await res.json()) as { incidentId: string; eventId: string });
        return;
      }
      await res.arrayBuffer();
      expect([429, 503]).toContain(res.status);
      refusedWhileDown++;
      await new Promise((r) => setTimeout(r, 500));
    }
    throw new Error(`event ${i} was never accepted`);
  };

  // Events flow; the server is killed in the middle and comes back 3 s later on the same file.
  const inFlight: Promise<void>[] = [];
  const sending = (async () => {
    for (let i = 0; i < 60; i++) {
      inFlight.push(send(i));
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  await new Promise((r) => setTimeout(r, 2000));
  const beforeKill = accepted.length;
  temporal.process.kill('SIGKILL');
  await new Promise((r) => temporal.process.once('exit', r));
  await new Promise((r) => setTimeout(r, 3000));
  temporal = await server(port);
  await sending;
  await Promise.all(inFlight);
  expect(beforeKill).toBeGreaterThan(0);
  expect(refusedWhileDown).toBeGreaterThan(0);
  expect(accepted).toHaveLength(60);

  // Every acknowledged event is in the evidence of a finished run of its incident.
  const evidence = new Set<string>();
  for (const id of new Set(accepted.map((a) => a.incidentId))) {
    const runs: string[] = [];
    for await (const wf of client.workflow.list({ query: `WorkflowId = '${id}'` })) runs.push(wf.runId);
    for (const runId of runs) {
      const r = (await client.workflow.getHandle(id, runId).result()) as IncidentStatus;
      expect(r.status).toBe('closed');
      for (const e of r.evidence) evidence.add(e.id);
    }
  }
  expect(accepted.filter((a) => !evidence.has(a.eventId))).toEqual([]);
}, 300_000);
