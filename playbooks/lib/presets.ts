/**
 * Activity option presets, one per kind of activity. Each names its timeouts and a retry budget
 * (Temporal's default is unlimited retries). Failure types from src/errors.ts marked non-retryable
 * are final whatever the budget.
 */
import { proxyActivities, proxyLocalActivities, type ActivityOptions } from '@temporalio/workflow';
import { LOCAL_LOOKUPS, since, sinceV2 } from './patches.js';
import type { EnrichmentActivities } from '../../activities/enrichment/index.js';
import type { NotifyActivities } from '../../activities/notify/index.js';
import type { ExecutorActivities, RoutingActivities } from '../../activities/response/index.js';
import type { TicketingActivities } from '../../activities/ticketing/index.js';
import type { PolicyActivities } from '../../activities/policy/index.js';
import type { ScoringActivities } from '../../activities/scoring/index.js';
import type { SettingsActivities } from '../../activities/settings/index.js';
import type { LookupActivities } from '../../activities/lookups/index.js';
import type { RpaActivities } from '../../activities/rpa/index.js';
import type { CaptureActivities } from '../../activities/capture/index.js';

/** Local, read-only lookups: fast, few attempts. */
export const settingsActivities = proxyLocalActivities<SettingsActivities>({
  startToCloseTimeout: '5s',
  retry: { initialInterval: '200ms', maximumAttempts: 3 },
});

/**
 * An incident's first lookups in one local activity (activities/lookups): the settings' budget, as only
 * they fail it (a failed enrichment or route is a part, asked again with its own budget).
 */
export const firstLookupsActivities = proxyLocalActivities<LookupActivities>({
  startToCloseTimeout: '15s',
  scheduleToCloseTimeout: '1m',
  retry: { initialInterval: '200ms', maximumAttempts: 3 },
});

/** Enrichment: read-only, quick; a short budget so a broken lookup does not hold the incident. */
export const enrichmentActivities = proxyActivities<EnrichmentActivities>({
  startToCloseTimeout: '15s',
  scheduleToCloseTimeout: '2m',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '10s', maximumAttempts: 5 },
});

/**
 * Notifications: external servers that may be down for a while. Heartbeats detect a dead worker in
 * seconds; the budget rides out a short outage; the Message-ID keeps retried sends recognizably one message.
 */
export const notifyActivities = proxyActivities<NotifyActivities>({
  startToCloseTimeout: '60s',
  heartbeatTimeout: '5s',
  scheduleToCloseTimeout: '15m',
  retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '1m', maximumAttempts: 12 },
});

/** The policy decision: in-process Cedar evaluation, quick; a short budget. */
export const policyActivities = proxyActivities<PolicyActivities>({
  startToCloseTimeout: '10s',
  scheduleToCloseTimeout: '1m',
  retry: { initialInterval: '500ms', backoffCoefficient: 2, maximumInterval: '5s', maximumAttempts: 5 },
});

/** Model scoring: CPU-bound (exact attributions), a refused model is final (Misconfigured). */
export const scoringActivities = proxyActivities<ScoringActivities>({
  startToCloseTimeout: '30s',
  scheduleToCloseTimeout: '2m',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '10s', maximumAttempts: 3 },
});

/** Which responder serves a host, and automation reservations: Temporal lookups, quick. */
export const routingActivities = proxyActivities<RoutingActivities>({
  startToCloseTimeout: '10s',
  scheduleToCloseTimeout: '1m',
  retry: { initialInterval: '500ms', backoffCoefficient: 2, maximumInterval: '5s', maximumAttempts: 5 },
});

/**
 * The lookups on the way to a decision (enrichment, the policy, the responder route, the automation slot)
 * as LOCAL activities: the playbook worker runs them inside the workflow task, so the automated path from
 * detection to containment pays one server round trip (the executor's) instead of one per lookup. Each is
 * recorded in history as a marker with its result, so replay does not run them again. Same budgets as
 * their remote twins; all four are served by the playbook worker (workers/playbook-worker.ts).
 */
const localEnrichment = proxyLocalActivities<EnrichmentActivities>({
  startToCloseTimeout: '15s',
  scheduleToCloseTimeout: '2m',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '10s', maximumAttempts: 5 },
});
const localPolicy = proxyLocalActivities<PolicyActivities>({
  startToCloseTimeout: '10s',
  scheduleToCloseTimeout: '1m',
  retry: { initialInterval: '500ms', backoffCoefficient: 2, maximumInterval: '5s', maximumAttempts: 5 },
});
const localRouting = proxyLocalActivities<RoutingActivities>({
  startToCloseTimeout: '10s',
  scheduleToCloseTimeout: '1m',
  retry: { initialInterval: '500ms', backoffCoefficient: 2, maximumInterval: '5s', maximumAttempts: 5 },
});

/** Incidents recorded before the lookups became local replay with the remote activities (patched). */
export const enrichmentLookups = (): EnrichmentActivities =>
  since(LOCAL_LOOKUPS) ? localEnrichment : enrichmentActivities;
