/**
 * Entry of a workflow thread started by ./workflow-threads.ts (never imported): the SDK's per-promise
 * stack capture off, then the SDK's own thread entry, unchanged. The SDK installs the hook through
 * `GlobalHandlers.install()` -> `setPromiseHook()` in this thread's copy of its vm-shared module, the copy
 * loaded here first; with the installer a no-op, `promiseHookInstalled` stays false and the SDK reports
 * stack traces as disabled.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);
const sdkThread = require.resolve('@temporalio/worker/lib/workflow/workflow-worker-thread');
const shared = require(join(dirname(sdkThread), 'vm-shared.js')) as {
  GlobalHandlers?: { prototype: { setPromiseHook?: () => void } };
};
if (typeof shared.GlobalHandlers?.prototype.setPromiseHook === 'function') {
  shared.GlobalHandlers.prototype.setPromiseHook = function setPromiseHook(): void {
    // Off: no V8 promise hook in this thread (VIGIL_WORKFLOW_STACK_TRACES=false).
  };
}
require(sdkThread);
