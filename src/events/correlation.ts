/**
 * Correlation: which detections belong to one incident. The key becomes the incident workflow id,
 * so duplicates of an open incident are signals to it, not new workflows.
 */
import type { DetectionEvent } from './detection-event.js';

export const CORRELATION_FIELDS = ['host', 'rule', 'process', 'user', 'container', 'source'] as const;
export type CorrelationField = (typeof CORRELATION_FIELDS)[number];

function fieldValue(ev: DetectionEvent, f: CorrelationField): string {
  switch (f) {
    case 'host':
      return ev.host.id;
    case 'rule':
      return ev.detection.ruleId;
    case 'process':
      return ev.process?.executable ?? ev.process?.name ?? '';
    case 'user':
      return ev.user?.name ?? (ev.user?.uid !== undefined ? String(ev.user.uid) : '');
    case 'container':
      return ev.container?.id ?? '';
    case 'source':
      return ev.source;
  }
}

/** The human-readable correlation key, e.g. `host=web-01|rule=Run shell untrusted`. */
export function correlationKey(ev: DetectionEvent, fields: readonly CorrelationField[]): string {
  return fields.map((f) => `${f}=${fieldValue(ev, f)}`).join('|');
}

/** A short, URL- and shell-safe slug of the host for readable incident ids. */
export function hostSlug(host: string): string {
  const s = host
    .toLowerCase()
    .replace(/[^a-z0-9.-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 40);
  return s || 'host';
}
