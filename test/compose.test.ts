/**
 * docker-compose.yml against the code, so the two cannot drift apart: the services and their official,
 * pinned images; every environment key a Vigil service sets is one its process reads (key lists from the
 * zod schemas); the file's values, with its defaults and test values for the required variables, pass
 * each process's own configuration loader; and the wiring (addresses, ports, start order) holds.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { AuditConfig, loadAuditConfig } from '../activities/audit/config.js';
import { NotifyConfig } from '../activities/notify/config.js';
import { SlackConfig } from '../activities/slack/config.js';
import { SlackServerConfig } from '../intake/slack.js';
import { EdrConfig } from '../activities/response/edr/config.js';
import {
  JiraConfig,
  RedmineConfig,
  RtConfig,
  ServiceNowConfig,
  TheHiveConfig,
} from '../activities/ticketing/config.js';
import { SettingsConfig } from '../activities/settings/config.js';
import { SetupConfig } from '../cli/commands/setup.js';
import { IntakeConfig, loadIntakeConfig } from '../intake/config.js';
import { AutomationConfig, TemporalConfig, type Env } from '../src/config.js';
import { PayloadKeyConfig } from '../src/codec/config.js';
import { repoRoot } from '../src/paths.js';
import { loadWorkerConfig } from '../workers/playbook-worker.js';
import { loadResponseWorkerConfig } from '../workers/response-worker.js';
import { loadTicketingWorkerConfig } from '../workers/ticketing-worker.js';

type EnvValue = string | number | boolean | null;
type PortSpec = string | number | { target: number | string; published?: number | string; host_ip?: string };
type VolumeSpec = string | { type?: string; source?: string; target: string };

interface Service {
  image?: string;
  build?: string | { context?: string; dockerfile?: string; args?: Record<string, string> };
  command?: string | string[];
  restart?: string;
  environment?: Record<string, EnvValue> | string[];
  ports?: PortSpec[];
  volumes?: VolumeSpec[];
  configs?: (string | { source: string; target?: string })[];
  secrets?: (string | { source: string; target?: string })[];
  profiles?: string[];
  depends_on?: string[] | Record<string, { condition?: string }>;
  healthcheck?: { test?: string | string[]; disable?: boolean };
}

interface ComposeFile {
  services?: Record<string, Service>;
  volumes?: Record<string, unknown>;
  configs?: Record<string, { content?: string; file?: string } | null>;
  secrets?: Record<string, { file?: string; environment?: string } | null>;
}

const root = repoRoot();
const compose = parse(readFileSync(join(root, 'docker-compose.yml'), 'utf8'), { merge: true }) as ComposeFile;

const S = {
  postgresql: 'postgresql',
  schema: 'temporal-schema',
  temporal: 'temporal',
  ui: 'temporal-ui',
  setup: 'vigil-setup',
  worker: 'vigil-worker',
  intake: 'vigil-intake',
  audit: 'vigil-audit-exporter',
  ticketing: 'vigil-ticketing',
  edr: 'vigil-response-edr',
} as const;
const VIGIL_SERVICES = [S.setup, S.worker, S.intake, S.audit, S.ticketing, S.edr] as const;
/** Optional services and the compose profile that starts each; every other service is always on. */
const PROFILES: Record<string, string> = { [S.ticketing]: 'ticketing', [S.edr]: 'edr' };

function service(name: string): Service {
  const s = compose.services?.[name];
  if (!s) throw new Error(`docker-compose.yml has no service "${name}"`);
  return s;
}

// ---- interpolation, as docker compose does it ----

/** What an operator's .env sets for the variables the file requires (`${VAR:?message}`): valid values. */
const ADMIN_TOKEN = 'test-admin-token-for-the-compose-test';
const REQUIRED_VARS: Record<string, string> = {
  POSTGRES_PASSWORD: 'test-postgres-password',
  VIGIL_INTAKE_KEYS: JSON.stringify([
    { id: 'falco-1', secret: 's'.repeat(40), sources: ['falco'], hosts: ['*'] },
  ]),
  VIGIL_ADMIN_TOKEN_SHA256: createHash('sha256').update(ADMIN_TOKEN).digest('hex'),
  SMTP_HOST: 'smtp.example.org',
  VIGIL_MAIL_FROM: 'vigil@example.org',
  VIGIL_MAIL_TO: 'soc@example.org, oncall@example.org',
  VIGIL_PAYLOAD_KEYS: `k1:${Buffer.alloc(32, 7).toString('base64')}`,
  VIGIL_AUDIT_TRUSTED_KEYS: `sha256:${createHash('sha256').update('audit key').digest('hex')}`,
};

