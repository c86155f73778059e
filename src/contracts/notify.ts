/**
 * Notification channels, the per-channel notifier workflow's signal and query, and the digest it sends.
 * A channel is `email` or `webhook:<name>` (a webhook configured in VIGIL_WEBHOOKS).
 */
import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { IncidentNotice } from './playbook.js';

export type NotificationMessage =
  { kind: 'incident'; notice: IncidentNotice } | { kind: 'digest'; digest: DigestNotice };

/** What a playbook asks for: one notification on one channel, deduplicated by `key`. */
export interface NotificationRequest {
  channel: string;
  /** Notifications with the same key within the channel's dedupe window are duplicates. */
  key: string;
  /** Stable across retries of the enqueueing activity: a redelivered signal counts once. */
  requestId: string;
  /** When it was asked for (ISO). */
  at: string;
  message: { kind: 'incident'; notice: IncidentNotice };
}

/** One dedupe key's suppressed notifications, as the digest lists them. */
export interface SuppressedGroup {
  key: string;
  /** One line describing the notification (event-derived: escaped by every renderer). */
  summary: string;
  count: number;
  /** Of `count`: duplicates of a key already notified in the dedupe window; the rest exceeded the rate. */
  duplicates: number;
  first: string;
  last: string;
}

export interface DigestNotice {
  channel: string;
  /** The span of time the digest covers (ISO). */
  from: string;
  to: string;
  /** Every notification held back since the last digest: the sum of the groups plus `unlisted`. */
  suppressed: number;
  groups: SuppressedGroup[];
  /** Notifications counted but not listed by key (the list is bounded). */
  unlisted: number;
  /** Notifications that were due but could not be delivered after every retry. */
  failed: { key: string; summary: string; error: string; at: string }[];
  failedTotal: number;
  limit: { perWindow: number; windowMs: number; dedupeMs: number };
}

export interface DeliveryReceipt {
  channel: string;
  /** Email Message-ID, or the webhook's idempotency id (webhook-id header). */
  id: string;
  detail: Record<string, unknown>;
}

export interface NotifierStatus {
  channel: string;
  windowStart?: string;
  sentInWindow: number;
  pending: number;
  /** Held back since the last digest. */
  suppressed: number;
  totals: {
    received: number;
    delivered: number;
    suppressed: number;
    digests: number;
    failed: number;
    redelivered: number;
  };
}

export const notifySignal = defineSignal<[NotificationRequest]>('notify');
export const notifierStatusQuery = defineQuery<NotifierStatus>('status');

export const NOTIFIER_WORKFLOW = 'notifier';
/** One notifier per task queue (whose workers hold the channel's configuration) and channel. */
export const notifierWorkflowId = (taskQueue: string, channel: string) =>
  `vigil-notifier:${taskQueue}:${channel}`;
