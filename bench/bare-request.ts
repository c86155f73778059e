/**
 * What the bare baseline (bench/bare-workflow.ts) sends to Cedar in place of Vigil's rule set: the rule set's
 * answer for the bench's event (a web server's shell, a known pid). Plain constants, so the bench can check
 * them against the request a Vigil incident actually made (bench/run.ts) and stop when they drift apart.
 */
import type { ActionName } from '../src/policy/actions.js';

export const BARE_RULES: { riskScore: number; verdict: 'malicious'; proposed: ActionName[] } = {
  riskScore: 75,
  verdict: 'malicious',
  proposed: ['suspend-process', 'isolate-host'],
};