/** What an operator's .env adds to use each ticketing system (every key the system requires). */
const TICKETING_VARS: Record<string, Record<string, string>> = {
  jira: {
    JIRA_URL: 'https://example.atlassian.net',
    JIRA_EMAIL: 'vigil@example.org',
    JIRA_API_TOKEN: 'jira-token',
    JIRA_PROJECT: 'SEC',
  },
  servicenow: { SERVICENOW_URL: 'https://example.service-now.com', SERVICENOW_TOKEN: 'sn-token' },
  thehive: { THEHIVE_URL: 'https://thehive.example.org', THEHIVE_API_KEY: 'hive-key' },
  rt: { RT_URL: 'https://rt.example.org', RT_TOKEN: 'rt-token' },
  redmine: {
    REDMINE_URL: 'https://redmine.example.org',
    REDMINE_API_KEY: 'redmine-key',
    REDMINE_PROJECT: 'security',
  },
};

/** ... and each EDR vendor (VIGIL_RESPONDERS routes some hosts to it). */
const EDR_VARS: Record<string, Record<string, string>> = {
  crowdstrike: { VIGIL_CROWDSTRIKE_CLIENT_ID: 'cs-id', VIGIL_CROWDSTRIKE_CLIENT_SECRET: 'cs-secret' },
  defender: {
    VIGIL_DEFENDER_TENANT_ID: '00000000-0000-0000-0000-000000000001',
    VIGIL_DEFENDER_CLIENT_ID: 'md-id',
    VIGIL_DEFENDER_CLIENT_SECRET: 'md-secret',
  },
  sentinelone: {
    VIGIL_SENTINELONE_BASE_URL: 'https://example.sentinelone.net',
    VIGIL_SENTINELONE_API_TOKEN: 's1-token',
  },
};

const VAR_REF = /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g;

/** Compose interpolation: `$$`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?msg}`, `${VAR?msg}`. */
function interpolate(value: string, vars: Record<string, string>): string {
  const out = value.replace(
    VAR_REF,
    (
      match,
      braced: string | undefined,
      op: string | undefined,
      arg: string | undefined,
      bare: string | undefined,
    ) => {
      if (match === '$$') return '$';
      const name = braced ?? bare ?? '';
      const v = vars[name];
      const isSet = v !== undefined && (v !== '' || !op?.startsWith(':'));
      if (op === ':-' || op === '-') return isSet ? v : (arg ?? '');
      if (op === ':?' || op === '?') {
        if (isSet) return v;
        throw new Error(
          `\${${name}} is required ("${arg ?? ''}"): give it a valid test value in REQUIRED_VARS`,
        );
      }
      if (v === undefined) throw new Error(`\${${name}} has neither a default nor a test value`);
      return v;
    },
  );
  if (out.includes('${')) throw new Error(`unsupported interpolation (nested?) in ${value}`);
  return out;
}

function rawEnv(name: string): Record<string, EnvValue> {
  const env = service(name).environment ?? {};
  if (Array.isArray(env)) throw new Error(`${name}: write environment as a mapping (KEY: value)`);
  return env;
}

/** The container environment of a service: interpolated; a key without a value passes through when set. */
function serviceEnv(name: string, vars: Record<string, string> = REQUIRED_VARS): Env {
  const out: Env = {};
  for (const [key, value] of Object.entries(rawEnv(name))) {
    if (value === null) {
      if (vars[key] !== undefined) out[key] = vars[key];
    } else {
      out[key] = interpolate(String(value), vars);
    }
  }
  return out;
}

/** The same environment with every `KEY: ${KEY:-default}` left out, i.e. with the code's own defaults. */
function envWithoutComposeDefaults(name: string): Env {
  const env = serviceEnv(name);
  for (const [key, value] of Object.entries(rawEnv(name))) {
    if (typeof value === 'string' && new RegExp(`^\\$\\{${key}:?-[^}]*\\}$`).test(value)) delete env[key];
  }
  return env;
}

// ---- the keys each process reads ----

