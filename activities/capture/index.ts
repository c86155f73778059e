/**
 * Edge capture on the endpoint agent: `captureSyscalls({ pid, seconds })` straces one process for a bounded
 * time and returns the names of its system calls (the window the central scoring activity scores), and,
 * when the agent has a model (VIGIL_AGENT_MODEL_DIR), the local pre-filter's score with the same signed
 * model, so the agent can raise an event only above the threshold. Observation only: the process is never
 * stopped or changed (strace detaches when done). Safe to retry (a retry captures a new window).
 *
 * The pre-filter is loaded lazily (`openPrefilter`): an agent without a model never loads onnxruntime.
 */
import { z } from 'zod';
import { ErrorType } from '../../src/errors.js';
import { failure, parseInput } from '../lib/failures.js';
import { withHeartbeat } from '../lib/heartbeat.js';
import { readStat, startTimeMs } from '../response/local/procfs.js';
import type { ScoringConfig } from '../scoring/config.js';
import type { ModelRejected, ScoringModel } from '../scoring/model.js';
import type { CaptureConfig } from './config.js';
import { runStrace, StraceError } from './strace.js';

export const CaptureSyscallsInput = z.strictObject({
  pid: z.number().int().min(2),
  /** how long to watch (bounded by VIGIL_CAPTURE_MAX_SECONDS) */
  seconds: z.number().gt(0),
  /** the process's start time as the event saw it (ISO): refuses a pid that now names another process */
  startTime: z.iso.datetime({ offset: true }).optional(),
  /** calls to keep at most (bounded by VIGIL_CAPTURE_MAX_CALLS) */
  maxCalls: z.number().int().min(1).optional(),
});
export type CaptureSyscallsInput = z.infer<typeof CaptureSyscallsInput>;

export type PrefilterResult =
  | {
      modelId: string;
      version: string;
      sha256: string;
      score: number;
      threshold: number;
      aboveThreshold: boolean;
    }
  | { refused: string; reason: string };

export interface CaptureResult {
  pid: number;
  comm: string;
  startTime: string;
  /** syscall names in order (x86_64 spellings, as strace prints them) */
  syscalls: string[];
  calls: number;
  seconds: number;
  truncated: boolean;
  exited: boolean;
  /** present when the agent has a model (VIGIL_AGENT_MODEL_DIR) */
  prefilter?: PrefilterResult;
}

export interface Prefilter {
  model: ScoringModel | ModelRejected;
  threshold?: number;
}

/**
 * The agent's pre-filter model, verified like the central one (trusted signature, hash, revocation), or
 * undefined when VIGIL_AGENT_MODEL_DIR is unset. Imports the scoring code (and onnxruntime) only then.
 */
export async function openPrefilter(
  cfg: CaptureConfig,
  scoring: Pick<
    ScoringConfig,
    'VIGIL_MODEL_KEYS_DIR' | 'VIGIL_MODEL_TRUSTED_KEYS' | 'VIGIL_MODEL_REVOKED' | 'VIGIL_MODEL_REVOKED_FILE'
  >,
): Promise<Prefilter | undefined> {
  if (!cfg.VIGIL_AGENT_MODEL_DIR) return undefined;
  const { ModelRejected, openScoringModel, thresholdOf } = await import('../scoring/model.js');
  try {
    const model = await openScoringModel({ ...scoring, VIGIL_MODEL_DIR: cfg.VIGIL_AGENT_MODEL_DIR });
    return { model, threshold: thresholdOf(model.manifest, cfg.VIGIL_AGENT_MODEL_THRESHOLD) };
  } catch (e) {
    if (e instanceof ModelRejected) return { model: e };
    throw e;
  }
}

async function prefilterScore(p: Prefilter, syscalls: string[]): Promise<PrefilterResult> {
  const m = p.model;
  if (!('session' in m)) return { refused: m.message, reason: m.reason };
  const [score] = await m.score([Float32Array.from(m.featurizer.features(syscalls))]);
  if (score === undefined || p.threshold === undefined)
    return { refused: 'the model returned no score', reason: 'error' };
  return {
    modelId: m.manifest.id,
    version: m.manifest.version,
    sha256: m.sha256,
    score,
    threshold: p.threshold,
    aboveThreshold: score >= p.threshold,
  };
}

export function createCaptureActivities(cfg: CaptureConfig, prefilter?: Prefilter) {
  return {
    captureSyscalls: async (input: CaptureSyscallsInput): Promise<CaptureResult> => {
      const q = parseInput(CaptureSyscallsInput, input, 'captureSyscalls');
      if (!cfg.VIGIL_AGENT_CAPTURE)
        throw failure(
          ErrorType.Forbidden,
          'syscall capture is off on this agent (VIGIL_AGENT_CAPTURE=false)',
        );
      if (q.seconds > cfg.VIGIL_CAPTURE_MAX_SECONDS)
        throw failure(
          ErrorType.InvalidInput,
          `captureSyscalls: seconds ${q.seconds} is over this agent's limit of ${cfg.VIGIL_CAPTURE_MAX_SECONDS} (VIGIL_CAPTURE_MAX_SECONDS)`,
        );
      if (q.pid === process.pid)
        throw failure(ErrorType.Forbidden, 'refused: the agent does not trace itself', { pid: q.pid });
      const st = readStat(q.pid);
      if (!st || st.state === 'Z' || st.state === 'X')
        throw failure(ErrorType.NotFound, `process ${q.pid} no longer exists`, { pid: q.pid });
      const started = startTimeMs(st.startTicks);
      if (
        q.startTime !== undefined &&
        Math.abs(started - Date.parse(q.startTime)) > cfg.VIGIL_AGENT_PID_START_TOLERANCE
      )
        throw failure(
          ErrorType.NotFound,
          `pid ${q.pid} now names another process: started ${new Date(started).toISOString()}, expected ${q.startTime}`,
          { pid: q.pid, startedAt: new Date(started).toISOString(), expected: q.startTime },
        );
      let r;
      try {
        r = await withHeartbeat(() =>
          runStrace({
            strace: cfg.VIGIL_STRACE_PATH,
            pid: q.pid,
            seconds: q.seconds,
            maxCalls: Math.min(q.maxCalls ?? cfg.VIGIL_CAPTURE_MAX_CALLS, cfg.VIGIL_CAPTURE_MAX_CALLS),
          }),
        );
      } catch (e) {
        if (!(e instanceof StraceError)) throw e;
        const type = {
          'not-installed': ErrorType.Misconfigured,
          'no-such-process': ErrorType.NotFound,
          'not-permitted': ErrorType.Forbidden,
          failed: ErrorType.Unavailable,
        }[e.kind];
        throw failure(type, `captureSyscalls: ${e.message}`, { pid: q.pid, kind: e.kind });
      }
      return {
        pid: q.pid,
        comm: st.comm,
        startTime: new Date(started).toISOString(),
        syscalls: r.syscalls,
        calls: r.syscalls.length,
        seconds: r.seconds,
        truncated: r.truncated,
        exited: r.exited,
        ...(prefilter ? { prefilter: await prefilterScore(prefilter, r.syscalls) } : {}),
      };
    },
  };
}
export type CaptureActivities = ReturnType<typeof createCaptureActivities>;

export { loadCaptureConfig, type CaptureConfig } from './config.js';
