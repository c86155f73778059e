/**
 * The decision step (intent, separated from execution): given the event, its score and context, the
 * policy engine returns the safe action set. Every decision carries its inputs and the policy version.
 */
import { z } from 'zod';
import { ACTIONS, isActionName, type ActionDecision } from '../../src/policy/actions.js';
import { parseInput } from '../lib/failures.js';
import type { DecisionRequest, PolicyEngine } from './engine.js';

const Request = z.object({
  playbook: z.object({ name: z.string().min(1), version: z.string().min(1) }),
  host: z.string().min(1),
  severity: z.enum(['info', 'low', 'medium', 'high', 'critical']),
  riskScore: z.number().min(0).max(100),
  verdict: z.enum(['benign', 'suspicious', 'malicious']),
  techniques: z.array(z.string()),
  hasProcess: z.boolean(),
  inContainer: z.boolean(),
  proposed: z.array(
    z.string().refine(isActionName, { message: `unknown action; known: ${Object.keys(ACTIONS).join(', ')}` }),
  ),
});

export interface PolicyDecision {
  policyVersion: string;
  decisions: ActionDecision[];
}

export function createPolicyActivities(engine: PolicyEngine) {
  return {
    async decideActions(input: DecisionRequest): Promise<PolicyDecision> {
      const req: DecisionRequest = parseInput(Request, input, 'decideActions');
      return { policyVersion: engine.version, decisions: engine.decide(req) };
    },
  };
}
export type PolicyActivities = ReturnType<typeof createPolicyActivities>;
