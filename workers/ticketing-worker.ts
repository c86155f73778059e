/**
 * Process: the ticketing worker. Runs only the ticketing activities, on their own task queue
 * (VIGIL_TICKETING_TASK_QUEUE), so the ticketing system's credential lives in this process alone.
 * Playbooks reach it with proxyActivities({ taskQueue }). A bad or missing key stops it at start (exit 2).
 */
import { NativeConnection, Worker } from '@temporalio/worker';
import { z } from 'zod';
import { parseEnv, TemporalConfig, type Env } from '../src/config.js';
import { codecFromEnv, dataConverterFor } from '../src/codec/config.js';
import {
  createTicketingActivities,
  createTicketingClient,
  loadTicketingConfig,
} from '../activities/ticketing/index.js';
import { isEntryPoint, runMain } from './lib/main.js';

export function loadTicketingWorkerConfig(env: Env) {
  return {
    temporal: parseEnv(TemporalConfig, env, 'Temporal configuration'),
    queue: parseEnv(
      z.object({ VIGIL_TICKETING_TASK_QUEUE: z.string().min(1).default('vigil-ticketing') }),
      env,
      'ticketing worker',
    ).VIGIL_TICKETING_TASK_QUEUE,
    ticketing: loadTicketingConfig(env),
    codec: codecFromEnv(env),
  };
}

if (isEntryPoint(import.meta.url)) {
  runMain('ticketing-worker', async () => {
    const cfg = loadTicketingWorkerConfig(process.env);
    const connection = await NativeConnection.connect({ address: cfg.temporal.TEMPORAL_ADDRESS });
    const worker = await Worker.create({
      connection,
      namespace: cfg.temporal.TEMPORAL_NAMESPACE,
      taskQueue: cfg.queue,
      activities: createTicketingActivities(createTicketingClient(cfg.ticketing)),
      dataConverter: dataConverterFor(cfg.codec),
      shutdownGraceTime: '10s',
    });
    process.stderr.write(
      `ticketing-worker: ${cfg.ticketing.VIGIL_TICKETING} tickets; polling ${cfg.queue} on ${cfg.temporal.TEMPORAL_ADDRESS}\n`,
    );
    await worker.run();
    await connection.close();
  });
}
