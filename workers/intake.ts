/** Process: the intake HTTP server (internet-facing: every request authenticated, sizes and rates capped). */
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { DeadLetterStore } from '../intake/dead-letter.js';
import { loadIntakeConfig } from '../intake/config.js';
import { temporalStarter } from '../intake/incidents.js';
import { OsqueryNodeStore } from '../intake/osquery-nodes.js';
import { approverCheck, AttemptLog, createApprovalDecider, type ApprovalDeps } from '../intake/approvals.js';
import { loadSlackServerConfig, SeenStore, startSlackServer, type SlackServer } from '../intake/slack.js';
import { createSlackApi } from '../activities/slack/client.js';
import { OperatorStore } from '../intake/operators.js';
import { PolicyEngine } from '../activities/policy/engine.js';
import { repoRoot } from '../src/paths.js';
import { AutomationConfig, parseEnv } from '../src/config.js';
import { codecFromEnv, dataConverterFor } from '../src/codec/config.js';
import { createIntakeMetrics } from '../intake/metrics.js';
import { buildIntake } from '../intake/server.js';
import { RpaBotStore } from '../intake/rpa-bots.js';
import { incidentStatusVia, registerVerdictMetrics, VerdictStore } from '../intake/verdicts.js';
import { isEntryPoint, runMain, untilSignal } from './lib/main.js';

if (isEntryPoint(import.meta.url)) {
  runMain('intake', async () => {
    const cfg = loadIntakeConfig(process.env);
    const automation = parseEnv(AutomationConfig, process.env, 'automation control');
    const slackCfg = loadSlackServerConfig(process.env);
    const dbFile = join(cfg.VIGIL_DATA_DIR, 'intake.db');
    const codec = codecFromEnv(process.env);
    if (!codec)
      process.stderr.write(
        'intake: WARNING: VIGIL_PAYLOAD_KEYS is not set: events travel to Temporal, and dead letters and verdict snapshots are stored, in clear\n',
      );
    const deadLetters = new DeadLetterStore(dbFile, codec);
    const nodes = new OsqueryNodeStore(dbFile);
    const operators = new OperatorStore(dbFile);
    const attempts = new AttemptLog(dbFile);
    const rpaBots = new RpaBotStore(dbFile);
    const policy = PolicyEngine.load(cfg.VIGIL_POLICY_DIR ?? join(repoRoot(), 'policies'));
    const connection = await Connection.connect({ address: cfg.TEMPORAL_ADDRESS });
    const client = new Client({
      connection,
      namespace: cfg.TEMPORAL_NAMESPACE,
      dataConverter: dataConverterFor(codec),
    });
    const metrics = createIntakeMetrics(() => deadLetters.counts().pending);
    // Analyst verdicts (vigil verdict): stored with the other intake data; their rates on /metrics.
    const verdicts = new VerdictStore(dbFile, codec);
    registerVerdictMetrics(metrics.registry, verdicts);
    const approvals: ApprovalDeps = {
      operators,
      attempts,
      connection,
      namespace: cfg.TEMPORAL_NAMESPACE,
      dataConverter: dataConverterFor(codec),
      mayApprove: approverCheck(policy),
    };
    const app = buildIntake({
      config: cfg,
      deadLetters,
      nodes,
      metrics,
      approvals,
      verdicts: { operators, verdicts, incidentStatus: incidentStatusVia(client) },
      response: {
        operators,
        connection,
        namespace: cfg.TEMPORAL_NAMESPACE,
        taskQueue: cfg.VIGIL_TASK_QUEUE,
        dataConverter: dataConverterFor(codec),
        budget: {
          limit: automation.VIGIL_AUTOMATION_BUDGET,
          windowSeconds: Math.round(automation.VIGIL_AUTOMATION_WINDOW / 1000),
        },
      },
      starter: temporalStarter(
        connection,
        cfg.TEMPORAL_NAMESPACE,
        cfg.VIGIL_TASK_QUEUE,
        cfg.VIGIL_TEMPORAL_TIMEOUT,
        dataConverterFor(codec),
      ),
      rpa: {
        bots: rpaBots,
        connection,
        namespace: cfg.TEMPORAL_NAMESPACE,
        dataConverter: dataConverterFor(codec),
        timeoutMs: Math.max(cfg.VIGIL_TEMPORAL_TIMEOUT, 10_000),
      },
      codec: codec
        ? { codec, corsOrigin: cfg.VIGIL_CODEC_CORS_ORIGIN, devOpen: cfg.VIGIL_CODEC_DEV_OPEN }
        : undefined,
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
    // Slack approvals and verdicts (when configured): Bolt's HTTP receiver on its own port, or Socket Mode
    // (an outbound WebSocket, nothing listens); the same decision and verdict paths as HTTP and the CLI.
    let slack: { server: SlackServer; seen: SeenStore } | undefined;
    if (slackCfg) {
      const seen = new SeenStore(dbFile);
      const server = await startSlackServer({
        config: slackCfg,
        api: createSlackApi({
          token: slackCfg.SLACK_BOT_TOKEN,
          apiUrl: slackCfg.VIGIL_SLACK_API_URL,
          timeoutMs: 5000,
          retries: 1,
        }),
        operators,
        attempts,
        decider: createApprovalDecider(approvals),
        seen,
        verdicts: { verdicts, incidentStatus: incidentStatusVia(client) },
      });
      slack = { server, seen };
      process.stderr.write(`intake: Slack interactions (${server.mode}) on ${server.url}\n`);
    }
    await untilSignal();
    if (slack) {
      await slack.server.stop();
      slack.seen.close();
    }
    await app.close();
    deadLetters.close();
    nodes.close();
    operators.close();
    attempts.close();
    rpaBots.close();
    verdicts.close();
    await connection.close();
  });
}
