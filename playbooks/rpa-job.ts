/**
 * Workflow: rpaJob (one job handed to a bot, on its own). Started by `vigil rpa dispatch` (an operator hands
 * a bot one piece of work) and by tests; playbooks call `runRpaJob` inside their own workflow instead.
 * Flow: dispatch -> wait for the bot (async completion) -> return the outcome. Side effects: the job.
 */
import type { RpaJobTypeName } from '../src/contracts/rpa-queue.js';
import { runRpaJob, type RpaOutcome } from './lib/rpa.js';

export interface RpaJobRequest {
  queue: string;
  jobType: RpaJobTypeName;
  input: unknown;
  deadline: string | number;
  silence?: string | number;
  maxClaims?: number;
}

export async function rpaJob(req: RpaJobRequest): Promise<RpaOutcome<RpaJobTypeName>> {
  return runRpaJob(req.queue, req.jobType, req.input as never, {
    deadline: req.deadline,
    silence: req.silence,
    maxClaims: req.maxClaims,
  });
}
