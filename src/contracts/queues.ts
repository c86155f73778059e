/**
 * Task queues. A deployment's playbook task queue runs the incidents; its control queue runs the few
 * long-lived workflows every incident talks to: the per-channel notifiers and the automation control
 * (kill switch and budget). They get a queue of their own, polled by the same worker process, so a flood
 * of incidents cannot starve them: with one queue, a notifier's workflow task waited behind 10,000
 * incidents' tasks for 15 minutes, 9,700 signals piled up for it, and the one activation that finally
 * took them all ran past the SDK's 5 s limit and killed the worker.
 */
export function controlTaskQueue(playbookTaskQueue: string): string {
  return `${playbookTaskQueue}-control`;
}
