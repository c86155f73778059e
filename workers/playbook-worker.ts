/**
 * Process: the playbook worker. Runs the incident workflow and the observe-class activities
 * (enrichment, notification). Holds no credentials for destructive actions.
 */
import {
  bundleWorkflowCode,
  NativeConnection,
  Runtime,
  Worker,
  type WorkerOptions,
  type WorkflowBundleOption,
} from '@temporalio/worker';
import { z } from 'zod';
import { AutomationConfig, HostPort, parseEnv, TemporalConfig, type Env } from '../src/config.js';
import { loadAttackTable } from '../activities/enrichment/attack.js';
import { loadEnrichmentConfig } from '../activities/enrichment/config.js';
import { createEnrichmentActivities } from '../activities/enrichment/index.js';
import { createSmtpMailer } from '../activities/notify/client.js';
import { loadNotifyConfig } from '../activities/notify/config.js';
import { createNotifyActivities } from '../activities/notify/index.js';
import { loadChannelsConfig } from '../activities/notify/config.js';
import { createWebhookSender } from '../activities/notify/webhook.js';
import { loadPlaybookSettings } from '../activities/settings/config.js';
import { createSettingsActivities } from '../activities/settings/index.js';
import { loadPolicyConfig } from '../activities/policy/config.js';
import { PolicyEngine } from '../activities/policy/engine.js';
import { createPolicyActivities } from '../activities/policy/index.js';
import { distEntry, repoRoot } from '../src/paths.js';
import { codecFromEnv, dataConverterFor } from '../src/codec/config.js';
import {
  createScoringActivities,
  createScoringMetrics,
  loadScoringConfig,
  ScoringModels,
} from '../activities/scoring/index.js';
import { serveMetrics } from './lib/metrics-server.js';
import { Client, Connection } from '@temporalio/client';
import { createAutomationControl } from '../src/control/automation.js';
import { createRoutingActivities } from '../activities/response/index.js';
import { loadResponderRoutes, routeResponder } from '../activities/response/edr/index.js';
import { EDR_TASK_QUEUE } from '../src/contracts/agent.js';
import { controlTaskQueue } from '../src/contracts/queues.js';
import { loadOutboundConfig, outboundPolicy } from '../activities/lib/ssrf.js';
import { isEntryPoint, runMain } from './lib/main.js';
import { ConfigError } from '../src/errors.js';
import type { PlaybookSettings } from '../src/contracts/playbook.js';
import { PLAYBOOKS } from '../playbooks/registry.js';
import {
  createSlackActivities,
  createSlackApi,
  createSlackChannel,
  loadSlackConfig,
} from '../activities/slack/index.js';
import { createRpaActivities, loadRpaConfig, temporalRpaQueueClient } from '../activities/rpa/index.js';
import { WorkflowThreadConfig, withWorkflowThreads } from './lib/workflow-threads.js';
import { createLookupActivities } from '../activities/lookups/index.js';

/** The workflow code is bundled from the build output (npm run build), also when tests run from source. */
export const WORKFLOWS_PATH = distEntry('playbooks/index');

/** A shadow-mode name that names no playbook would silently leave that playbook live: refuse it. */
function knownShadowPlaybooks(s: PlaybookSettings): PlaybookSettings {
  const known = PLAYBOOKS.map((p) => p.name);
  const unknown = (s.shadowPlaybooks ?? []).filter((n) => !known.includes(n));
  if (unknown.length)
    throw new ConfigError(
      [
        {
          key: 'VIGIL_SHADOW_PLAYBOOKS',
          message: `no playbook named ${unknown.join(', ')} (playbooks: ${known.join(', ')})`,
        },
      ],
      'playbook settings',
    );
  return s;
}

/**
 * How many incidents the worker keeps in memory between their workflow tasks. An incident parked on an
 * approval waits hours; keeping thousands of them cached only grows the workflow thread's heap (the SDK's
 * default is sized from the heap limit: ~2,300 on a 4 GiB heap). An evicted incident is replayed from its
 * history when it wakes (a click, a timer). Measured: 1,000 cached incidents, ~1.2 GB RSS for the process.
 */
