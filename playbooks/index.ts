/** Every workflow type the playbook worker registers. Playbooks themselves are listed in registry.ts. */
export { incident } from './incident.js';
export { agentRegistration } from './control/agent-registration.js';
export { automationControl } from './control/automation-control.js';
export { containment } from './control/containment.js';
export { notifier } from './notifier.js';
export { rpaQueue } from './rpa-queue.js';
export { rpaJob } from './rpa-job.js';
