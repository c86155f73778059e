/**
 * The one workflow-side way for a playbook to notify a channel through its notifier (rate limit, dedupe,
 * digest: playbooks/notifier.ts). The notice is queued, not delivered, when this returns; the notifier
 * delivers it or counts it in the channel's next digest. A failure to queue is an outcome, not an exception.
 */
import { ActivityFailure } from '@temporalio/workflow';
import type { IncidentNotice } from '../../src/contracts/playbook.js';
import { enqueueLookups } from './presets.js';
import { describeFailure } from './failures.js';

export type NotifyChannelResult =
  | { queued: true; channel: string; workflowId: string; requestId: string }
  | { queued: false; channel: string; error: string };

/**
 * Queue `notice` on `channel` (`email` or `webhook:<name>`). `key` is the dedupe key (default
 * incident + verdict + severity: a repeat of the same state is a duplicate, an escalation is news).
 */
export async function notifyChannel(
  channel: string,
  notice: IncidentNotice,
  key?: string,
): Promise<NotifyChannelResult> {
  try {
    const r = await enqueueLookups().enqueueNotification({
      channel,
      ...(key ? { key } : {}),
      message: { kind: 'incident', notice },
    });
    return { queued: true, channel, ...r };
  } catch (e) {
    if (!(e instanceof ActivityFailure)) throw e;
    return { queued: false, channel, error: describeFailure(e) };
  }
}
