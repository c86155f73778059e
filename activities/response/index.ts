/**
 * Containment activities. `executeContainment` runs on the executor's task queue (a host's agent, or the
 * EDR response worker): it checks the kill switch for automatic actions right before acting, then hands the
 * request to the responder, which validates, checks preconditions, acts once per idempotency key and
 * verifies the effect. `findResponder` and `reserveAutomation` run on the playbook worker, which holds no
 * rights to act.
 */
import type { Client } from '@temporalio/client';
import { z } from 'zod';
import type { ResponderRoute } from '../../src/contracts/agent.js';
import type { KillSwitchState, ReserveAnswer, ReserveRequest } from '../../src/contracts/automation.js';
import {
  CONTAINMENT_MODES,
  KILL_SWITCH_FRESH_MS,
  type ContainmentInput,
  type Responder,
  type ResponseResult,
} from '../../src/contracts/response.js';
import { ReserveInput, ResponseRequest } from '../../src/contracts/response-schemas.js';
import { ErrorType } from '../../src/errors.js';
import { failure, parseInput } from '../lib/failures.js';
import { withHeartbeat } from '../lib/heartbeat.js';
import type { AutomationControl } from '../../src/control/automation.js';
import type { ResponseMetrics } from './metrics.js';
import { agentRoute } from '../../src/control/agents.js';

const ContainmentInputSchema = z.strictObject({
  request: ResponseRequest,
  mode: z.enum(CONTAINMENT_MODES),
  approvalId: z.string().optional(),
  controlQueue: z.string().min(1).max(200).optional(),
  killSwitchCheckedAt: z.iso.datetime().optional(),
});

export function createExecutorActivities(deps: {
  responder: Responder;
  /**
   * The kill switch as it is now (queried per automatic action: no cache, so it bites at once), of the
   * deployment that sent the action (its playbook task queue), else the executor's own.
   */
  killSwitch: (controlQueue?: string) => Promise<KillSwitchState>;
  metrics?: ResponseMetrics;
}) {
  return {
    async executeContainment(input: ContainmentInput): Promise<ResponseResult> {
      const { request, mode, controlQueue, killSwitchCheckedAt } = parseInput(
        ContainmentInputSchema,
        input,
        'executeContainment',
      );
      const labels = {
        action: request.action,
        op: request.op,
        host: request.host,
        responder: deps.responder.name,
      };
      // The kill switch stops new automatic actions. An action an earlier attempt already began (the agent
      // died mid-way) is finished instead: refusing it would leave a half-applied effect with no hold.
      const begun = (await deps.responder.known?.(request.idempotencyKey)) ?? false;
      // The slot's grant checked the switch a moment ago (at or after killSwitchCheckedAt): within
      // KILL_SWITCH_FRESH_MS that check stands (an engaged switch still stops this action within a second);
      // later, or with a clock that makes the age negative, the executor asks the control itself.
      const age = killSwitchCheckedAt ? Date.now() - Date.parse(killSwitchCheckedAt) : Infinity;
      const freshCheck = age >= 0 && age <= KILL_SWITCH_FRESH_MS;
      if (mode === 'automatic' && request.op === 'apply' && !request.dryRun && !begun && !freshCheck) {
        const ks = await deps.killSwitch(controlQueue);
        if (ks.engaged) {
          deps.metrics?.actions.inc({ ...labels, outcome: 'kill-switch' });
          throw failure(
            ErrorType.Forbidden,
            `kill switch engaged by ${ks.by ?? '?'} at ${ks.at ?? '?'} (${ks.reason ?? 'no reason'}): automatic ${request.action} not executed`,
          );
        }
      }
      try {
        const result = await withHeartbeat(() => deps.responder.execute(request));
        const out =
          request.decidedAt && result.decisionToEffectMs === undefined
            ? { ...result, decisionToEffectMs: Date.parse(result.at) - Date.parse(request.decidedAt) }
            : result;
        deps.metrics?.actions.inc({ ...labels, outcome: out.already ? 'already' : out.status });
        if (out.decisionToEffectMs !== undefined && !out.already && out.status !== 'dry-run') {
          deps.metrics?.decisionToEffect.observe(
            { action: request.action, op: request.op },
            out.decisionToEffectMs / 1000,
          );
        }
        return out;
      } catch (e) {
        deps.metrics?.actions.inc({ ...labels, outcome: 'failed' });
        throw e;
      }
    },
  };
}
export type ExecutorActivities = ReturnType<typeof createExecutorActivities>;

/** How long a live agent's route is reused in the playbook worker. */
const ROUTE_CACHE_MS = 10_000;

export function createRoutingActivities(deps: {
  client: Client;
  namespace: string;
  control: AutomationControl;
  /** EDR routing by config, when configured: a vendor name for hosts it serves, else undefined. */
  edrVendorFor?: (host: string) => string | undefined;
  edrTaskQueue?: string;
}) {
  // A live agent's route, kept ROUTE_CACHE_MS per host in this worker: a burst of incidents on one host
  // asks Temporal once (registration query + task-queue poller). Absent, retired or silent agents are
  // asked for again every time, so a (re)started agent is found at once.
  const routes = new Map<string, { at: number; route: ResponderRoute }>();
  return {
    async findResponder(host: string): Promise<ResponderRoute> {
      const vendor = deps.edrVendorFor?.(host);
      // A host with a responder may be contained next: the kill switch is asked now, beside the rest of
      // the playbook's lookups, so the reservation that may follow finds a fresh answer.
      if (vendor && deps.edrTaskQueue) {
        deps.control.warm();
        return { kind: 'edr', vendor, taskQueue: deps.edrTaskQueue };
      }
      const hit = routes.get(host);
      if (hit && Date.now() - hit.at < ROUTE_CACHE_MS) {
        deps.control.warm();
        return hit.route;
      }
      const route = await agentRoute(deps.client, deps.namespace, host);
      if (route.kind === 'agent' && route.live) {
        deps.control.warm();
        if (routes.size >= 10_000) routes.clear();
        routes.set(host, { at: Date.now(), route });
      } else routes.delete(host);
      return route;
    },
    async reserveAutomation(req: ReserveRequest): Promise<ReserveAnswer> {
      return deps.control.reserve(parseInput(ReserveInput, req, 'reserveAutomation'));
    },
  };
}
export type RoutingActivities = ReturnType<typeof createRoutingActivities>;
