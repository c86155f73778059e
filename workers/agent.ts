/**
 * Process: the endpoint agent, one per protected Linux host. An activity-only Temporal worker on the host's
 * own task queue (`vigil-agent-<host>`), so a playbook routes an action to exactly this host. It runs only
 * `executeContainment` with the local responder (a closed list of actions, each idempotent, verified and
 * reversible), registers itself (host, version, capabilities) in the `agentRegistration` workflow, and
 * serves its metrics (outcomes per action, decision-to-effect time, its own CPU and memory).
 * It holds no other credentials than its Temporal connection and needs the rights of its actions (root for
 * nftables, usermod and signals to other users' processes).
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { readFileSync } from 'node:fs';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { z } from 'zod';
import { HostPort, parseEnv, TemporalConfig, type Env } from '../src/config.js';
import {
  AGENT_WORKFLOW,
  agentTaskQueue,
  agentWorkflowId,
  registerSignal,
  type AgentRegistration,
} from '../src/contracts/agent.js';
import { CONTAINMENT_ACTIONS, type ContainmentAction } from '../src/contracts/response.js';
import { codecFromEnv, dataConverterFor } from '../src/codec/config.js';
import { repoRoot } from '../src/paths.js';
import { join } from 'node:path';
import { killSwitchReader } from '../src/control/automation.js';
import { createExecutorActivities } from '../activities/response/index.js';
import { createLocalResponder, loadLocalResponderConfig } from '../activities/response/local/index.js';
import { createResponseMetrics } from '../activities/response/metrics.js';
import { createCaptureActivities, loadCaptureConfig, openPrefilter } from '../activities/capture/index.js';
import { loadScoringConfig } from '../activities/scoring/config.js';
import { isEntryPoint, runMain } from './lib/main.js';
import { serveMetrics } from './lib/metrics-server.js';

export const AgentProcessConfig = z.object({
  /** Serve Prometheus metrics on host:port (e.g. 127.0.0.1:9464). */
  VIGIL_AGENT_METRICS: HostPort.optional(),
  /** Actions run at once at most (containment is quick; a storm must not fork-bomb the host). */
  VIGIL_AGENT_MAX_CONCURRENT: z.coerce.number().int().min(1).max(64).default(4),
});

/** Validate everything first: a bad key stops the agent before it touches Temporal or the host. */
export function loadAgentConfig(env: Env) {
  return {
    temporal: parseEnv(TemporalConfig, env, 'Temporal configuration'),
    responder: loadLocalResponderConfig(env),
    process: parseEnv(AgentProcessConfig, env, 'endpoint agent'),
    // Optional edge scoring: syscall capture, and a local pre-filter only when a model dir is set.
    capture: loadCaptureConfig(env),
    scoring: loadScoringConfig(env, repoRoot()),
    codec: codecFromEnv(env),
  };
}
export type AgentConfig = ReturnType<typeof loadAgentConfig>;

