/** Process: the intake HTTP server (internet-facing: every request authenticated, sizes and rates capped). */
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { DeadLetterStore } from '../intake/dead-letter.js';
import { loadIntakeConfig } from '../intake/config.js';
import { temporalStarter } from '../intake/incidents.js';
import { OsqueryNodeStore } from '../intake/osquery-nodes.js';
import { createIntakeMetrics } from '../intake/metrics.js';
import { buildIntake } from '../intake/server.js';
import { isEntryPoint, runMain, untilSignal } from './lib/main.js';

if (isEntryPoint(import.meta.url)) {
  runMain('intake', async () => {
    const cfg = loadIntakeConfig(process.env);
    const dbFile = join(cfg.VIGIL_DATA_DIR, 'intake.db');
    const deadLetters = new DeadLetterStore(dbFile);
    const nodes = new OsqueryNodeStore(dbFile);
    const connection = await Connection.connect({ address: cfg.TEMPORAL_ADDRESS });
    const client = new Client({ connection, namespace: cfg.TEMPORAL_NAMESPACE });
    const metrics = createIntakeMetrics(() => deadLetters.counts().pending);
    const app = buildIntake({
      config: cfg,
      deadLetters,
      nodes,
      metrics,
      starter: temporalStarter(
        connection,
        cfg.TEMPORAL_NAMESPACE,
        cfg.VIGIL_TASK_QUEUE,
        cfg.VIGIL_TEMPORAL_TIMEOUT,
      ),
      ready: async () => {
        try {
          await client.withDeadline(Date.now() + 2000, () => connection.workflowService.getSystemInfo({}));
          return true;
        } catch {
          return false;
        }
      },
      logger: process.env.VIGIL_LOG_REQUESTS === 'true',
    });
    const url = await app.listen({ host: cfg.VIGIL_INTAKE_HOST, port: cfg.VIGIL_INTAKE_PORT });
    process.stderr.write(`intake: listening on ${url}\n`);
    await untilSignal();
    await app.close();
    deadLetters.close();
    nodes.close();
    await connection.close();
  });
}
