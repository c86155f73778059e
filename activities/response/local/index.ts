/**
 * The endpoint agent's local containment responder: a plain library (no Temporal worker in it). The
 * agent's worker wraps `execute` in an activity on the host's task queue.
 */
export { createLocalResponder, LOCAL_ACTIONS, RESPONDER_NAME, type LocalResponder } from './responder.js';
export { LocalResponderConfig, loadLocalResponderConfig } from './config.js';
export { createCommandRunner, type CommandRunner } from './runner.js';
