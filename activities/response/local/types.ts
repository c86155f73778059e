/**
 * The one small interface every local responder follows (in the spirit of Falco Talon's actionners):
 * metadata, a parameter schema (from the contract), and per operation (apply, undo) a run-time
 * precondition check, a plan (the dry run), the change itself, and a post-condition check that looks at
 * the machine (not at what we believe we did). The engine in responder.ts adds idempotency around it.
 */
import type { z } from 'zod';
import type { ContainmentAction } from '../../../src/contracts/response.js';
import type { LocalResponderConfig } from './config.js';
import type { CommandRunner } from './runner.js';
import type { ResponderStore } from './store.js';

export interface ActionContext {
  config: LocalResponderConfig;
  run: CommandRunner;
  store: ResponderStore;
  vaultDir: string;
  /** The idempotency key of the request being executed. */
  key: string;
  /** Persist facts before an irreversible step: a retry after a crash gets them back in `verify`. */
  journal(facts: Record<string, unknown>): void;
}

export interface Check {
  ok: boolean;
  /** What the check saw, e.g. "/proc/123/stat state T". */
  saw: string;
}

export interface Operation<P, T> {
  /** Run-time precondition: resolves the target or throws a failure (NotFound, Forbidden, ...). */
  precheck(params: P, ctx: ActionContext): Promise<T>;
  /** What would be done (the dry run); changes nothing. */
  plan(params: P, target: T, ctx: ActionContext): Promise<string[]>;
  /** Make the change; returns the facts the result reports (and an undo may need). */
  run(params: P, target: T, ctx: ActionContext): Promise<Record<string, unknown>>;
  /** The post-condition, from the machine's state; `facts` = journal + what `run` returned. */
  verify(params: P, facts: Record<string, unknown>, ctx: ActionContext): Promise<Check>;
  /** Bookkeeping once the post-condition holds (also after a crash reconciled); must be idempotent. */
  settle?(params: P, facts: Record<string, unknown>, ctx: ActionContext): Promise<void>;
}

export interface LocalAction<P = unknown> {
  action: ContainmentAction;
  meta: {
    summary: string;
    blastRadius: 'low' | 'high';
    undo: string | null;
    /**
     * Does the effect outlive a reboot of the host (a moved file, a locked account)? Its records are then
     * fsynced before the effect; the others (processes, nftables, cgroups) only reach the WAL (store.ts).
     */
    outlivesReboot: boolean;
  };
  params: z.ZodType<P>;
  apply: Operation<P, unknown>;
  undo?: Operation<P, unknown>;
  /** A reason to only describe the apply (e.g. isolation not enforced by config), or undefined. */
  forcedDryRun?(config: LocalResponderConfig): string | undefined;
}

/** Keeps each operation's target type precise inside its file while the engine handles them uniformly. */
export function op<P, T>(o: Operation<P, T>): Operation<P, unknown> {
  return o;
}
