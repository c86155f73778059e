/** Every workflow type the playbook worker registers. Playbooks themselves are listed in registry.ts. */
export { incident } from './incident.js';
export { rpaQueue } from './rpa-queue.js';
export { rpaJob } from './rpa-job.js';
