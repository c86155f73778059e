/**
 * The local responder: `ResponseRequest` in, `ResponseResult` out, with exactly one effect per
 * idempotency key. Flow per request:
 *   parse (InvalidInput) -> host check -> dry run? (precheck + plan, no record, no change)
 *   -> record `started` (a known key: same request -> the first answer with already=true; another
 *      request -> InvalidInput; `started` left by a crash -> check the post-condition and finish)
 *   -> precheck -> plan -> run -> verify the post-condition -> settle -> record `done`.
 * A refusal before any change forgets the `started` record; a failure after a change keeps it, so the
 * retry reconciles instead of acting twice.
 */
import { join } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { UNDO_NAME, type ContainmentAction } from '../../../src/contracts/response.js';
import {
  ACTION_PARAMS,
  ResponseRequest,
  type ResponseResult,
} from '../../../src/contracts/response-schemas.js';
import { ErrorType } from '../../../src/errors.js';
import { failure, parseInput } from '../../lib/failures.js';
import { lockLocalAccount } from './account.js';
import type { LocalResponderConfig } from './config.js';
import { quarantineFile } from './file.js';
import { blockProcessNetwork, isolateHost } from './network.js';
import { killProcessTree, suspendProcess } from './process.js';
import { createCommandRunner, type CommandRunner } from './runner.js';
import { fingerprint, openResponderStore } from './store.js';
import type { ActionContext, LocalAction } from './types.js';

export const LOCAL_ACTIONS: Record<ContainmentAction, LocalAction> = {
  'suspend-process': suspendProcess,
  'kill-process-tree': killProcessTree,
  'quarantine-file': quarantineFile,
  'block-process-network': blockProcessNetwork,
  'isolate-host': isolateHost,
  'lock-local-account': lockLocalAccount,
};

export interface LocalResponder {
  execute(req: ResponseRequest): Promise<ResponseResult>;
  /** Has this key been started (or finished) before? A retry of it continues, whatever changed since. */
  known(key: string): boolean;
  close(): void;
}

export const RESPONDER_NAME = 'agent';

