/** What the responder needs from a vendor client; each client.ts-like file implements it for one vendor. */
import type { ContainmentAction, FileTarget } from '../../../src/contracts/response.js';
import type { EdrVendor } from './config.js';

/** The vendor's view of a host's network containment, normalized. */
export type ContainmentState = 'normal' | 'containing' | 'contained' | 'releasing';

export interface EdrHost {
  /** The vendor's id (CrowdStrike AID, Defender machine id, SentinelOne agent id). */
  id: string;
  name: string;
  state: ContainmentState;
  /** The vendor's own words for the state, for `verified` (e.g. "status contained"). */
  stateDetail: string;
}

export interface EdrContext {
  idempotencyKey: string;
  incidentId: string;
  /** Sent to vendors that keep a comment with the action (Defender); carries a tag derived from the key. */
  comment: string;
  /** A short hash of the idempotency key, unique enough to find our own earlier action at the vendor. */
  tag: string;
}

/** What one executed (or found already in place) action amounts to. */
export interface EdrOutcome {
  /** Nothing was sent by this call: the effect was already in place, or our earlier request is in flight. */
  already: boolean;
  plan: string[];
  verified: string;
  effect: Record<string, unknown>;
}

export type Op = 'apply' | 'undo';

export interface EdrClient {
  readonly vendor: EdrVendor;
  /** Why an action/op is not offered by this vendor (null = supported). */
  unsupported(action: ContainmentAction, op: Op): string | null;
  findHost(hostname: string): Promise<EdrHost>;
  /** The steps `execute` would take for this host, without taking them. */
  plan(host: EdrHost, action: ContainmentAction, op: Op, params: Record<string, unknown>): string[];
  isolate(host: EdrHost, op: Op, ctx: EdrContext): Promise<EdrOutcome>;
  quarantineFile?(host: EdrHost, op: Op, file: FileTarget, ctx: EdrContext): Promise<EdrOutcome>;
}

export interface PollSettings {
  verifyTimeoutMs: number;
  pollIntervalMs: number;
}
