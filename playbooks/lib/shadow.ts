/**
 * Shadow mode (workflow-safe): a playbook listed in VIGIL_SHADOW_PLAYBOOKS runs fully (enrich, score,
 * decide, notify, ask the policy), but each containment action the policy allows, automatically or after
 * approval, is recorded as what the live playbook would have done; nothing is executed, no automation slot
 * is taken and nobody is asked to approve. The responder lookup (read-only) still runs, so the record says
 * who would have executed it. `vigil shadow report` compares these records with live ones.
 */
import { ActivityFailure } from '@temporalio/workflow';
import type { ActionDecision } from '../../src/policy/actions.js';
import { isContainmentAction } from '../../src/contracts/response.js';
import { describeFailure } from './failures.js';
import type { PlaybookContext } from './playbook.js';
import { routingLookups } from './presets.js';

export type WouldHave = 'execute-automatically' | 'request-approval' | 'nothing-no-responder';

/** Record one allowed action as would-have-done; returns the summary line. */
export async function recordShadow(
  ctx: PlaybookContext,
  d: ActionDecision,
  params: Record<string, string | number | boolean>,
  route: { lookup?: Promise<string> },
): Promise<string> {
  let via = 'no responder executes this action';
  if (isContainmentAction(d.action)) {
    route.lookup ??= routingLookups()
      .findResponder(ctx.event.host.id)
      .then(
        (r) =>
          r.kind === 'agent'
            ? `agent ${r.taskQueue}`
            : r.kind === 'edr'
              ? `${r.vendor} (EDR)`
              : `none: ${r.why}`,
        (e: unknown) => {
          if (!(e instanceof ActivityFailure)) throw e;
          return `none: the responder lookup failed (${describeFailure(e)})`;
        },
      );
    via = await route.lookup;
  }
  const executable = isContainmentAction(d.action) && !via.startsWith('none');
  const wouldHave: WouldHave = !executable
    ? 'nothing-no-responder'
    : d.disposition === 'automatic'
      ? 'execute-automatically'
      : 'request-approval';
  const approvals = d.disposition === 'approval' ? (d.approvals ?? { needed: 1, roles: [] }) : undefined;
  ctx.action({
    action: d.action,
    status: 'shadow',
    detail: {
      params,
      disposition: d.disposition,
      wouldHave,
      via,
      ...(approvals ? { approvals } : {}),
      why: 'shadow mode: recorded, not executed',
    },
  });
  const host = ctx.event.host.id;
  return wouldHave === 'execute-automatically'
    ? `SHADOW: would ${d.action} on ${host} automatically via ${via}`
    : wouldHave === 'request-approval'
      ? `SHADOW: would ask ${approvals?.needed ?? 1} approver(s) (${approvals?.roles.join(', ') ?? ''}) to ${d.action} on ${host} via ${via}`
      : `SHADOW: ${d.action} allowed (${d.disposition}) but ${via}`;
}
