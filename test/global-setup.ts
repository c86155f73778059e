/**
 * One real Temporal dev server for the whole test run (SQLite file with WAL, headless), the namespace
 * with our search attributes, and the workflow bundle built once. Tests get them through inject().
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Connection } from '@temporalio/client';
import { bundleWorkflowCode } from '@temporalio/worker';
import type { TestProject } from 'vitest/node';
import { ensureNamespace } from '../cli/stack/namespace.js';
import { findTemporalBinary, startDevServer, type DevServer } from '../cli/stack/temporal.js';
import { WORKFLOWS_PATH } from '../workers/playbook-worker.js';

declare module 'vitest' {
  export interface ProvidedContext {
    temporalAddress: string;
    temporalNamespace: string;
    temporalBin: string;
    temporalDb: string;
    workflowBundle: string;
  }
}

let server: DevServer | undefined;
let dir: string | undefined;

export async function setup(project: TestProject): Promise<void> {
  const bin = await findTemporalBinary((l) => process.stderr.write(`${l}\n`));
  dir = mkdtempSync(join(tmpdir(), 'vigil-test-'));
  const namespace = 'vigil-test';
  server = await startDevServer({
    bin,
    dbFile: join(dir, 'temporal.db'),
    headless: true,
    namespaces: [namespace],
    logFile: join(dir, 'temporal.log'),
  });
  const connection = await Connection.connect({ address: server.address });
  await ensureNamespace(connection, namespace, 30);
  await connection.close();
  // Bundled from dist/, as the worker does in production (npm test builds first).
  const bundle = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: quietLogger });
  project.provide('temporalAddress', server.address);
  project.provide('temporalNamespace', namespace);
  project.provide('temporalBin', bin);
  project.provide('temporalDb', join(dir, 'temporal.db'));
  project.provide('workflowBundle', bundle.code);
}

export async function teardown(): Promise<void> {
  await server?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
}

const noop = () => undefined;
const quietLogger = {
  trace: noop,
  debug: noop,
  info: noop,
  warn: noop,
  error: (m: string) => process.stderr.write(`${m}\n`),
  log: noop,
};
