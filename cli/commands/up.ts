/**
 * `vigil up`: the whole stack on the embedded default. Temporal (unless TEMPORAL_ADDRESS is set; found
 * or built with progress), the namespace with retention and search attributes, a dev mailbox, the
 * playbook worker and the intake. Prints the URLs; Ctrl-C stops everything cleanly.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { Connection } from '@temporalio/client';
import { z } from 'zod';
import { Port, parseEnv, TemporalConfig } from '../../src/config.js';
import { printJson } from '../output.js';
import { SetupConfig } from './setup.js';
import { ADAPTERS } from '../../src/events/adapters/index.js';
import {
  clearState,
  loadOrCreateCredentials,
  processAlive,
  saveCredentials,
  StackState,
  vigilHome,
  writeState,
} from '../state.js';
import { startDevMailServer } from '../stack/devmail.js';
import { ensureNamespace } from '../stack/namespace.js';
import { distEntry } from '../../src/paths.js';
import { supervise, waitHttp, type ManagedProcess } from '../stack/supervisor.js';
import { loadSigningKey, writeSigningKey } from '../../activities/audit/keys.js';
import {
  findTemporalBinary,
  freePort,
  portIsFree,
  startDevServer,
  type DevServer,
} from '../stack/temporal.js';

const UpConfig = SetupConfig.pick({ VIGIL_RETENTION_DAYS: true }).extend({
  VIGIL_INTAKE_PORT: Port.default(8088),
  VIGIL_TEMPORAL_PORT: Port.default(7233),
  VIGIL_TEMPORAL_UI_PORT: Port.default(8233),
  VIGIL_MAIL_TO: z.string().default('soc@vigil.local'),
});

async function pick(preferred: number): Promise<number> {
  return preferred !== 0 && (await portIsFree(preferred)) ? preferred : freePort();
}

export async function up(opts: { json: boolean }): Promise<void> {
  const say = (l: string) => process.stderr.write(`${l}\n`);
  const env = process.env;
  const home = vigilHome(env);
  const cfg = parseEnv(UpConfig, env, 'vigil up');
  const temporalCfg = parseEnv(
    TemporalConfig,
    { ...env, TEMPORAL_ADDRESS: env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233' },
    'Temporal configuration',
  );
  const stateFile = join(home, 'state.json');
  if (existsSync(stateFile)) {
    const prev = StackState.safeParse(JSON.parse(readFileSync(stateFile, 'utf8')));
    if (prev.success && processAlive(prev.data.pid) && prev.data.pid !== process.pid) {
      throw new Error(
        `a Vigil stack is already running for ${home} (pid ${prev.data.pid}); stop it first or set VIGIL_HOME`,
      );
    }
  }
  mkdirSync(join(home, 'logs'), { recursive: true, mode: 0o700 });
  const creds = loadOrCreateCredentials(home);
  const cleanups: (() => Promise<void>)[] = [];
  let stopping: Promise<void> | undefined;
  const stopAll = (why: string) =>
    (stopping ??= (async () => {
      say(`\nvigil: stopping (${why})...`);
      for (const c of cleanups.reverse()) await c().catch((e: Error) => say(`vigil: ${e.message}`));
      clearState(home);
      say('vigil: stopped');
    })());

  try {
    // 1. Temporal
    let temporal: DevServer | undefined;
    let address = env.TEMPORAL_ADDRESS;
    // Picked first: the UI is told where the intake's codec endpoint is.
    const intakePort = await pick(cfg.VIGIL_INTAKE_PORT);
    const intakeUrl = `http://127.0.0.1:${intakePort}`;
    if (address) {
      say(`vigil: using the Temporal server at ${address} (TEMPORAL_ADDRESS)`);
    } else {
      say('vigil: finding the Temporal CLI (built from the Go module proxy on first use)...');
      const bin = await findTemporalBinary((l) => say(l));
      say(`vigil: starting the Temporal dev server (${bin}, SQLite ${join(home, 'temporal.db')})...`);
      temporal = await startDevServer({
        bin,
        dbFile: join(home, 'temporal.db'),
        port: await pick(cfg.VIGIL_TEMPORAL_PORT),
        uiPort: await pick(cfg.VIGIL_TEMPORAL_UI_PORT),
        uiCodecEndpoint: `${intakeUrl}/codec`,
        logFile: join(home, 'logs', 'temporal.log'),
        namespaces: [temporalCfg.TEMPORAL_NAMESPACE],
      });
      const t = temporal;
      cleanups.push(() => t.stop());
      address = temporal.address;
    }
    const connection = await Connection.connect({ address, connectTimeout: 10_000 });
    await ensureNamespace(connection, temporalCfg.TEMPORAL_NAMESPACE, cfg.VIGIL_RETENTION_DAYS);
    await connection.close();
    say(
      `vigil: namespace ${temporalCfg.TEMPORAL_NAMESPACE} ready (retention ${cfg.VIGIL_RETENTION_DAYS} days, search attributes registered)`,
    );

    // 2. Dev mailbox
    const mailbox = join(home, 'devmail.db');
    const mail = await startDevMailServer({
      file: mailbox,
      user: creds.smtp.user,
      password: creds.smtp.password,
    });
    cleanups.push(() => mail.close());

    // 3. Worker and intake
    const workerMetricsPort = await freePort();
    const scoringMetricsPort = await freePort();
    const common: NodeJS.ProcessEnv = {
      ...env,
      // Payloads are encrypted before they reach Temporal; dead letters at rest too.
      VIGIL_PAYLOAD_KEYS: env.VIGIL_PAYLOAD_KEYS ?? creds.payloadKeys,
      TEMPORAL_ADDRESS: address,
      TEMPORAL_NAMESPACE: temporalCfg.TEMPORAL_NAMESPACE,
      VIGIL_TASK_QUEUE: temporalCfg.VIGIL_TASK_QUEUE,
    };
    const procs: ManagedProcess[] = [];
    const giveUp = (why: string) => void stopAll(why).then(() => process.exit(1));
    procs.push(
      supervise({
        name: 'worker',
        entry: distEntry('workers/playbook-worker'),
        env: {
          ...common,
          SMTP_HOST: mail.host,
          SMTP_PORT: String(mail.port),
          SMTP_SECURITY: 'none',
          SMTP_USER: creds.smtp.user,
          SMTP_PASSWORD: creds.smtp.password,
          VIGIL_MAIL_FROM: env.VIGIL_MAIL_FROM ?? 'vigil@vigil.local',
          VIGIL_MAIL_TO: cfg.VIGIL_MAIL_TO,
          VIGIL_WORKER_METRICS: `127.0.0.1:${workerMetricsPort}`,
          VIGIL_SCORING_METRICS: `127.0.0.1:${scoringMetricsPort}`,
        },
        logFile: join(home, 'logs', 'worker.log'),
        echo: say,
        onGiveUp: giveUp,
      }),
    );
    procs.push(
      supervise({
        name: 'intake',
        entry: distEntry('workers/intake'),
        env: {
          ...common,
          VIGIL_INTAKE_HOST: '127.0.0.1',
          VIGIL_INTAKE_PORT: String(intakePort),
          VIGIL_INTAKE_KEYS: JSON.stringify([
            { id: creds.intakeKey.id, secret: creds.intakeKey.secret, sources: ['*'], hosts: ['*'] },
          ]),
          VIGIL_ADMIN_TOKEN_SHA256: createHash('sha256').update(creds.adminToken).digest('hex'),
          VIGIL_METRICS_PUBLIC: 'true', // loopback only in the dev stack
          VIGIL_DATA_DIR: home,
          ...(temporal?.uiUrl
            ? { VIGIL_CODEC_CORS_ORIGIN: temporal.uiUrl, VIGIL_CODEC_DEV_OPEN: 'true' }
            : {}),
        },
        logFile: join(home, 'logs', 'intake.log'),
        echo: say,
        onGiveUp: giveUp,
      }),
    );
    // The audit exporter: its signing key lives in keys/ (0600), apart from the log it signs.
    const auditLog = join(home, 'audit', 'audit.log');
    const auditKey = join(home, 'keys', 'audit-signing.pem');
    const signer = existsSync(auditKey) ? loadSigningKey(auditKey) : writeSigningKey(auditKey);
    creds.auditFingerprint = signer.fingerprint;
    procs.push(
      supervise({
        name: 'audit',
        entry: distEntry('workers/audit-exporter'),
        env: {
          ...common,
          VIGIL_AUDIT_LOG: auditLog,
          VIGIL_AUDIT_SIGNING_KEY: auditKey,
          VIGIL_AUDIT_TRUSTED_KEYS: signer.fingerprint,
        },
        logFile: join(home, 'logs', 'audit.log'),
        echo: say,
        onGiveUp: giveUp,
      }),
    );
    // The endpoint agent for this machine. Host isolation stays dry-run here unless the user explicitly
    // enables it: the stack must never cut the developer's own machine off the network.
    const agentMetricsPort = await freePort();
    const agentHost = env.VIGIL_AGENT_HOST ?? hostname();
    procs.push(
      supervise({
        name: 'agent',
        entry: distEntry('workers/agent'),
        env: {
          ...common,
          VIGIL_AGENT_HOST: agentHost,
          VIGIL_AGENT_STATE_DIR: env.VIGIL_AGENT_STATE_DIR ?? join(home, 'agent'),
          VIGIL_AGENT_ISOLATION: env.VIGIL_AGENT_ISOLATION ?? 'dry-run',
          VIGIL_AGENT_ALLOWED_ROOTS: env.VIGIL_AGENT_ALLOWED_ROOTS ?? '/tmp,/var/tmp,/dev/shm',
          VIGIL_AGENT_METRICS: `127.0.0.1:${agentMetricsPort}`,
        },
        logFile: join(home, 'logs', 'agent.log'),
        echo: say,
        onGiveUp: giveUp,
      }),
    );
    // Workers that hold third-party credentials run only when configured: the ticketing worker
    // (VIGIL_TICKETING) and the EDR response worker (VIGIL_RESPONDERS naming a vendor).
    if ((env.VIGIL_TICKETING ?? 'none') !== 'none') {
      procs.push(
        supervise({
          name: 'ticketing',
          entry: distEntry('workers/ticketing-worker'),
          env: common,
          logFile: join(home, 'logs', 'ticketing.log'),
          echo: say,
          onGiveUp: giveUp,
        }),
      );
    }
    if (/"(crowdstrike|defender|sentinelone)"/.test(env.VIGIL_RESPONDERS ?? '')) {
      procs.push(
        supervise({
          name: 'response',
          entry: distEntry('workers/response-worker'),
          env: common,
          logFile: join(home, 'logs', 'response.log'),
          echo: say,
          onGiveUp: giveUp,
        }),
      );
    }
    for (const p of procs) cleanups.push(() => p.stop());

    if (!(await waitHttp(`${intakeUrl}/readyz`, 60_000)))
      throw new Error(
        `the intake did not become ready on ${intakeUrl} (log: ${join(home, 'logs', 'intake.log')})`,
      );

    // Dev operators, created through the admin API like any operator (tokens are stored hashed).
    for (const [id, role] of [
      ['dev-lead', 'lead'],
      ['dev-analyst', 'analyst'],
    ] as const) {
      const res = await fetch(`${intakeUrl}/v1/admin/operators`, {
        method: 'POST',
        headers: { authorization: `Bearer ${creds.adminToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ id, role }),
      });
      if (!res.ok) throw new Error(`could not create the dev operator ${id}: HTTP ${res.status}`);
      creds.operators[id] = ((await res.json()) as { token: string }).token;
    }
    saveCredentials(home, creds);

    const state: StackState = {
      pid: process.pid,
      startedAt: new Date().toISOString(),
      home,
      temporal: {
        address,
        namespace: temporalCfg.TEMPORAL_NAMESPACE,
        uiUrl: temporal?.uiUrl,
        embedded: !!temporal,
        metricsUrl: temporal?.metricsUrl,
      },
      taskQueue: temporalCfg.VIGIL_TASK_QUEUE,
      intake: { url: intakeUrl, metricsUrl: `${intakeUrl}/metrics` },
      worker: { metricsUrl: `http://127.0.0.1:${workerMetricsPort}/metrics` },
      agent: { host: agentHost, metricsUrl: `http://127.0.0.1:${agentMetricsPort}/metrics` },
      smtp: { host: mail.host, port: mail.port, mailbox },
      deadLetters: join(home, 'intake.db'),
      audit: { log: auditLog, fingerprint: signer.fingerprint },
    };
    writeState(home, state);
    if (opts.json) printJson({ ready: true, ...state });
    say(
      [
        '',
        'Vigil is up.',
        `  Intake:          ${intakeUrl}/v1/events/{source}   (sources: ${[...ADAPTERS.keys()].join(', ')})`,
        `  Temporal UI:     ${temporal?.uiUrl ? `${temporal.uiUrl}/namespaces/${temporalCfg.TEMPORAL_NAMESPACE}/workflows` : '(external cluster: use its UI)'}`,
        `  Temporal:        ${address} (namespace ${temporalCfg.TEMPORAL_NAMESPACE})`,
        `  Metrics:         ${intakeUrl}/metrics (intake), ${state.worker.metricsUrl} (worker)${temporal ? `, ${temporal.metricsUrl} (Temporal)` : ''}`,
        `  Endpoint agent:  ${agentHost} (host isolation ${env.VIGIL_AGENT_ISOLATION ?? 'dry-run'}; metrics ${state.agent?.metricsUrl ?? '-'}; vigil agents)`,
        `  Audit log:       ${auditLog}  (vigil audit verify | show <incident> | head)`,
        `  Dev mailbox:     smtp://${mail.host}:${mail.port}  (read it with: vigil mail)`,
        `  State and data:  ${home}`,
        '',
        'Send a first event:  vigil send --source falco test/fixtures/falco/run-shell-untrusted.json',
        'Stop with Ctrl-C.',
      ].join('\n'),
    );
  } catch (e) {
    await stopAll('start-up failed');
    throw e;
  }
  const sig = await new Promise<string>((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
  await stopAll(sig);
}
