/** Shared bits of the EDR responder tests: a request builder and a way to look at a thrown failure. */
import { ApplicationFailure } from '@temporalio/common';
import type { ResponseRequest } from '../../src/contracts/response.js';

let n = 0;

export function request(over: Partial<ResponseRequest> = {}): ResponseRequest {
  n++;
  return {
    action: 'isolate-host',
    op: 'apply',
    host: 'web-01',
    params: {},
    idempotencyKey: `inc-web-01:run-1:activity-${n}:${Date.now()}`,
    incidentId: 'inc-web-01',
    ...over,
  };
}

/** Run `p`, expect it to fail with an ApplicationFailure, and return it. */
export async function failureOf(p: Promise<unknown>): Promise<ApplicationFailure> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  if (!(e instanceof ApplicationFailure)) {
    throw new Error(
      `expected an ApplicationFailure, got ${e === undefined ? 'success' : e instanceof Error ? e.message : JSON.stringify(e)}`,
    );
  }
  return e;
}

/** Everything a failure would carry into a workflow history (message, type, details). */
export function serialized(f: ApplicationFailure): string {
  return JSON.stringify({ message: f.message, type: f.type, details: f.details, stack: f.stack });
}

/** Fast polling for tests. */
export const FAST = {
  VIGIL_EDR_TIMEOUT: '2s',
  VIGIL_EDR_VERIFY_TIMEOUT: '2s',
  VIGIL_EDR_POLL_INTERVAL: '10ms',
};
