/**
 * Process (benchmark baseline only): a worker for bench/bare-workflow.ts. Built with the real worker's own
 * factory (loadWorkerConfig + createPlaybookWorker: same activities, same worker options, same
 * connection and metrics set-up as workers/playbook-worker.ts); only the workflow bundle differs. It runs
 * as its own process so the benchmark can read its CPU time from /proc.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runWorkerProcess } from '../workers/playbook-worker.js';

/** BENCH_BARE_WORKFLOWS: another built workflow file exporting `bareIncident` (for attribution experiments). */
const BARE_WORKFLOW_PATH =
  process.env.BENCH_BARE_WORKFLOWS ?? join(dirname(fileURLToPath(import.meta.url)), 'bare-workflow.js');

runWorkerProcess('bare-worker', BARE_WORKFLOW_PATH);