/** Every env key a loader reads (those with no exported schema too, e.g. VIGIL_ATTACK_TABLE). */
function keysRead(load: (env: Env) => unknown, env: Env): Set<string> {
  const read = new Set<string>();
  const probe = new Proxy(env, {
    get(target, key, receiver) {
      if (typeof key === 'string') read.add(key);
      return Reflect.get(target, key, receiver) as unknown;
    },
  });
  load(probe);
  return read;
}

const shapeKeys = (...schemas: { shape: object }[]) => schemas.flatMap((s) => Object.keys(s.shape));
const WORKER_SCHEMA_KEYS = shapeKeys(TemporalConfig, NotifyConfig, SettingsConfig, PayloadKeyConfig);

function knownKeys(name: (typeof VIGIL_SERVICES)[number]): Set<string> {
  switch (name) {
    case S.setup:
      return new Set(shapeKeys(SetupConfig));
    case S.intake:
      return new Set(shapeKeys(IntakeConfig, PayloadKeyConfig, AutomationConfig, SlackServerConfig));
    case S.worker:
      // Slack's keys are read only once SLACK_BOT_TOKEN is set (unset here): from its schema.
      return new Set([
        ...WORKER_SCHEMA_KEYS,
        ...shapeKeys(SlackConfig),
        ...keysRead(loadWorkerConfig, serviceEnv(S.worker)),
      ]);
    case S.audit:
      return new Set(shapeKeys(AuditConfig, TemporalConfig, PayloadKeyConfig));
    case S.ticketing:
      return new Set([
        ...keysRead(loadTicketingWorkerConfig, serviceEnv(S.ticketing)),
        ...shapeKeys(JiraConfig, ServiceNowConfig, TheHiveConfig, RtConfig, RedmineConfig),
      ]);
    case S.edr:
      return new Set([...shapeKeys(EdrConfig), ...keysRead(loadResponseWorkerConfig, serviceEnv(S.edr))]);
  }
}

// ---- ports, dependencies ----

function containerPorts(name: string): number[] {
  return (service(name).ports ?? []).map((p) => {
    if (typeof p === 'object') return Number(interpolate(String(p.target), {}));
    const spec = interpolate(String(p), {}).replace(/\/(tcp|udp)$/, '');
    return Number(spec.split(':').pop());
  });
}

function dependsOn(name: string): Record<string, string> {
  const d = service(name).depends_on ?? {};
  if (Array.isArray(d)) return Object.fromEntries(d.map((n) => [n, 'service_started']));
  return Object.fromEntries(Object.entries(d).map(([n, v]) => [n, v.condition ?? 'service_started']));
}

function imageTag(image: string | undefined): { repo: string; tag: string | undefined } {
  const ref = image ?? '';
  const at = ref.lastIndexOf(':');
  return at > ref.lastIndexOf('/')
    ? { repo: ref.slice(0, at), tag: ref.slice(at + 1) }
    : { repo: ref, tag: undefined };
}

const temporalGrpcPort = () => Number(serviceEnv(S.temporal).FRONTEND_GRPC_PORT ?? 7233);

