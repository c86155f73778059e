/**
 * Workflow: notifier (one per notification channel), id vigil-notifier:<task queue>:<channel>
 * (channel `email` or `webhook:<name>`).
 * Trigger: enqueueNotification's signalWithStart(notify) from any playbook on any worker process.
 * Flow: each notification is a duplicate (same key within the dedupe window), admitted (at most `limit`
 * per window, delivered at once, in order) or held back; at the end of a window in which anything was held
 * back (or undeliverable) one digest lists every held-back notification by key with exact counts; then the
 * run continues as new with what it must remember (dedupe keys, recent request ids). With nothing left to
 * remember it completes; the next notification starts a fresh notifier.
 * Why a workflow: the counts and keys must survive worker restarts and be shared by every worker process;
 * Temporal serialises the signals of one workflow id, so the limit holds across processes without locks.
 * Nothing is dropped silently: every held-back notification is counted in the next digest (the list of keys
 * is bounded, the count is not); a redelivered signal (same request id) is recognised and counted apart.
 * Side effects: deliverNotification (email / webhook), idempotent per activity. Queries: `status`.
 */
import {
  ActivityFailure,
  condition,
  continueAsNew,
  log,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import {
  notifierStatusQuery,
  notifySignal,
  type DigestNotice,
  type NotificationRequest,
  type NotifierStatus,
  type SuppressedGroup,
} from '../src/contracts/notify.js';
import { notifierLocalActivities, notifyActivities } from './lib/presets.js';
import { describeFailure } from './lib/failures.js';

/** Keys listed individually in one digest (the rest are counted as `unlisted`). */
const MAX_GROUPS = 200;
const MAX_DEDUPE_KEYS = 5_000;
const MAX_REQUEST_IDS = 5_000;
const MAX_FAILED_LISTED = 50;
/** Continue-as-new mid-window past this many history events (a long storm). */
const HISTORY_LIMIT = 8_000;

export interface NotifierCarry {
  windowStart?: number;
  sentInWindow: number;
  dedupe: [string, number][];
  requestIds: string[];
  queue: NotificationRequest[];
  since?: string;
  groups: SuppressedGroup[];
  unlisted: number;
  suppressed: number;
  failed: DigestNotice['failed'];
  failedTotal: number;
  totals: NotifierStatus['totals'];
}

export interface NotifierInput {
  channel: string;
  carried?: NotifierCarry;
}

const summaryOf = (r: NotificationRequest) => {
  const n = r.message.notice;
  return `${n.verdict.toUpperCase()} ${n.severity} on ${n.host}: ${n.rule} (${n.incidentId})`.slice(0, 300);
};

export async function notifier(input: NotifierInput): Promise<NotifierStatus['totals']> {
  const { channel } = input;
  const c = input.carried;
  const policy = await notifierLocalActivities.notifierPolicy({ channel });

  let windowStart = c?.windowStart;
  let sentInWindow = c?.sentInWindow ?? 0;
  const dedupe = new Map<string, number>(c?.dedupe ?? []);
  const requestIds = [...(c?.requestIds ?? [])];
  const requestSet = new Set(requestIds);
  const queue: NotificationRequest[] = [...(c?.queue ?? [])];
  let since = c?.since;
  const groups = new Map<string, SuppressedGroup>((c?.groups ?? []).map((g) => [g.key, g]));
  let unlisted = c?.unlisted ?? 0;
  let suppressed = c?.suppressed ?? 0;
  const failed = [...(c?.failed ?? [])];
  let failedTotal = c?.failedTotal ?? 0;
  const totals = c?.totals ?? {
    received: 0,
    delivered: 0,
    suppressed: 0,
    digests: 0,
    failed: 0,
    redelivered: 0,
  };
  let changes = 0;

  const hold = (r: NotificationRequest, duplicate: boolean) => {
    suppressed += 1;
    totals.suppressed += 1;
    since ??= r.at;
    const g = groups.get(r.key);
    if (g) {
      g.count += 1;
      if (duplicate) g.duplicates += 1;
      if (r.at > g.last) g.last = r.at;
      if (r.at < g.first) g.first = r.at;
    } else if (groups.size < MAX_GROUPS) {
      groups.set(r.key, {
        key: r.key,
        summary: summaryOf(r),
        count: 1,
        duplicates: duplicate ? 1 : 0,
        first: r.at,
        last: r.at,
      });
    } else {
      unlisted += 1;
    }
  };

  setHandler(notifySignal, (r) => {
    changes += 1;
    if (requestSet.has(r.requestId)) {
      totals.redelivered += 1; // the enqueueing activity retried a signal that had arrived: not a new notification
      return;
    }
    requestSet.add(r.requestId);
    requestIds.push(r.requestId);
    if (requestIds.length > MAX_REQUEST_IDS) requestSet.delete(requestIds.shift() as string);
    totals.received += 1;
    const now = Date.now();
    // Every notification opens the window if none is open: its end is when a digest goes out.
    windowStart ??= now;
    const until = dedupe.get(r.key);
    if (until !== undefined && until > now) {
      hold(r, true);
      return;
    }
    dedupe.delete(r.key);
    dedupe.set(r.key, now + policy.dedupeMs);
    // Bounded memory: forgetting the oldest key can only let one more notice through, still within the rate.
    if (dedupe.size > MAX_DEDUPE_KEYS) dedupe.delete(dedupe.keys().next().value as string);
    if (sentInWindow < policy.limit) {
      sentInWindow += 1;
      queue.push(r);
    } else {
      hold(r, false);
    }
  });

  setHandler(notifierStatusQuery, () => ({
    channel,
    windowStart: windowStart === undefined ? undefined : new Date(windowStart).toISOString(),
    sentInWindow,
    pending: queue.length,
    suppressed,
    totals: { ...totals },
  }));

  const deliver = async (r: NotificationRequest) => {
    try {
      await notifyActivities.deliverNotification({ channel, message: r.message });
      totals.delivered += 1;
    } catch (e) {
      if (!(e instanceof ActivityFailure)) throw e;
      const error = describeFailure(e);
      log.warn('notification undeliverable; it goes into the next digest', { channel, key: r.key, error });
      failedTotal += 1;
      totals.failed += 1;
      if (failed.length < MAX_FAILED_LISTED)
        failed.push({ key: r.key, summary: summaryOf(r), error, at: r.at });
      windowStart ??= Date.now();
    }
  };

  const sendDigest = async () => {
    const digest: DigestNotice = {
      channel,
      from: since ?? new Date(windowStart ?? Date.now()).toISOString(),
      to: new Date().toISOString(),
      suppressed,
      groups: [...groups.values()],
      unlisted,
      failed: [...failed],
      failedTotal,
      limit: { perWindow: policy.limit, windowMs: policy.windowMs, dedupeMs: policy.dedupeMs },
    };
    try {
      await notifyActivities.deliverNotification({ channel, message: { kind: 'digest', digest } });
      totals.digests += 1;
      since = undefined;
      groups.clear();
      unlisted = suppressed = failedTotal = 0;
      failed.length = 0;
    } catch (e) {
      if (!(e instanceof ActivityFailure)) throw e;
      // Keep every count; the next window's end tries again with whatever arrives meanwhile.
      log.warn('digest undeliverable; retrying at the next window end', {
        channel,
        error: describeFailure(e),
      });
      windowStart = Date.now();
    }
  };

  const carry = (): NotifierCarry => ({
    windowStart,
    sentInWindow,
    dedupe: [...dedupe.entries()].filter(([, until]) => until > Date.now()),
    requestIds: requestIds.slice(-MAX_REQUEST_IDS),
    queue: [...queue],
    since,
    groups: [...groups.values()],
    unlisted,
    suppressed,
    failed: [...failed],
    failedTotal,
    totals,
  });

  for (;;) {
    const next = queue.shift();
    if (next) {
      await deliver(next);
      continue;
    }
    const info = workflowInfo();
    if (info.continueAsNewSuggested || info.historyLength > HISTORY_LIMIT) {
      await continueAsNew<typeof notifier>({ channel, carried: carry() });
    }
    const now = Date.now();
    if (windowStart !== undefined && now >= windowStart + policy.windowMs) {
      windowStart = undefined;
      sentInWindow = 0;
      if (suppressed > 0 || failedTotal > 0) await sendDigest();
      if (queue.length === 0) await continueAsNew<typeof notifier>({ channel, carried: carry() });
      continue;
    }
    for (const [key, until] of dedupe) if (until <= now) dedupe.delete(key);
    let timeout: number;
    if (windowStart !== undefined) timeout = windowStart + policy.windowMs - now;
    else if (dedupe.size > 0) timeout = Math.min(...dedupe.values()) - now;
    else return totals; // nothing open, nothing to remember: a new notification starts a new notifier
    const seen = changes;
    await condition(() => queue.length > 0 || changes !== seen, Math.max(1, timeout));
  }
}
