/**
 * The playbook registry and router: the first playbook whose `matches` accepts the event runs it.
 * Adding a playbook: one file, plus one line here (before `triage`, the catch-all).
 */
import type { DetectionEvent } from '../src/events/detection-event.js';
import type { Playbook } from './lib/playbook.js';
import { suspiciousProcess } from './suspicious-process.js';
import { triage } from './triage.js';

export const PLAYBOOKS: readonly Playbook[] = [suspiciousProcess, triage];

export function route(event: DetectionEvent): Playbook {
  return PLAYBOOKS.find((p) => p.matches(event)) ?? triage;
}