export const policyLookups = (): PolicyActivities => (since(LOCAL_LOOKUPS) ? localPolicy : policyActivities);
export const routingLookups = (): RoutingActivities =>
  since(LOCAL_LOOKUPS) ? localRouting : routingActivities;

/**
 * Containment on the executor's own task queue (a host's agent, or the EDR worker). Schedule-to-start
 * bounds the wait for an offline agent (the action fails as "host unreachable", never waits forever);
 * heartbeats notice an agent killed mid-action, and the retry finds the first attempt's effect through the
 * idempotency key, so there is one effect.
 */
export function executorActivities(taskQueue: string, scheduleToStartMs: number) {
  return proxyActivities<ExecutorActivities>({
    taskQueue,
    scheduleToStartTimeout: scheduleToStartMs,
    startToCloseTimeout: '60s',
    heartbeatTimeout: '10s',
    retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '10s', maximumAttempts: 5 },
  });
}

/**
 * A syscall window from the host's agent (observation only). It precedes the rule set, so it is bounded
 * tightly: a short schedule-to-start (an offline agent costs that, not the incident), the window plus a
 * margin for strace to attach and detach, and one attempt: a failed capture means no model score, never a
 * longer wait.
 */
export function captureActivities(taskQueue: string, windowMs: number, scheduleToStartMs: number) {
  return proxyActivities<CaptureActivities>({
    taskQueue,
    scheduleToStartTimeout: scheduleToStartMs,
    startToCloseTimeout: windowMs + 5_000,
    retry: { maximumAttempts: 1 },
  });
}

// --- notification channels (playbooks/notifier.ts) ---

/** The notifier's channel limits: a local, in-process config read. */
export const notifierLocalActivities = proxyLocalActivities<NotifyActivities>({
  startToCloseTimeout: '5s',
  retry: { initialInterval: '200ms', maximumAttempts: 3 },
});

/** Handing a notification to its channel's notifier: one signal-with-start, quick; a short budget. */
const enqueueOptions: ActivityOptions = {
  startToCloseTimeout: '15s',
  scheduleToCloseTimeout: '2m',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '15s', maximumAttempts: 6 },
};
const enqueueActivities = proxyActivities<NotifyActivities>(enqueueOptions);
const localEnqueue = proxyLocalActivities<NotifyActivities>(enqueueOptions);
/** The hand-off as a local activity (same budget); incidents recorded before it replay the activity task. */
export const enqueueLookups = (): Pick<NotifyActivities, 'enqueueNotification'> =>
  sinceV2('local-enqueue-v1') ? localEnqueue : enqueueActivities;

/**
 * RPA jobs (asynchronous completion: the activity hands the job to its queue workflow and returns; the
 * intake completes it when a bot reports). One attempt may last until the job's deadline
 * (startToClose = scheduleToClose = deadline). The heartbeat timeout is a silence detector, not a bot
 * liveness check (the queue's lease does that): bots' heartbeats reach the activity through the intake;
 * when nothing is heard for `silenceMs` (no bot yet, a bot died, the intake crashed between recording a
 * result and delivering it) the next attempt re-dispatches the same job id, which keeps its place and
 * lease and returns a recorded outcome at once. The budget: retries until the deadline.
 */
export function rpaActivityOptions(deadlineMs: number, silenceMs: number): ActivityOptions {
  return {
    startToCloseTimeout: deadlineMs,
    scheduleToCloseTimeout: deadlineMs,
    heartbeatTimeout: Math.min(silenceMs, deadlineMs),
    retry: {
      initialInterval: '1s',
      backoffCoefficient: 2,
      maximumInterval: '10s',
      maximumAttempts: Math.ceil(deadlineMs / Math.max(1000, Math.min(silenceMs, deadlineMs))) + 5,
    },
  };
}
export const rpaActivities = (deadlineMs: number, silenceMs: number) =>
  proxyActivities<RpaActivities>(rpaActivityOptions(deadlineMs, silenceMs));

/** Dropping a job from its queue: one quick Update; a short budget (the queue drops it at its deadline anyway). */
export const rpaCancelActivities = proxyActivities<Pick<RpaActivities, 'cancelRpaJob'>>({
  startToCloseTimeout: '15s',
  scheduleToCloseTimeout: '1m',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '10s', maximumAttempts: 5 },
});

/**
 * Ticketing on the ticketing worker's own queue (it alone holds the credential). Every call is idempotent
 * (the ticket carries the incident's marker), so the budget rides out an outage of the ticketing system:
 * a minute down is retried through, the incident shows the stage meanwhile.
 */
export function ticketingActivities(taskQueue: string) {
  return proxyActivities<TicketingActivities>({
    taskQueue,
    startToCloseTimeout: '60s',
    heartbeatTimeout: '15s',
    scheduleToCloseTimeout: '30m',
    retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '1m', maximumAttempts: 40 },
  });
}