export const WorkflowCacheConfig = z.object({
  VIGIL_WORKER_MAX_CACHED_WORKFLOWS: z.coerce.number().int().min(2).max(100_000).default(1000),
});

/** Validate all configuration first, so a bad key stops the worker before it touches Temporal. */
export function loadWorkerConfig(env: Env) {
  return {
    temporal: parseEnv(TemporalConfig, env, 'Temporal configuration'),
    notify: loadNotifyConfig(env),
    channels: loadChannelsConfig(env),
    settings: knownShadowPlaybooks(loadPlaybookSettings(env)),
    enrichment: loadEnrichmentConfig(env, repoRoot()),
    policy: loadPolicyConfig(env, repoRoot()),
    metrics: parseEnv(z.object({ VIGIL_WORKER_METRICS: HostPort.optional() }), env, 'worker metrics'),
    cache: parseEnv(WorkflowCacheConfig, env, 'workflow cache'),
    threads: parseEnv(WorkflowThreadConfig, env, 'workflow threads'),
    codec: codecFromEnv(env),
    scoring: loadScoringConfig(env, repoRoot()),
    automation: parseEnv(AutomationConfig, env, 'automation control'),
    responders: loadResponderRoutes(env),
    // Optional: approval requests and notices also go to Slack when SLACK_BOT_TOKEN is set.
    slack: loadSlackConfig(env),
    rpa: loadRpaConfig(env),
    outbound: loadOutboundConfig(env),
  };
}
export type WorkerConfig = ReturnType<typeof loadWorkerConfig>;

/**
 * The scoring models (active + optional shadow), verified before onnxruntime sees them. A refused model does
 * not stop the worker: the scoring activity then fails as Misconfigured and playbooks leave the verdict to a
 * person. SIGHUP re-verifies both (revocation list included); the scoring metrics are served on
 * VIGIL_SCORING_METRICS, apart from the Temporal Runtime's endpoint (it cannot take prom-client metrics).
 */
async function openModels(cfg: WorkerConfig) {
  const metrics = createScoringMetrics({ processMetrics: cfg.scoring.VIGIL_SCORING_METRICS !== undefined });
  const models = await ScoringModels.open(cfg.scoring, {
    metrics,
    warn: (m) => process.stderr.write(`playbook-worker: WARNING: ${m}\n`),
  });
  const onHup = () => {
    models.reload().then(
      ({ active, shadow }) =>
        process.stderr.write(
          `playbook-worker: models reloaded: active ${'sha256' in active ? active.sha256 : `refused (${active.reason})`}${shadow ? `, shadow ${'sha256' in shadow ? shadow.sha256 : `refused (${shadow.reason})`}` : ''}\n`,
        ),
      (e: unknown) =>
        process.stderr.write(`playbook-worker: model reload failed, keeping the models held: ${String(e)}\n`),
    );
  };
  process.on('SIGHUP', onHup);
  const served = cfg.scoring.VIGIL_SCORING_METRICS
    ? await serveMetrics(metrics.registry, cfg.scoring.VIGIL_SCORING_METRICS)
    : undefined;
  return {
    models,
    metrics,
    close: () => {
      process.off('SIGHUP', onHup);
      void served?.close();
    },
  };
}

