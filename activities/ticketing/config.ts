/**
 * Ticketing configuration: VIGIL_TICKETING picks the system; only that system's keys are read, and a
 * missing one (a secret included) stops the worker with a ConfigError naming it.
 */
import { z } from 'zod';
import { Bool, Duration, parseEnv, type Env } from '../../src/config.js';
import { ConfigError } from '../../src/errors.js';
import { DestinationRefused, OutboundConfig, OutboundGuard, outboundPolicy } from '../lib/ssrf.js';

const Secret = z.string().min(1);
const BaseUrl = z
  .url({ protocol: /^https?$/, error: 'expected an http(s) URL' })
  .transform((u) => u.replace(/\/+$/, ''));

const Common = OutboundConfig.extend({
  VIGIL_TICKETING: z.enum(['none', 'jira', 'servicenow', 'thehive', 'rt', 'redmine']).default('none'),
  /** Deadline of every request to the ticketing system. */
  VIGIL_TICKETING_TIMEOUT: Duration.default(10_000),
  /** Plain http sends the credential in clear text: only for a server on the same host or a test. */
  VIGIL_TICKETING_ALLOW_HTTP: Bool.default(false),
});

export const JiraConfig = z.object({
  JIRA_URL: BaseUrl,
  JIRA_EMAIL: z.string().min(1),
  JIRA_API_TOKEN: Secret,
  JIRA_PROJECT: z.string().regex(/^[A-Z][A-Z0-9_]{0,19}$/, 'expected a Jira project key such as SEC'),
  JIRA_ISSUE_TYPE: z.string().min(1).default('Task'),
  JIRA_START_TRANSITION: z.string().min(1).default('In Progress'),
  JIRA_DONE_TRANSITION: z.string().min(1).default('Done'),
});
export const ServiceNowConfig = z
  .object({
    SERVICENOW_URL: BaseUrl,
    SERVICENOW_USER: z.string().min(1).optional(),
    SERVICENOW_PASSWORD: Secret.optional(),
    /** An OAuth access token, instead of user + password. */
    SERVICENOW_TOKEN: Secret.optional(),
    SERVICENOW_ASSIGNMENT_GROUP: z.string().min(1).optional(),
    SERVICENOW_CLOSE_CODE: z.string().min(1).default('Solution provided'),
  })
  .superRefine((c, ctx) => {
    if (c.SERVICENOW_TOKEN) return;
    for (const key of ['SERVICENOW_USER', 'SERVICENOW_PASSWORD'] as const)
      if (!c[key])
        ctx.addIssue({ code: 'custom', path: [key], message: 'is required (or set SERVICENOW_TOKEN)' });
  });
export const TheHiveConfig = z.object({
  THEHIVE_URL: BaseUrl,
  THEHIVE_API_KEY: Secret,
  THEHIVE_ORGANISATION: z.string().min(1).optional(),
});
export const RtConfig = z.object({
  RT_URL: BaseUrl,
  RT_TOKEN: Secret,
  RT_QUEUE: z.string().min(1).default('General'),
});
export const RedmineConfig = z.object({
  REDMINE_URL: BaseUrl,
  REDMINE_API_KEY: Secret,
  REDMINE_PROJECT: z.string().min(1),
  REDMINE_TRACKER: z.string().min(1).optional(),
  REDMINE_IN_PROGRESS_STATUS: z.string().min(1).default('In Progress'),
  REDMINE_CLOSED_STATUS: z.string().min(1).default('Closed'),
});

export type JiraConfig = z.infer<typeof JiraConfig>;
export type ServiceNowConfig = z.infer<typeof ServiceNowConfig>;
export type TheHiveConfig = z.infer<typeof TheHiveConfig>;
export type RtConfig = z.infer<typeof RtConfig>;
export type RedmineConfig = z.infer<typeof RedmineConfig>;

type CommonConfig = z.infer<typeof Common>;
export type TicketingConfig = CommonConfig &
  (
    | { VIGIL_TICKETING: 'none' }
    | { VIGIL_TICKETING: 'jira'; jira: JiraConfig }
    | { VIGIL_TICKETING: 'servicenow'; servicenow: ServiceNowConfig }
    | { VIGIL_TICKETING: 'thehive'; thehive: TheHiveConfig }
    | { VIGIL_TICKETING: 'rt'; rt: RtConfig }
    | { VIGIL_TICKETING: 'redmine'; redmine: RedmineConfig }
  );

const URL_KEY = {
  jira: 'JIRA_URL',
  servicenow: 'SERVICENOW_URL',
  thehive: 'THEHIVE_URL',
  rt: 'RT_URL',
  redmine: 'REDMINE_URL',
} as const;

export function loadTicketingConfig(env: Env): TicketingConfig {
  const common = parseEnv(Common, env, 'ticketing configuration');
  const ctx = 'ticketing configuration';
  let cfg: TicketingConfig;
  switch (common.VIGIL_TICKETING) {
    case 'none':
      return { ...common, VIGIL_TICKETING: 'none' };
    case 'jira':
      cfg = { ...common, VIGIL_TICKETING: 'jira', jira: parseEnv(JiraConfig, env, ctx) };
      break;
    case 'servicenow':
      cfg = { ...common, VIGIL_TICKETING: 'servicenow', servicenow: parseEnv(ServiceNowConfig, env, ctx) };
      break;
    case 'thehive':
      cfg = { ...common, VIGIL_TICKETING: 'thehive', thehive: parseEnv(TheHiveConfig, env, ctx) };
      break;
    case 'rt':
      cfg = { ...common, VIGIL_TICKETING: 'rt', rt: parseEnv(RtConfig, env, ctx) };
      break;
    case 'redmine':
      cfg = { ...common, VIGIL_TICKETING: 'redmine', redmine: parseEnv(RedmineConfig, env, ctx) };
      break;
  }
  const key = URL_KEY[cfg.VIGIL_TICKETING];
  const url = env[key] ?? '';
  if (url.startsWith('http:') && !cfg.VIGIL_TICKETING_ALLOW_HTTP)
    throw new ConfigError(
      [
        {
          key,
          message:
            'uses plain http, which sends the credential in clear text; use https (or set VIGIL_TICKETING_ALLOW_HTTP=true for a local server)',
        },
      ],
      ctx,
    );
  // An IP literal can be judged now; names are checked each time they are resolved.
  try {
    new OutboundGuard(outboundPolicy(cfg)).checkUrl(url);
  } catch (e) {
    if (e instanceof DestinationRefused) throw new ConfigError([{ key, message: e.message }], ctx);
    throw e;
  }
  return cfg;
}