describe('docker-compose.yml', () => {
  it('has the stack: PostgreSQL, Temporal (schema, server, UI) and Vigil (setup, worker, intake, audit; ticketing, EDR)', () => {
    expect(Object.keys(compose.services ?? {}).sort()).toEqual(Object.values(S).sort());
  });

  it('runs the official Temporal and PostgreSQL images with pinned tags', () => {
    const expected: [string, string][] = [
      [S.postgresql, 'postgres'],
      [S.schema, 'temporalio/admin-tools'],
      [S.temporal, 'temporalio/server'],
      [S.ui, 'temporalio/ui'],
    ];
    for (const [name, repo] of expected) {
      const { repo: actual, tag } = imageTag(service(name).image);
      expect(actual, name).toBe(repo);
      expect(tag, `${name}: pin a tag`).toMatch(/^\d[\w.-]*$/);
    }
    // The schema tool must match the server it prepares the database for.
    expect(imageTag(service(S.schema).image).tag).toBe(imageTag(service(S.temporal).image).tag);
  });

  it('builds the Vigil services from this repository and runs entry points that exist', () => {
    const entry: Record<string, RegExp> = {
      [S.setup]: /^node bin\/vigil\.js setup$/,
      [S.worker]: /^node dist\/workers\/playbook-worker\.js$/,
      [S.intake]: /^node dist\/workers\/intake\.js$/,
      [S.audit]: /^node dist\/workers\/audit-exporter\.js$/,
      [S.ticketing]: /^node dist\/workers\/ticketing-worker\.js$/,
      [S.edr]: /^node dist\/workers\/response-worker\.js$/,
    };
    expect(existsSync(join(root, 'Dockerfile'))).toBe(true);
    for (const name of VIGIL_SERVICES) {
      const s = service(name);
      const context = typeof s.build === 'string' ? s.build : s.build?.context;
      expect(context, `${name}: build`).toBe('.');
      const command = Array.isArray(s.command) ? s.command : (s.command ?? '').split(/\s+/);
      expect(command.join(' '), name).toMatch(entry[name] ?? /^$/);
      for (const arg of command) {
        const m = /^dist\/(.+)\.js$/.exec(arg);
        if (m) expect(existsSync(join(root, `${m[1]}.ts`)), `${arg} is built from ${m[1]}.ts`).toBe(true);
        if (arg.startsWith('bin/')) expect(existsSync(join(root, arg)), arg).toBe(true);
      }
    }
  });

  it('sets on each Vigil service only environment keys its process reads', () => {
    // The probe must see the schemas the worker is documented to use.
    const read = keysRead(loadWorkerConfig, serviceEnv(S.worker));
    expect(WORKER_SCHEMA_KEYS.filter((k) => !read.has(k))).toEqual([]);
    for (const name of VIGIL_SERVICES) {
      const known = knownKeys(name);
      const unknown = Object.keys(rawEnv(name)).filter((k) => !known.has(k));
      expect(unknown, `${name} sets keys no schema of its process reads`).toEqual([]);
    }
  });

  it('gives each process a configuration its own loader accepts', () => {
    const worker = loadWorkerConfig(serviceEnv(S.worker));
    expect(worker.notify.VIGIL_MAIL_TO).toEqual(['soc@example.org', 'oncall@example.org']);
    expect(worker.notify.SMTP_USER).toBeUndefined();
    expect(worker.metrics.VIGIL_WORKER_METRICS).toMatch(/^0\.0\.0\.0:\d+$/);
    expect(existsSync(worker.enrichment.VIGIL_ATTACK_TABLE)).toBe(true);

    const intake = loadIntakeConfig(serviceEnv(S.intake));
    expect(intake.VIGIL_INTAKE_HOST, 'listen on all interfaces inside the container').toBe('0.0.0.0');
    expect(intake.VIGIL_INTAKE_KEYS.map((k) => k.id)).toEqual(['falco-1']);

    const setup = SetupConfig.parse(serviceEnv(S.setup));
    expect(setup.VIGIL_RETENTION_DAYS).toBeGreaterThanOrEqual(1);

    const audit = loadAuditConfig(serviceEnv(S.audit));
    expect(audit.audit.VIGIL_AUDIT_TRUSTED_KEYS).toHaveLength(1);
    expect(audit.audit.VIGIL_AUDIT_METRICS).toMatch(/^0\.0\.0\.0:\d+$/);

    // Profiles on, nothing else set: no ticketing system, every host to its agent.
    expect(loadTicketingWorkerConfig(serviceEnv(S.ticketing)).ticketing.VIGIL_TICKETING).toBe('none');
    expect(loadResponseWorkerConfig(serviceEnv(S.edr)).edr.VIGIL_RESPONDERS).toEqual({ '*': 'agent' });
  });

  it("passes each ticketing system's keys through to the ticketing worker alone", () => {
    for (const [system, keys] of Object.entries(TICKETING_VARS)) {
      const vars = { ...REQUIRED_VARS, VIGIL_TICKETING: system, ...keys };
      const cfg = loadTicketingWorkerConfig(serviceEnv(S.ticketing, vars));
      expect(cfg.ticketing.VIGIL_TICKETING, system).toBe(system);
      for (const key of Object.keys(keys)) {
        expect(rawEnv(S.ticketing)[key], `${key}: no value, from .env`).toBeNull();
        expect(serviceEnv(S.worker, vars)[key], `the playbook worker never gets ${key}`).toBeUndefined();
      }
      // Playbooks open tickets on the queue the ticketing worker polls.
      const settings = loadWorkerConfig(serviceEnv(S.worker, vars)).settings.ticketing;
      expect(settings).toEqual({ system, taskQueue: cfg.queue });
    }
    const queue = {
      ...REQUIRED_VARS,
      VIGIL_TICKETING: 'rt',
      ...TICKETING_VARS.rt,
      VIGIL_TICKETING_TASK_QUEUE: 'tq',
    };
    expect(loadTicketingWorkerConfig(serviceEnv(S.ticketing, queue)).queue).toBe('tq');
    expect(loadWorkerConfig(serviceEnv(S.worker, queue)).settings.ticketing?.taskQueue).toBe('tq');
  });

  it("passes each EDR vendor's keys through to the response worker alone, with the worker's routes", () => {
    for (const [vendor, keys] of Object.entries(EDR_VARS)) {
      const routes = { 'web-*': vendor, '*': 'agent' };
      const vars = { ...REQUIRED_VARS, VIGIL_RESPONDERS: JSON.stringify(routes), ...keys };
      const cfg = loadResponseWorkerConfig(serviceEnv(S.edr, vars));
      expect(cfg.edr.VIGIL_RESPONDERS, vendor).toEqual(routes);
      expect(loadWorkerConfig(serviceEnv(S.worker, vars)).responders, 'the worker routes alike').toEqual(
        routes,
      );
      for (const key of Object.keys(keys)) {
        expect(rawEnv(S.edr)[key], `${key}: no value, from .env`).toBeNull();
        expect(serviceEnv(S.worker, vars)[key], `the playbook worker never gets ${key}`).toBeUndefined();
      }
      // A vendor routed to without its keys stops the response worker, naming a key.
      const bare = { ...REQUIRED_VARS, VIGIL_RESPONDERS: JSON.stringify(routes) };
      expect(() => loadResponseWorkerConfig(serviceEnv(S.edr, bare)), vendor).toThrow(/VIGIL_/);
    }
  });

  it('puts the ticketing and EDR workers behind profiles, and nothing always-on depends on them', () => {
    for (const [name, s] of Object.entries(compose.services ?? {})) {
      expect(s.profiles ?? [], name).toEqual(PROFILES[name] ? [PROFILES[name]] : []);
      if (PROFILES[name]) continue;
      for (const dep of Object.keys(dependsOn(name)))
        expect(PROFILES[dep], `${name} depends on ${dep}`).toBeUndefined();
    }
  });

  it('mounts the audit signing key as a secret, apart from the audit log volume', () => {
    const { audit } = loadAuditConfig(serviceEnv(S.audit));
    const mounts = (service(S.audit).secrets ?? []).map((m) =>
      typeof m === 'string' ? { source: m, target: m } : { source: m.source, target: m.target ?? m.source },
    );
    const key = mounts.find(
      (m) =>
        (m.target.startsWith('/') ? m.target : `/run/secrets/${m.target}`) === audit.VIGIL_AUDIT_SIGNING_KEY,
    );
    expect(
      key,
      `a secret mounted at VIGIL_AUDIT_SIGNING_KEY (${audit.VIGIL_AUDIT_SIGNING_KEY})`,
    ).toBeDefined();
    const file = compose.secrets?.[key?.source ?? '']?.file;
    expect(file, `secrets.${key?.source}.file`).toBeTypeOf('string');
    // Only the exporter holds the key.
    for (const [name, s] of Object.entries(compose.services ?? {}))
      if (name !== S.audit) expect(s.secrets ?? [], name).toEqual([]);
    // A key file inside the repository stays out of git and out of the image's build context.
    const path = interpolate(file ?? '', {});
    if (!path.startsWith('/')) {
      const top = path.replace(/^\.\//, '').split('/')[0] ?? '';
      const ignoredByDocker = readFileSync(join(root, '.dockerignore'), 'utf8').split('\n');
      expect(ignoredByDocker, `.dockerignore excludes ${top}`).toContain(top);
      expect(
        readFileSync(join(root, '.gitignore'), 'utf8').split('\n'),
        `.gitignore excludes ${top}/`,
      ).toContain(`${top}/`);
    }
    // The log and its index on a named volume, the key on none of them.
    const volumes = (service(S.audit).volumes ?? []).map((v) =>
      typeof v === 'string' ? { source: v.split(':')[0], target: v.split(':')[1] ?? '' } : v,
    );
    const logVolume = volumes.find((v) => audit.VIGIL_AUDIT_LOG.startsWith(`${v.target}/`));
    expect(logVolume, 'a volume holds VIGIL_AUDIT_LOG').toBeDefined();
    expect(Object.keys(compose.volumes ?? {})).toContain(logVolume?.source);
    expect(audit.VIGIL_AUDIT_INDEX.startsWith(`${logVolume?.target}/`), 'the index beside the log').toBe(
      true,
    );
    for (const v of volumes)
      expect(audit.VIGIL_AUDIT_SIGNING_KEY.startsWith(`${v.target}/`), `key outside ${v.target}`).toBe(false);
  });

  it('passes SMTP credentials through from the environment, both together', () => {
    const env = rawEnv(S.worker);
    expect(env.SMTP_USER, 'no value: taken from the environment or .env').toBeNull();
    expect(env.SMTP_PASSWORD, 'no value: taken from the environment or .env').toBeNull();
    const withAuth = { ...REQUIRED_VARS, SMTP_USER: 'vigil', SMTP_PASSWORD: 'smtp-secret' };
    const cfg = loadWorkerConfig(serviceEnv(S.worker, withAuth));
    expect([cfg.notify.SMTP_USER, cfg.notify.SMTP_PASSWORD]).toEqual(['vigil', 'smtp-secret']);
  });

  it('keeps the code defaults: a ${KEY:-default} only exposes the setting', () => {
    // A deliberate production value differs from the code default: write it literally instead.
    expect(loadWorkerConfig(serviceEnv(S.worker))).toEqual(
      loadWorkerConfig(envWithoutComposeDefaults(S.worker)),
    );
    expect(loadIntakeConfig(serviceEnv(S.intake))).toEqual(
      loadIntakeConfig(envWithoutComposeDefaults(S.intake)),
    );
    expect(SetupConfig.parse(serviceEnv(S.setup))).toEqual(
      SetupConfig.parse(envWithoutComposeDefaults(S.setup)),
    );
    expect(loadAuditConfig(serviceEnv(S.audit))).toEqual(loadAuditConfig(envWithoutComposeDefaults(S.audit)));
    // The codec holds keys and closures: compare the rest.
    const tk = (env: Env) => ({ ...loadTicketingWorkerConfig(env), codec: undefined });
    expect(tk(serviceEnv(S.ticketing))).toEqual(tk(envWithoutComposeDefaults(S.ticketing)));
    const rw = (env: Env) => ({ ...loadResponseWorkerConfig(env), codec: undefined });
    expect(rw(serviceEnv(S.edr))).toEqual(rw(envWithoutComposeDefaults(S.edr)));
    for (const name of [S.worker, S.intake])
      expect(AutomationConfig.parse(serviceEnv(name)), name).toEqual(AutomationConfig.parse({}));
  });

  it('commits no secret: passwords, keys and tokens come from the environment', () => {
    const SECRET = /PASSWORD|PWD|SECRET|TOKEN|_KEYS$/;
    for (const [name, s] of Object.entries(compose.services ?? {})) {
      const env = s.environment && !Array.isArray(s.environment) ? s.environment : {};
      for (const [key, value] of Object.entries(env)) {
        if (!SECRET.test(key) || value === null) continue;
        expect(String(value), `${name}.${key}`).toMatch(/^\$\{[A-Z_][A-Z0-9_]*:\?[^}]+\}$/);
      }
    }
  });

  it('points every Temporal client at the temporal service gRPC port', () => {
    const port = temporalGrpcPort();
    expect(containerPorts(S.temporal)).toContain(port);
    for (const name of [...VIGIL_SERVICES, S.ui]) {
      expect(serviceEnv(name).TEMPORAL_ADDRESS, name).toBe(`${S.temporal}:${port}`);
    }
    // One namespace and task queue: the intake starts workflows where the worker polls.
    const temporal = VIGIL_SERVICES.map((n) => TemporalConfig.parse(serviceEnv(n)));
    for (const t of temporal) expect(t).toEqual(temporal[0]);
    expect(serviceEnv(S.ui).TEMPORAL_DEFAULT_NAMESPACE).toBe(temporal[0]?.TEMPORAL_NAMESPACE);
  });

  it('connects Temporal and its schema job to the postgresql service with one password', () => {
    const db = serviceEnv(S.postgresql);
    const server = serviceEnv(S.temporal);
    expect(server.DB).toBe('postgres12');
    expect(server.POSTGRES_SEEDS).toBe(S.postgresql);
    expect(server.POSTGRES_USER).toBe(db.POSTGRES_USER);
    expect(server.POSTGRES_PWD).toBe(db.POSTGRES_PASSWORD);
    expect(serviceEnv(S.schema).SQL_PASSWORD).toBe(db.POSTGRES_PASSWORD);
    expect(serviceEnv(S.schema).POSTGRES_USER).toBe(db.POSTGRES_USER);
  });

  it('gives the Temporal server the dynamic config file it reads', () => {
    const path = serviceEnv(S.temporal).DYNAMIC_CONFIG_FILE_PATH;
    const mount = (service(S.temporal).configs ?? []).find((c) => typeof c === 'object' && c.target === path);
    expect(mount, `a config mounted at ${path}`).toBeDefined();
    const source = typeof mount === 'object' ? mount.source : '';
    const content = compose.configs?.[source]?.content;
    expect(content, `configs.${source}.content`).toBeTypeOf('string');
    expect(() => parse(content ?? '') as unknown).not.toThrow();
  });

  it('publishes the intake on the port it listens on, and keeps its dead letters on a volume', () => {
    const intake = loadIntakeConfig(serviceEnv(S.intake));
    // The intake's own port, and the Slack interaction server's (Bolt's HTTP receiver, when configured).
    const slackPort = Number(serviceEnv(S.intake).VIGIL_SLACK_PORT);
    expect(containerPorts(S.intake)).toEqual([intake.VIGIL_INTAKE_PORT, slackPort]);
    expect(slackPort).not.toBe(intake.VIGIL_INTAKE_PORT);
    const health = JSON.stringify(service(S.intake).healthcheck?.test ?? '');
    expect(health).toContain(`127.0.0.1:${intake.VIGIL_INTAKE_PORT}/`);
    const volumes = (service(S.intake).volumes ?? []).map((v) =>
      typeof v === 'string' ? { source: v.split(':')[0], target: v.split(':')[1] } : v,
    );
    const data = volumes.find((v) => v.target === intake.VIGIL_DATA_DIR);
    expect(data, `a volume at VIGIL_DATA_DIR (${intake.VIGIL_DATA_DIR})`).toBeDefined();
    expect(Object.keys(compose.volumes ?? {}), 'a named volume').toContain(data?.source);
  });

  it('checks the worker, the audit exporter and the EDR worker on their metrics endpoints', () => {
    const checks: [string, string | undefined][] = [
      [S.worker, loadWorkerConfig(serviceEnv(S.worker)).metrics.VIGIL_WORKER_METRICS],
      [S.audit, loadAuditConfig(serviceEnv(S.audit)).audit.VIGIL_AUDIT_METRICS],
      [S.edr, loadResponseWorkerConfig(serviceEnv(S.edr)).metrics.VIGIL_RESPONSE_METRICS],
    ];
    for (const [name, hostPort] of checks) {
      const port = hostPort?.split(':')[1];
      expect(port, name).toBeDefined();
      expect(JSON.stringify(service(name).healthcheck?.test ?? ''), name).toContain(`127.0.0.1:${port}/`);
    }
    // The worker's two endpoints (Temporal runtime, scoring) on distinct ports.
    const w = loadWorkerConfig(serviceEnv(S.worker));
    expect(w.scoring.VIGIL_SCORING_METRICS).toMatch(/^0\.0\.0\.0:\d+$/);
    expect(w.scoring.VIGIL_SCORING_METRICS).not.toBe(w.metrics.VIGIL_WORKER_METRICS);
  });

  it('starts in order: database, schema, Temporal, vigil setup, then the worker and the intake', () => {
    expect(dependsOn(S.schema)[S.postgresql]).toBe('service_healthy');
    expect(dependsOn(S.temporal)[S.postgresql]).toBe('service_healthy');
    expect(dependsOn(S.temporal)[S.schema]).toBe('service_completed_successfully');
    expect(dependsOn(S.setup)[S.temporal]).toBe('service_healthy');
    expect(dependsOn(S.worker)[S.setup]).toBe('service_completed_successfully');
    expect(dependsOn(S.intake)[S.setup]).toBe('service_completed_successfully');
    for (const name of [S.audit, S.ticketing, S.edr])
      expect(dependsOn(name)[S.setup], name).toBe('service_completed_successfully');
    for (const name of Object.keys(compose.services ?? {})) {
      for (const [dep, condition] of Object.entries(dependsOn(name))) {
        if (condition === 'service_healthy') {
          expect(service(dep).healthcheck?.test, `${name} waits for ${dep} to be healthy`).toBeDefined();
        }
        if (condition === 'service_completed_successfully') {
          // A one-shot that restarts after success never stays completed.
          expect(service(dep).restart ?? 'no', `${dep} is a one-shot`).toMatch(/^(no|on-failure(:\d+)?)$/);
        }
      }
    }
  });
});

