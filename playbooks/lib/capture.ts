/**
 * A syscall window from the host's endpoint agent (workflow-safe): when the event names a pid but carries
 * no window (or too short a one), ask the agent that registered the capture capability to strace that
 * process for a short, bounded time, so the central model can score it like an event-carried window.
 * Every failure (no agent, no capture, offline, gone pid, strace refused, timeout) is a note and no
 * window: the incident goes on without a model score.
 */
import { ActivityFailure } from '@temporalio/workflow';
import { describeFailure, isUnreachable } from './failures.js';
import type { PlaybookContext } from './playbook.js';
import { captureActivities } from './presets.js';
import type { Responders } from './respond.js';

import { capturesFor } from '../../src/policy/plan.js';

export { MIN_SYSCALLS } from '../../src/policy/plan.js';

/**
 * Calls asked for at most: the window crosses the history twice (the capture's result, the score's input),
 * so 10,000 names (~100 KB each way) keep a busy process from bloating the incident's history.
 */
export const CAPTURE_MAX_CALLS = 10_000;

/** Where a scored window came from, for the score's decision record. */
export interface CapturedWindow {
  syscalls: string[];
  source: {
    from: 'agent';
    host: string;
    taskQueue: string;
    pid: number;
    comm: string;
    seconds: number;
    calls: number;
    truncated: boolean;
    exited: boolean;
  };
}

/** Whether this run should ask the agent (decided on the event and the recorded settings only). */
export function wantsCapture(ctx: PlaybookContext): boolean {
  return capturesFor(ctx.event, ctx.settings);
}

export async function captureFromAgent(
  ctx: PlaybookContext,
  responders: Responders,
): Promise<CapturedWindow | undefined> {
  const settings = ctx.settings.capture;
  const proc = ctx.event.process;
  if (!settings || proc?.pid === undefined) return undefined;
  const pid = proc.pid;
  const host = ctx.event.host.id;
  const route = await responders.routeFor();
  if (route.kind !== 'agent') {
    ctx.note(
      `no syscall window for pid ${pid}: ${route.kind === 'none' ? route.why : `${host} has no agent (${route.vendor} EDR)`}`,
    );
    return undefined;
  }
  const offer = route.agent.capture;
  if (!offer) {
    ctx.note(`no syscall window for pid ${pid}: the agent of ${host} does not offer capture`);
    return undefined;
  }
  if (!route.live) {
    ctx.note(
      `no syscall window for pid ${pid}: the agent of ${host} is offline (last poll ${route.lastSeen ?? 'never'})`,
    );
    return undefined;
  }
  const windowMs = Math.min(settings.windowMs, offer.maxSeconds * 1000);
  try {
    const w = await captureActivities(route.taskQueue, windowMs, settings.scheduleToStartMs).captureSyscalls({
      pid,
      seconds: windowMs / 1000,
      maxCalls: Math.min(offer.maxCalls, CAPTURE_MAX_CALLS),
      ...(proc.startTime ? { startTime: proc.startTime } : {}),
    });
    const source = {
      from: 'agent' as const,
      host,
      taskQueue: route.taskQueue,
      pid: w.pid,
      comm: w.comm,
      seconds: w.seconds,
      calls: w.calls,
      truncated: w.truncated,
      exited: w.exited,
    };
    ctx.note(
      `syscall window from the agent of ${host}: pid ${w.pid} (${w.comm}), ${w.seconds.toFixed(2)} s, ${w.calls} calls`,
      { ...source, ...(w.prefilter ? { prefilter: w.prefilter } : {}) },
    );
    return { syscalls: w.syscalls, source };
  } catch (e) {
    if (!(e instanceof ActivityFailure)) throw e;
    const why = isUnreachable(e)
      ? `the agent of ${host} did not pick the capture up within ${settings.scheduleToStartMs} ms`
      : describeFailure(e);
    ctx.note(`no syscall window for pid ${pid}: ${why}`);
    return undefined;
  }
}
