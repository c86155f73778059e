/**
 * The SDK's workflow threads without its per-promise stack capture (VIGIL_WORKFLOW_STACK_TRACES=false, the
 * default).
 *
 * The TypeScript SDK installs a V8 promise hook in each workflow thread that builds and source-maps a stack
 * trace for every promise a workflow creates, so that the `__stack_trace` query (the UI's "Stack Trace"
 * tab) can show where a workflow waits (sdk-typescript#1587). Profiled in the benchmark, that hook was about
 * a third of the workflow thread's busy time. There is no worker option for it, so while the playbook
 * worker creates its Workers, the SDK's workflow threads start from ./workflow-thread.js instead: that
 * entry replaces the hook's installation with a no-op, then loads the SDK's own thread. The SDK then
 * reports stack traces as disabled ("Workflow stack traces are not enabled on this worker") and nothing else
 * changes: determinism, replay, the deadlock timeout and every other query are the SDK's own.
 *
 * Set VIGIL_WORKFLOW_STACK_TRACES=true to keep the SDK's behaviour (e.g. to debug a stuck workflow).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { Bool } from '../../src/config.js';
import { distEntry } from '../../src/paths.js';

export const WorkflowThreadConfig = z.object({
  VIGIL_WORKFLOW_STACK_TRACES: Bool.default(false),
});

const require = createRequire(import.meta.url);
type WorkerCtor = typeof import('node:worker_threads').Worker;
const threads = require('node:worker_threads') as { Worker: WorkerCtor };

/** The SDK's workflow thread entry (what it passes to `new Worker`). */
export const SDK_WORKFLOW_THREAD = require.resolve('@temporalio/worker/lib/workflow/workflow-worker-thread');
/**
 * The SDK's hook installer, as our entry replaces it in each thread (the same file in this thread's module
 * cache): absent, nothing to replace, and the SDK's own threads are kept (reported, never claimed off).
 */
const hookInstallerFound = (): boolean => {
  const shared = require(join(dirname(SDK_WORKFLOW_THREAD), 'vm-shared.js')) as {
    GlobalHandlers?: { prototype: { setPromiseHook?: unknown } };
  };
  return typeof shared.GlobalHandlers?.prototype.setPromiseHook === 'function';
};

/** Ours: turns the promise hook off, then runs the SDK's entry (built; tests run the built file too). */
export const VIGIL_WORKFLOW_THREAD = distEntry('workers/lib/workflow-thread');

let active = 0;
let original: WorkerCtor | undefined;
/** Which creation a `new Worker` belongs to: overlapping creations may ask for different threads. */
const creation = new AsyncLocalStorage<{ tune: boolean; substituted: number }>();

/**
 * Run `create` (the SDK's Worker.create) with the workflow threads it starts taken from our entry when
 * stack traces are off. Several creations may overlap, each with its own choice (the constructor is
 * swapped while any runs, and back when the last one ends). Returns whether any workflow thread of this
 * creation was started from our entry: false with stack traces off means the SDK created its threads some
 * other way, and they keep the SDK's stack capture.
 */
export async function withWorkflowThreads<T>(
  stackTraces: boolean,
  create: () => Promise<T>,
): Promise<{ value: T; tuned: boolean }> {
  if (active++ === 0) {
    const Base = threads.Worker;
    original = Base;
    // A subclass, so `instanceof Worker` and every method stay the platform's; only the SDK's entry file
    // is replaced, with the same options (execArgv and env inherited as the SDK asked).
    threads.Worker = class extends Base {
      constructor(filename: string | URL, options?: ConstructorParameters<WorkerCtor>[1]) {
        const mine = creation.getStore();
        const path = filename instanceof URL ? filename.href : filename;
        const ours = mine?.tune === true && path === SDK_WORKFLOW_THREAD;
        super(ours ? VIGIL_WORKFLOW_THREAD : filename, options);
        if (ours && mine) mine.substituted++;
      }
    };
  }
  // Our entry is the built file: without it (sources not built), or without the installer it replaces, the
  // SDK's own threads (reported by the caller).
  const mine = {
    tune: !stackTraces && existsSync(VIGIL_WORKFLOW_THREAD) && hookInstallerFound(),
    substituted: 0,
  };
  try {
    const value = await creation.run(mine, create);
    return { value, tuned: mine.substituted > 0 };
  } finally {
    if (--active === 0 && original) {
      threads.Worker = original;
      original = undefined;
    }
  }
}