export async function createPlaybookActivities(cfg: WorkerConfig, taskQueue = cfg.temporal.VIGIL_TASK_QUEUE) {
  const mailer = createSmtpMailer(cfg.notify);
  const scoring = await openModels(cfg);
  // Lookups (which responder serves a host) and automation reservations: a client, no rights to act.
  const clientConnection = await Connection.connect({ address: cfg.temporal.TEMPORAL_ADDRESS });
  const client = new Client({
    connection: clientConnection,
    namespace: cfg.temporal.TEMPORAL_NAMESPACE,
    dataConverter: dataConverterFor(cfg.codec),
  });
  const control = createAutomationControl(client, {
    taskQueue,
    budget: {
      limit: cfg.automation.VIGIL_AUTOMATION_BUDGET,
      windowSeconds: Math.round(cfg.automation.VIGIL_AUTOMATION_WINDOW / 1000),
    },
  });
  const slack = cfg.slack && {
    cfg: cfg.slack,
    api: createSlackApi({
      token: cfg.slack.SLACK_BOT_TOKEN,
      apiUrl: cfg.slack.VIGIL_SLACK_API_URL,
      timeoutMs: cfg.slack.SLACK_TIMEOUT,
    }),
  };
  const settings = createSettingsActivities(cfg.settings);
  const enrichment = createEnrichmentActivities(loadAttackTable(cfg.enrichment.VIGIL_ATTACK_TABLE));
  const routing = createRoutingActivities({
    client,
    namespace: cfg.temporal.TEMPORAL_NAMESPACE,
    control,
    edrVendorFor: (host) => {
      const r = routeResponder(host, cfg.responders);
      return r === 'agent' ? undefined : r;
    },
    edrTaskQueue: EDR_TASK_QUEUE,
  });
  // A policy set that does not validate against its schema stops the worker at start.
  const policy = createPolicyActivities(PolicyEngine.load(cfg.policy.VIGIL_POLICY_DIR), {
    reserve: (r) => control.reserve(r),
  });
  return {
    activities: {
      ...settings,
      ...enrichment,
      ...routing,
      // The settings, the lookups a playbook asks ahead and the decision it asks ahead, in one local
      // activity (activities/lookups).
      ...createLookupActivities({ ...settings, ...enrichment, ...routing, ...policy }),
      // Webhooks: checked and connected under the outbound policy (no DNS rebinding window).
      ...createNotifyActivities(mailer, cfg.notify, {
        config: cfg.channels,
        webhooks: createWebhookSender(cfg.channels.VIGIL_WEBHOOKS, { policy: outboundPolicy(cfg.outbound) }),
        chat: slack && createSlackChannel(slack.api, slack.cfg),
      }),
      ...(slack ? createSlackActivities(slack.api, slack.cfg) : {}),
      ...policy,
      ...createScoringActivities(scoring.models, {
        threshold: cfg.scoring.VIGIL_MODEL_THRESHOLD,
        topK: cfg.scoring.VIGIL_MODEL_TOP_K,
        attributions: cfg.scoring.VIGIL_MODEL_ATTRIBUTIONS,
        metrics: scoring.metrics,
      }),
      // RPA jobs: the dispatch activity talks to the queue workflows (on this worker's task queue).
      ...createRpaActivities(
        temporalRpaQueueClient(client, {
          taskQueue,
          maxJobs: cfg.rpa.VIGIL_RPA_MAX_JOBS,
          timeoutMs: cfg.rpa.VIGIL_RPA_TIMEOUT,
        }),
      ),
    },
    close: () => {
      scoring.close();
      mailer.close();
      void clientConnection.close();
    },
  };
}

/** The bundler's webpack report is noise on every start; keep its warnings and errors. */
const quietBundler = {
  log: () => undefined,
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: (m: string) => process.stderr.write(`workflow bundle: ${m}\n`),
  error: (m: string) => process.stderr.write(`workflow bundle: ${m}\n`),
};

/**
 * The playbook worker: one Worker on the playbook task queue (the incidents) and one on its control queue
 * (the notifiers and the automation control, see src/contracts/queues.ts), same bundle and activities, in
 * one process. `run()` runs both until shutdown; `worker` is the incidents' Worker.
 */