function version(): string {
  const pkg = JSON.parse(readFileSync(join(repoRoot(), 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
}

export function registrationFor(cfg: AgentConfig, metrics?: string): AgentRegistration {
  const dryRunOnly: ContainmentAction[] =
    cfg.responder.VIGIL_AGENT_ISOLATION === 'enforce' ? [] : ['isolate-host'];
  return {
    hostId: cfg.responder.VIGIL_AGENT_HOST,
    version: version(),
    // Quarantine needs somewhere it may take files from: without allowed roots the agent does not offer it.
    capabilities: CONTAINMENT_ACTIONS.filter(
      (a) => a !== 'quarantine-file' || cfg.responder.VIGIL_AGENT_ALLOWED_ROOTS.length > 0,
    ),
    dryRunOnly,
    pid: process.pid,
    startedAt: new Date().toISOString(),
    ...(metrics ? { metrics } : {}),
    ...(cfg.capture.VIGIL_AGENT_CAPTURE
      ? {
          capture: {
            maxSeconds: cfg.capture.VIGIL_CAPTURE_MAX_SECONDS,
            maxCalls: cfg.capture.VIGIL_CAPTURE_MAX_CALLS,
            prefilter: cfg.capture.VIGIL_AGENT_MODEL_DIR !== undefined,
          },
        }
      : {}),
  };
}

export async function startAgent(cfg: AgentConfig) {
  const host = cfg.responder.VIGIL_AGENT_HOST;
  const dataConverter = dataConverterFor(cfg.codec);
  const clientConnection = await Connection.connect({ address: cfg.temporal.TEMPORAL_ADDRESS });
  const client = new Client({
    connection: clientConnection,
    namespace: cfg.temporal.TEMPORAL_NAMESPACE,
    dataConverter,
  });
  const killSwitch = killSwitchReader(client, cfg.temporal.VIGIL_TASK_QUEUE);
  const responder = createLocalResponder(cfg.responder);
  const metrics = createResponseMetrics({ processMetrics: true });
  const served = cfg.process.VIGIL_AGENT_METRICS
    ? await serveMetrics(metrics.registry, cfg.process.VIGIL_AGENT_METRICS)
    : undefined;
  const prefilter = cfg.capture.VIGIL_AGENT_CAPTURE
    ? await openPrefilter(cfg.capture, cfg.scoring)
    : undefined;
  const connection = await NativeConnection.connect({ address: cfg.temporal.TEMPORAL_ADDRESS });
  const worker = await Worker.create({
    connection,
    namespace: cfg.temporal.TEMPORAL_NAMESPACE,
    taskQueue: agentTaskQueue(host),
    identity: `vigil-agent@${host}/${process.pid}`,
    activities: {
      ...createExecutorActivities({
        responder: {
          name: 'agent',
          execute: (r) => responder.execute(r),
          known: (key) => responder.known(key),
          close: () => responder.close(),
        },
        killSwitch,
        metrics,
      }),
      ...(cfg.capture.VIGIL_AGENT_CAPTURE ? createCaptureActivities(cfg.capture, prefilter) : {}),
    },
    dataConverter,
    maxConcurrentActivityTaskExecutions: cfg.process.VIGIL_AGENT_MAX_CONCURRENT,
    shutdownGraceTime: '10s',
  });
  const registration = registrationFor(
    cfg,
    cfg.process.VIGIL_AGENT_METRICS ? `http://${cfg.process.VIGIL_AGENT_METRICS}/metrics` : undefined,
  );
  await client.workflow.signalWithStart(AGENT_WORKFLOW, {
    workflowId: agentWorkflowId(host),
    taskQueue: cfg.temporal.VIGIL_TASK_QUEUE,
    args: [null],
    signal: registerSignal,
    signalArgs: [registration],
  });
  return {
    worker,
    registration,
    taskQueue: agentTaskQueue(host),
    async close() {
      responder.close();
      await served?.close();
      await connection.close();
      await clientConnection.close();
    },
  };
}

/** One full garbage collection (V8's gc made reachable for this call only). */
function collectStartupGarbage(): void {
  try {
    setFlagsFromString('--expose-gc');
    (runInNewContext('gc') as () => void)();
  } catch {
    // Not offered by this runtime: the agent only stays heavier.
  }
}

if (isEntryPoint(import.meta.url)) {
  runMain('agent', async () => {
    const cfg = loadAgentConfig(process.env);
    const agent = await startAgent(cfg);
    // Start-up leaves garbage (module loading, the SDK's protobuf definitions, registration) that an idle
    // process would carry for a long time: one full collection before it reports ready keeps the agent
    // light (measured: ~136 -> ~109 MB RSS idle).
    collectStartupGarbage();
    process.stderr.write(
      `agent: ${agent.registration.hostId} polling ${agent.taskQueue} on ${cfg.temporal.TEMPORAL_ADDRESS}` +
        ` (isolation ${cfg.responder.VIGIL_AGENT_ISOLATION}; version ${agent.registration.version})\n`,
    );
    // The Temporal runtime shuts the worker down on SIGINT/SIGTERM.
    await agent.worker.run();
    await agent.close();
  });
}
