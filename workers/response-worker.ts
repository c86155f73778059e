/**
 * Process: the EDR response worker, for hosts that run no Vigil agent. An activity-only worker on
 * `vigil-response-edr` that executes containment through CrowdStrike Falcon, Microsoft Defender for
 * Endpoint or SentinelOne, as `VIGIL_RESPONDERS` routes each host. It is the only process holding the EDR
 * credentials (the playbook worker holds none), and it applies the same kill-switch check as the agents.
 */
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { z } from 'zod';
import { HostPort, parseEnv, TemporalConfig, type Env } from '../src/config.js';
import { EDR_TASK_QUEUE } from '../src/contracts/agent.js';
import { codecFromEnv, dataConverterFor } from '../src/codec/config.js';
import { killSwitchReader } from '../src/control/automation.js';
import { createEdrResponders, loadEdrConfig } from '../activities/response/edr/index.js';
import { createExecutorActivities } from '../activities/response/index.js';
import { createResponseMetrics } from '../activities/response/metrics.js';
import { isEntryPoint, runMain } from './lib/main.js';
import { serveMetrics } from './lib/metrics-server.js';

export function loadResponseWorkerConfig(env: Env) {
  return {
    temporal: parseEnv(TemporalConfig, env, 'Temporal configuration'),
    edr: loadEdrConfig(env),
    metrics: parseEnv(z.object({ VIGIL_RESPONSE_METRICS: HostPort.optional() }), env, 'response worker'),
    codec: codecFromEnv(env),
  };
}

export async function startResponseWorker(cfg: ReturnType<typeof loadResponseWorkerConfig>) {
  const dataConverter = dataConverterFor(cfg.codec);
  const clientConnection = await Connection.connect({ address: cfg.temporal.TEMPORAL_ADDRESS });
  const client = new Client({
    connection: clientConnection,
    namespace: cfg.temporal.TEMPORAL_NAMESPACE,
    dataConverter,
  });
  const killSwitch = killSwitchReader(client, cfg.temporal.VIGIL_TASK_QUEUE);
  const edr = createEdrResponders(cfg.edr);
  const metrics = createResponseMetrics({ processMetrics: true });
  const connection = await NativeConnection.connect({ address: cfg.temporal.TEMPORAL_ADDRESS });
  const worker = await Worker.create({
    connection,
    namespace: cfg.temporal.TEMPORAL_NAMESPACE,
    taskQueue: EDR_TASK_QUEUE,
    activities: createExecutorActivities({
      responder: { name: 'edr', execute: (r) => edr.execute(r), close: () => undefined },
      killSwitch,
      metrics,
    }),
    dataConverter,
    shutdownGraceTime: '10s',
  });
  return {
    worker,
    metrics,
    vendors: [...edr.vendors.keys()],
    async close() {
      await connection.close();
      await clientConnection.close();
    },
  };
}

if (isEntryPoint(import.meta.url)) {
  runMain('response-worker', async () => {
    const cfg = loadResponseWorkerConfig(process.env);
    const w = await startResponseWorker(cfg);
    const served = cfg.metrics.VIGIL_RESPONSE_METRICS
      ? await serveMetrics(w.metrics.registry, cfg.metrics.VIGIL_RESPONSE_METRICS)
      : undefined;
    process.stderr.write(
      `response-worker: polling ${EDR_TASK_QUEUE} for ${w.vendors.join(', ') || 'no vendor (VIGIL_RESPONDERS routes every host to agents)'}\n`,
    );
    await w.worker.run();
    await served?.close();
    await w.close();
  });
}