export function createLocalResponder(
  config: LocalResponderConfig,
  deps: { runner?: CommandRunner } = {},
): LocalResponder {
  const store = openResponderStore(join(config.VIGIL_AGENT_STATE_DIR, 'agent.db'));
  const run =
    deps.runner ??
    createCommandRunner({
      timeoutMs: config.VIGIL_AGENT_COMMAND_TIMEOUT,
      ...(config.VIGIL_AGENT_NETNS ? { netns: config.VIGIL_AGENT_NETNS } : {}),
    });
  const vaultDir = config.VIGIL_AGENT_VAULT_DIR ?? join(config.VIGIL_AGENT_STATE_DIR, 'vault');
  // One request per key at a time in this process (the store serializes across restarts).
  const inflight = new Map<string, Promise<unknown>>();

  function context(key: string, durable: boolean, onJournal: () => void): ActionContext {
    return {
      config,
      run,
      store,
      vaultDir,
      key,
      journal(facts) {
        onJournal();
        store.journal(key, facts, durable);
      },
    };
  }

  async function executeOnce(input: ResponseRequest): Promise<ResponseResult> {
    const req = parseInput(ResponseRequest, input, 'response request');
    if (req.host !== config.VIGIL_AGENT_HOST) {
      throw failure(
        ErrorType.Misconfigured,
        `this agent answers for host ${config.VIGIL_AGENT_HOST}, the request names ${req.host}`,
        { host: req.host },
      );
    }
    const action = LOCAL_ACTIONS[req.action];
    const params = parseInput(action.params, req.params, `${req.action} params`);
    // The contract's own schema first (so a compatible extension can only narrow it).
    parseInput(ACTION_PARAMS[req.action], req.params, `${req.action} params`);
    const operation = req.op === 'apply' ? action.apply : action.undo;
    if (!operation) {
      throw failure(ErrorType.InvalidInput, `${req.action} cannot be undone`, { action: req.action });
    }
    const label = req.op === 'apply' ? req.action : (UNDO_NAME[req.action] ?? 'undo');
    const result = (status: ResponseResult['status'], r: Partial<ResponseResult>): ResponseResult => {
      const at = new Date();
      const decided = req.decidedAt ? Date.parse(req.decidedAt) : NaN;
      return {
        action: req.action,
        op: req.op,
        host: req.host,
        status,
        already: false,
        responder: RESPONDER_NAME,
        plan: [],
        verified: '',
        effect: {},
        ...r,
        at: at.toISOString(),
        ...(Number.isNaN(decided) ? {} : { decisionToEffectMs: Math.max(0, at.getTime() - decided) }),
      };
    };

    const forced = req.op === 'apply' ? action.forcedDryRun?.(config) : undefined;
    if (req.dryRun || forced) {
      const ctx = context(req.idempotencyKey, true, () => undefined);
      ctx.journal = () => undefined;
      const target = await operation.precheck(params, ctx);
      const plan = await operation.plan(params, target, ctx);
      return result('dry-run', {
        plan,
        verified: `nothing changed (${forced ?? 'dry run requested'})`,
        effect: { dryRun: true, ...(forced ? { reason: forced } : {}) },
      });
    }

    const key = req.idempotencyKey;
    const fp = fingerprint(req.action, req.op, params);
    const durable = action.meta.outlivesReboot;
    const { existing } = store.begin(key, fp, req.action, req.op, durable);
    let changed = false;
    const ctx = context(key, durable, () => {
      changed = true;
    });
    if (existing) {
      if (existing.fingerprint !== fp) {
        throw failure(
          ErrorType.InvalidInput,
          `idempotency key already used for ${existing.action} ${existing.op} with other parameters; refusing ${label}`,
          { key: key.slice(0, 80) },
        );
      }
      if (existing.state === 'done' && existing.result) return { ...existing.result, already: true };
      // `started`: an earlier attempt died mid-action. If its effect is in place, finish it; else run again.
      if (Object.keys(existing.journal).some((k) => k !== 'plan')) {
        changed = true;
        const check = await operation.verify(params, existing.journal, ctx);
        if (check.ok) {
          await operation.settle?.(params, existing.journal, ctx);
          const plan = Array.isArray(existing.journal.plan) ? (existing.journal.plan as string[]) : [];
          const { plan: _p, ...facts } = existing.journal;
          const r = result(req.op === 'apply' ? 'applied' : 'undone', {
            already: true,
            plan,
            verified: check.saw,
            effect: { ...facts, reconciled: true },
          });
          store.finish(key, r, durable);
          return r;
        }
      }
    }

    try {
      const target = await operation.precheck(params, ctx);
      const plan = await operation.plan(params, target, ctx);
      store.journal(key, { plan }, durable);
      const effect = await operation.run(params, target, ctx);
      const facts = { ...store.getAction(key)?.journal, ...effect };
      delete facts.plan;
      const check = await operation.verify(params, facts, ctx);
      if (!check.ok) {
        throw failure(ErrorType.Unavailable, `${label}: post-condition not met: ${check.saw}`, {
          saw: check.saw,
        });
      }
      await operation.settle?.(params, facts, ctx);
      const r = result(req.op === 'apply' ? 'applied' : 'undone', {
        plan,
        verified: check.saw,
        effect: facts,
      });
      store.finish(key, r, durable);
      return r;
    } catch (e) {
      if (!changed) store.abandon(key, durable);
      if (e instanceof ApplicationFailure) throw e;
      throw failure(ErrorType.Unavailable, `${label} failed: ${(e as Error).message}`);
    }
  }

  return {
    async execute(req) {
      const key = typeof req?.idempotencyKey === 'string' ? req.idempotencyKey : '';
      const prev = inflight.get(key) ?? Promise.resolve();
      const next = prev.catch(() => undefined).then(() => executeOnce(req));
      inflight.set(key, next);
      try {
        return await next;
      } finally {
        if (inflight.get(key) === next) inflight.delete(key);
      }
    },
    known(key) {
      return store.getAction(key) !== undefined;
    },
    close() {
      store.close();
    },
  };
}
