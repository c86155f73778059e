/** Deciding ahead, the workflow's side: asked only for a run that decides ahead, taken only when it matches. */
import { describe, expect, it } from 'vitest';
import type { DecidedAhead, FirstLookups, PlaybookSettings } from '../../src/contracts/playbook.js';
import type { DecisionRequest } from '../../src/policy/actions.js';
import { reverseShell } from '../../test/helpers/events.js';
import {
  collectAhead,
  decideAhead,
  decidedAhead,
  enrichAhead,
  provideAhead,
  routeAhead,
} from './prefetch.js';

const ev = reverseShell('h-prefetch').event;
const incident = { incidentId: 'inc-1', eventCount: 1, severity: ev.detection.severity, techniques: [] };
const playbook = { name: 'suspicious-process', version: '1.0.0' };
const ask = () => {
  enrichAhead(ev);
  routeAhead(ev.host.id);
  decideAhead(playbook);
};
const request: DecisionRequest = {
  playbook,
  host: ev.host.id,
  severity: 'critical',
  riskScore: 100,
  verdict: 'malicious',
  techniques: ['T1059'],
  hasProcess: true,
  inContainer: false,
  proposed: ['suspend-process', 'isolate-host'],
};
const answer: DecidedAhead = {
  request,
  reserve: ['inc-1:suspend-process:0123456789abcdef'],
  answer: { policyVersion: 'p1', decisions: [], slots: {} },
};
const got = (decided: DecidedAhead): FirstLookups => ({
  settings: {} as PlaybookSettings,
  decided: { ok: true, value: decided },
});

describe('decideAhead / decidedAhead', () => {
  it('asks for a decision only for a run that decides ahead, and only with the enriched event', () => {
    expect(collectAhead(ask).decide).toBeUndefined();
    expect(collectAhead(ask, incident).decide).toEqual({ playbook, incident });
    expect(collectAhead(() => decideAhead(playbook), incident).decide).toBeUndefined();
    // Outside collectAhead it asks nothing.
    decideAhead(playbook);
    expect(decidedAhead(request, answer.reserve)).toEqual({});
  });

  it('hands the answer over once, for exactly the request and slots it answers', () => {
    const want = collectAhead(ask, incident);
    provideAhead(want, got(answer), '2026-11-27T10:00:00.000Z');
    expect(decidedAhead(request, answer.reserve)).toEqual({
      ahead: answer,
      askedAt: '2026-11-27T10:00:00.000Z',
    });
    expect(decidedAhead(request, answer.reserve)).toEqual({});

    provideAhead(want, got(answer), 'x');
    expect(decidedAhead({ ...request, riskScore: 95 }, answer.reserve)).toEqual({
      why: "the request decided ahead differs from the playbook's",
    });
    provideAhead(want, got(answer), 'x');
    expect(decidedAhead(request, [])).toEqual({ why: "the slots reserved ahead differ from the playbook's" });
    // Not asked for: an answer is not taken.
    provideAhead(collectAhead(ask), got(answer), 'x');
    expect(decidedAhead(request, answer.reserve)).toEqual({});
  });
});
