import { z } from 'zod';
import { CsvList, Duration, parseEnv, type Env } from '../../src/config.js';
import { repoRoot } from '../../src/paths.js';
import { resolvePlaybookBuild } from './build.js';
import type { PlaybookSettings } from '../../src/contracts/playbook.js';

const Score = z.coerce.number().int().min(0).max(100);

export const SettingsConfig = z
  .object({
    VIGIL_QUIET_PERIOD: Duration.default(15 * 60_000),
    VIGIL_SUSPICIOUS_THRESHOLD: Score.default(40),
    VIGIL_MALICIOUS_THRESHOLD: Score.default(75),
    VIGIL_EVIDENCE_LIMIT: z.coerce.number().int().min(1).max(100).default(10),
    VIGIL_MAX_EVENTS_PER_RUN: z.coerce.number().int().min(10).max(50_000).default(2_000),
    VIGIL_NOTIFY_AT: z.enum(['benign', 'suspicious', 'malicious']).default('suspicious'),
    VIGIL_APPROVAL_REMIND_AFTER: Duration.default(10 * 60_000),
    VIGIL_APPROVAL_ESCALATE_AFTER: Duration.default(20 * 60_000),
    VIGIL_APPROVAL_DEADLINE: Duration.default(60 * 60_000),
    VIGIL_AGENT_SCHEDULE_TO_START: Duration.default(30_000),
    VIGIL_ISOLATION_LIMIT: Duration.default(4 * 3600_000),
    VIGIL_CONTAINMENT_HOLD_MAX: Duration.default(30 * 24 * 3600_000),
    // A syscall window from the host's agent when the event has none: how long (0 = never ask; it delays
    // containment by about that long) and how long the agent may take to pick the capture up.
    VIGIL_CAPTURE_WINDOW: Duration.pipe(
      z.number().max(30_000, 'at most 30s (the capture precedes containment)'),
    ).default(2_000),
    VIGIL_CAPTURE_SCHEDULE_TO_START: Duration.pipe(z.number().min(100).max(60_000)).default(3_000),
    VIGIL_NOTIFY_EMAIL_VIA: z.enum(['notifier', 'direct']).default('notifier'),
    // Only the webhook names: the URLs and secrets are the notify activities' (and never reach a history).
    VIGIL_WEBHOOKS: z
      .string()
      .transform((t, ctx) => {
        try {
          return JSON.parse(t) as unknown;
        } catch {
          ctx.addIssue({ code: 'custom', message: 'is not valid JSON' });
          return z.NEVER;
        }
      })
      .pipe(z.array(z.looseObject({ name: z.string().min(1) })))
      .default([]),
    // Read here only to tell playbooks whether to open tickets; the credentials are the ticketing worker's.
    VIGIL_TICKETING: z.enum(['none', 'jira', 'servicenow', 'thehive', 'rt', 'redmine']).default('none'),
    VIGIL_TICKETING_TASK_QUEUE: z.string().min(1).default('vigil-ticketing'),
    /** Playbook names that run in shadow mode (containment and approvals recorded, not executed). */
    VIGIL_SHADOW_PLAYBOOKS: CsvList.pipe(
      z.array(z.string().regex(/^[a-z0-9][a-z0-9-]{0,63}$/, 'a playbook name (lowercase, digits, -)')),
    ).default([]),
  })
  .refine((c) => c.VIGIL_SUSPICIOUS_THRESHOLD < c.VIGIL_MALICIOUS_THRESHOLD, {
    path: ['VIGIL_MALICIOUS_THRESHOLD'],
    message: 'must be greater than VIGIL_SUSPICIOUS_THRESHOLD',
  })
  .refine(
    (c) =>
      c.VIGIL_APPROVAL_REMIND_AFTER <= c.VIGIL_APPROVAL_ESCALATE_AFTER &&
      c.VIGIL_APPROVAL_ESCALATE_AFTER <= c.VIGIL_APPROVAL_DEADLINE,
    {
      path: ['VIGIL_APPROVAL_DEADLINE'],
      message:
        'the ladder must be ordered: VIGIL_APPROVAL_REMIND_AFTER <= VIGIL_APPROVAL_ESCALATE_AFTER <= VIGIL_APPROVAL_DEADLINE',
    },
  );

/** `root`: where to look for the build (git checkout or dist/); computed once, when the worker starts. */
export function loadPlaybookSettings(env: Env, root = repoRoot()): PlaybookSettings {
  const c = parseEnv(SettingsConfig, env, 'playbook settings');
  return {
    quietPeriodMs: c.VIGIL_QUIET_PERIOD,
    suspiciousThreshold: c.VIGIL_SUSPICIOUS_THRESHOLD,
    maliciousThreshold: c.VIGIL_MALICIOUS_THRESHOLD,
    evidenceLimit: c.VIGIL_EVIDENCE_LIMIT,
    maxEventsPerRun: c.VIGIL_MAX_EVENTS_PER_RUN,
    notifyAt: c.VIGIL_NOTIFY_AT,
    approval: {
      remindAfterMs: c.VIGIL_APPROVAL_REMIND_AFTER,
      escalateAfterMs: c.VIGIL_APPROVAL_ESCALATE_AFTER,
      deadlineMs: c.VIGIL_APPROVAL_DEADLINE,
    },
    emailVia: c.VIGIL_NOTIFY_EMAIL_VIA,
    webhooks: c.VIGIL_WEBHOOKS.map((w) => w.name),
    ticketing: { system: c.VIGIL_TICKETING, taskQueue: c.VIGIL_TICKETING_TASK_QUEUE },
    response: {
      scheduleToStartMs: c.VIGIL_AGENT_SCHEDULE_TO_START,
      isolationLimitMs: c.VIGIL_ISOLATION_LIMIT,
      holdMaxMs: c.VIGIL_CONTAINMENT_HOLD_MAX,
    },
    capture: { windowMs: c.VIGIL_CAPTURE_WINDOW, scheduleToStartMs: c.VIGIL_CAPTURE_SCHEDULE_TO_START },
    build: resolvePlaybookBuild(env, root),
    shadowPlaybooks: c.VIGIL_SHADOW_PLAYBOOKS,
  };
}
