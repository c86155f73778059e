/**
 * The decision step (intent, separated from execution): given the event, its score and context, the
 * policy engine returns the safe action set. Every decision carries its inputs and the policy version.
 */
import { z } from 'zod';
import { ACTIONS, isActionName, type PolicyDecision } from '../../src/policy/actions.js';
import { failure, parseInput } from '../lib/failures.js';
import { ErrorType } from '../../src/errors.js';
import type { ReserveAnswer, ReserveRequest } from '../../src/contracts/automation.js';
import { ReserveInput } from '../../src/contracts/response-schemas.js';
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

export type { PolicyDecision } from '../../src/policy/actions.js';

export interface DecideAndReserveInput {
  request: DecisionRequest;
  /** One per low-blast-radius action the caller could run at once (it has an executor for it). */
  reserve: ReserveRequest[];
}

export interface DecidedAndReserved extends PolicyDecision {
  /** The automation control's answer for each reservation whose action the decision made automatic. */
  slots: Record<string, ReserveAnswer>;
}

export function createPolicyActivities(
  engine: PolicyEngine,
  opts: {
    /** The automation control's reservation (the playbook worker's lease, src/control/automation.ts). */
    reserve?: (req: ReserveRequest) => Promise<ReserveAnswer>;
  } = {},
) {
  return {
    async decideActions(input: DecisionRequest): Promise<PolicyDecision> {
      const req: DecisionRequest = parseInput(Request, input, 'decideActions');
      return { policyVersion: engine.version, decisions: engine.decide(req) };
    },
    /**
     * The decision, then a slot for each listed action it made automatic: one local activity where the
     * playbook would otherwise run two in a row. Only `low` actions are reserved (no policy makes a higher
     * class automatic; the guard in the engine, and this check, make sure).
     */
    async decideAndReserve(input: DecideAndReserveInput): Promise<DecidedAndReserved> {
      const { request, reserve } = parseInput(
        z.strictObject({ request: Request, reserve: z.array(ReserveInput).max(16) }),
        input,
        'decideAndReserve',
      );
      if (!opts.reserve)
        throw failure(ErrorType.Misconfigured, 'decideAndReserve: this worker has no automation control');
      const decisions = engine.decide(request);
      const slots: Record<string, ReserveAnswer> = {};
      for (const r of reserve) {
        const d = decisions.find((x) => x.action === r.action);
        if (d?.disposition !== 'automatic' || ACTIONS[d.action].class !== 'low') continue;
        slots[r.action] = await opts.reserve(r);
      }
      return { policyVersion: engine.version, decisions, slots };
    },
  };
}
export type PolicyActivities = ReturnType<typeof createPolicyActivities>;