describe('Dockerfile and .dockerignore', () => {
  const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');
  const ignored = readFileSync(join(root, '.dockerignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));

  it('builds on bookworm and runs on bookworm-slim, with data/ for the worker', () => {
    expect(dockerfile).toMatch(/^FROM node:\$\{NODE_VERSION\}-bookworm AS build$/m);
    expect(dockerfile).toMatch(/^FROM node:\$\{NODE_VERSION\}-bookworm-slim AS runtime$/m);
    expect(dockerfile).toMatch(/^ARG NODE_VERSION=20$/m);
    for (const dir of ['package.json', 'node_modules', 'dist', 'bin', 'data']) {
      expect(dockerfile, `runtime copies ${dir}`).toContain(`COPY --from=build /app/${dir} `);
    }
  });

  it('ships what the processes read by default: policies, the signed model and its keys', () => {
    const w = loadWorkerConfig(serviceEnv(S.worker));
    const paths = [
      w.policy.VIGIL_POLICY_DIR,
      w.scoring.VIGIL_MODEL_DIR,
      w.scoring.VIGIL_MODEL_KEYS_DIR,
      w.enrichment.VIGIL_ATTACK_TABLE,
    ];
    for (const path of paths) {
      const rel = relative(root, path);
      expect(rel.startsWith('..'), `${path} is in the repository`).toBe(false);
      const copied = [...dockerfile.matchAll(/^COPY --from=build \/app\/(\S+) /gm)].map((m) => m[1] ?? '');
      expect(
        copied.some((c) => rel === c || rel.startsWith(`${c}/`)),
        `the runtime image copies ${rel}`,
      ).toBe(true);
      expect(existsSync(path), path).toBe(true);
      expect(ignored, `.dockerignore keeps ${rel.split('/')[0]}`).not.toContain(rel.split('/')[0]);
    }
  });

  it('records the build: a VIGIL_BUILD_ID build arg, in the image environment, passed by compose', () => {
    const runtime = dockerfile.slice(dockerfile.indexOf('AS runtime'));
    expect(runtime).toMatch(/^ARG VIGIL_BUILD_ID=?$/m);
    expect(runtime).toMatch(/^ENV VIGIL_BUILD_ID=\$\{VIGIL_BUILD_ID\}$/m);
    for (const name of VIGIL_SERVICES) {
      const b = service(name).build;
      const args = typeof b === 'object' ? (b as { args?: Record<string, string> }).args : undefined;
      expect(args?.VIGIL_BUILD_ID, name).toBe('${VIGIL_BUILD_ID:-}');
    }
    // Unset, the image's empty value leaves the worker's own build id; set, incidents carry it.
    const unset = loadWorkerConfig({ ...serviceEnv(S.worker), VIGIL_BUILD_ID: '' }).settings.build?.id;
    expect(unset).toBe(loadWorkerConfig(serviceEnv(S.worker)).settings.build?.id);
    const set = loadWorkerConfig({ ...serviceEnv(S.worker), VIGIL_BUILD_ID: 'v1.4.2-3-gabc1234' });
    expect(set.settings.build?.id).toBe('v1.4.2-3-gabc1234');
  });

  it('keeps in the build context what the build reads', () => {
    const build = JSON.parse(readFileSync(join(root, 'tsconfig.build.json'), 'utf8')) as {
      include?: string[];
    };
    const needed = [
      'package.json',
      'package-lock.json',
      '.npmrc',
      'tsconfig.json',
      'tsconfig.build.json',
      'bin',
      'data',
    ];
    for (const path of [...needed, ...(build.include ?? [])]) {
      expect(ignored, `.dockerignore must not exclude ${path}`).not.toContain(path);
    }
    expect(ignored).toContain('node_modules');
  });
});
