/**
 * Slack configuration for the playbook worker (posting) and the interaction server (intake/slack.ts reads
 * the same keys plus its own). Slack is optional: with no SLACK_BOT_TOKEN nothing is posted; once it is
 * set, every key is validated and a bad one stops the process naming the key.
 */
import { z } from 'zod';
import { CsvList, Duration, parseEnv, type Env } from '../../src/config.js';

const GroupIds = CsvList.pipe(
  z.array(z.string().regex(/^S[A-Z0-9]{2,20}$/, 'user group ids look like S0123ABCD')),
);

export const SlackConfig = z.object({
  /** A bot token (xoxb-...). Scopes: chat:write, channels:history (groups:history for a private channel). */
  SLACK_BOT_TOKEN: z.string().regex(/^xoxb-[A-Za-z0-9-]{10,}$/, 'must be a bot token (xoxb-...)'),
  /** The channel id (C... or G...) approval requests and notifications go to; invite the bot there. */
  SLACK_CHANNEL: z.string().regex(/^[CG][A-Z0-9]{2,20}$/, 'must be a channel id like C0123ABCD (not a name)'),
  /** User groups asked to approve (mentioned on the request; the server also checks membership at click time). */
  SLACK_APPROVER_GROUPS: GroupIds.default([]),
  /** User groups mentioned when an unanswered approval escalates (the ladder's second step). */
  SLACK_ESCALATION_GROUPS: GroupIds.default([]),
  /** Slack's Web API base URL; tests point it at a local server. */
  VIGIL_SLACK_API_URL: z
    .url()
    .refine((u) => u.endsWith('/'), 'must end with / (e.g. https://slack.com/api/)')
    .default('https://slack.com/api/'),
  /** Per-request timeout of a Web API call. */
  SLACK_TIMEOUT: Duration.pipe(z.number().min(500).max(60_000)).default(10_000),
  /** Temporal UI base URL for the incident link in messages (e.g. https://temporal.example.com). */
  VIGIL_TEMPORAL_UI_URL: z.url().optional(),
  TEMPORAL_NAMESPACE: z.string().min(1).default('vigil'),
});
export type SlackConfig = z.infer<typeof SlackConfig>;

/** The Slack configuration, or undefined when Slack is not configured (no SLACK_BOT_TOKEN). */
export function loadSlackConfig(env: Env): SlackConfig | undefined {
  if (!env.SLACK_BOT_TOKEN) return undefined;
  return parseEnv(SlackConfig, env, 'Slack configuration');
}
