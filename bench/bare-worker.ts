/**
 * Process (benchmark baseline only): a worker for bench/bare-workflow.ts. Built with the real worker's own
 * factory (loadWorkerConfig + createPlaybookWorker: same activities, same worker options, same
 * connection and metrics set-up as workers/playbook-worker.ts); only the workflow bundle differs. It runs
 * as its own process so the benchmark can read its CPU time from /proc.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode, NativeConnection, Runtime } from '@temporalio/worker';
import { createPlaybookWorker, loadWorkerConfig } from '../workers/playbook-worker.js';
import { runMain } from '../workers/lib/main.js';

/** BENCH_BARE_WORKFLOWS: another built workflow file exporting `bareIncident` (for attribution experiments). */
const BARE_WORKFLOW_PATH =
  process.env.BENCH_BARE_WORKFLOWS ?? join(dirname(fileURLToPath(import.meta.url)), 'bare-workflow.js');

const quietBundler = {
  log: () => undefined,
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: (m: string) => process.stderr.write(`workflow bundle: ${m}\n`),
  error: (m: string) => process.stderr.write(`workflow bundle: ${m}\n`),
};

runMain('bare-worker', async () => {
  const cfg = loadWorkerConfig(process.env);
  if (cfg.metrics.VIGIL_WORKER_METRICS) {
    Runtime.install({
      telemetryOptions: { metrics: { prometheus: { bindAddress: cfg.metrics.VIGIL_WORKER_METRICS } } },
    });
  }
  const connection = await NativeConnection.connect({ address: cfg.temporal.TEMPORAL_ADDRESS });
  const workflowBundle = await bundleWorkflowCode({
    workflowsPath: BARE_WORKFLOW_PATH,
    logger: quietBundler,
  });
  const { worker, close } = await createPlaybookWorker(cfg, connection, { workflowBundle });
  process.stderr.write(
    `bare-worker: polling ${cfg.temporal.VIGIL_TASK_QUEUE} on ${cfg.temporal.TEMPORAL_ADDRESS} (namespace ${cfg.temporal.TEMPORAL_NAMESPACE})\n`,
  );
  await worker.run();
  close();
  await connection.close();
});