export async function createPlaybookWorker(
  cfg: WorkerConfig,
  connection: NativeConnection,
  opts: { taskQueue?: string; workflowBundle?: WorkflowBundleOption; workflowsPath?: string } = {},
) {
  const taskQueue = opts.taskQueue ?? cfg.temporal.VIGIL_TASK_QUEUE;
  const { activities, close } = await createPlaybookActivities(cfg, taskQueue);
  const workflowBundle =
    opts.workflowBundle ??
    (await bundleWorkflowCode({
      workflowsPath: opts.workflowsPath ?? WORKFLOWS_PATH,
      logger: quietBundler,
    }));
  const common = {
    connection,
    namespace: cfg.temporal.TEMPORAL_NAMESPACE,
    workflowBundle,
    activities,
    dataConverter: dataConverterFor(cfg.codec),
    shutdownGraceTime: '10s',
  } satisfies Partial<WorkerOptions>;
  // Without the SDK's per-promise stack capture unless VIGIL_WORKFLOW_STACK_TRACES (./lib/workflow-threads.ts).
  const stackTraces = cfg.threads.VIGIL_WORKFLOW_STACK_TRACES;
  const { value: worker, tuned } = await withWorkflowThreads(stackTraces, () =>
    Worker.create({
      ...common,
      taskQueue,
      maxCachedWorkflows: cfg.cache.VIGIL_WORKER_MAX_CACHED_WORKFLOWS,
    }),
  );
  // A handful of long-lived workflows: a small cache keeps them all.
  const { value: control } = await withWorkflowThreads(stackTraces, () =>
    Worker.create({
      ...common,
      taskQueue: controlTaskQueue(taskQueue),
      maxCachedWorkflows: 100,
    }),
  );
  return {
    worker,
    control,
    /**
     * How the workflow threads run: 'sdk' (VIGIL_WORKFLOW_STACK_TRACES=true, the SDK's stack capture),
     * 'no-promise-stacks' (the default), or 'sdk-fallback' (off was asked, but the SDK did not start its
     * threads through the entry we replace: they keep the SDK's capture).
     */
    workflowThreads: stackTraces ? 'sdk' : tuned ? 'no-promise-stacks' : 'sdk-fallback',
    /** Both Workers until they are shut down (SIGINT/SIGTERM, or `shutdown()`). */
    run: async () => {
      const both = [worker.run(), control.run()];
      // One failing stops the other: a process with half a worker would starve incidents or notifiers.
      await Promise.race(both.map((p) => p.catch(() => undefined))).finally(() => {
        for (const w of [worker, control]) if (w.getState() === 'RUNNING') w.shutdown();
      });
      await Promise.all(both);
    },
    shutdown: () => {
      for (const w of [worker, control]) if (w.getState() === 'RUNNING') w.shutdown();
    },
    close,
  };
}

/**
 * A worker process: config, metrics, connection, the worker, graceful shutdown (the Temporal runtime stops
 * it on SIGINT/SIGTERM). The benchmark's bare baseline runs the same process with another workflow file.
 */
export function runWorkerProcess(name: string, workflowsPath = WORKFLOWS_PATH): void {
  runMain(name, async () => {
    const cfg = loadWorkerConfig(process.env);
    if (cfg.metrics.VIGIL_WORKER_METRICS) {
      Runtime.install({
        telemetryOptions: { metrics: { prometheus: { bindAddress: cfg.metrics.VIGIL_WORKER_METRICS } } },
      });
    }
    const connection = await NativeConnection.connect({ address: cfg.temporal.TEMPORAL_ADDRESS });
    const w = await createPlaybookWorker(cfg, connection, { workflowsPath });
    if (w.workflowThreads === 'sdk-fallback')
      process.stderr.write(
        `${name}: WARNING: VIGIL_WORKFLOW_STACK_TRACES=false, but the workflow threads keep the SDK's per-promise stack capture (slower, same behaviour): dist/workers/lib/workflow-thread.js is not built, or this SDK starts its threads another way\n`,
      );
    process.stderr.write(
      `${name}: polling ${cfg.temporal.VIGIL_TASK_QUEUE} and ${controlTaskQueue(cfg.temporal.VIGIL_TASK_QUEUE)} on ${cfg.temporal.TEMPORAL_ADDRESS} (namespace ${cfg.temporal.TEMPORAL_NAMESPACE})\n`,
    );
    await w.run();
    w.close();
    await connection.close();
  });
}

if (isEntryPoint(import.meta.url)) runWorkerProcess('playbook-worker');
