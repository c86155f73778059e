/**
 * Audit log records for tests: a run's history as the exporter writes it (gzip+base64, with its digest); a
 * NewRecord for AuditLog.append.
 */
import { gzipSync } from 'node:zlib';
import { sha256Hex } from '../../activities/audit/canonical.js';

type RunIds = { workflowId: string; runId: string; incidentId: string };

export function historyRecord(
  ids: RunIds,
  history: string,
  events: number,
): {
  kind: 'history';
  payload: RunIds & { encoding: string; sha256: string; bytes: number; events: number; data: string };
} {
  return {
    kind: 'history',
    payload: {
      ...ids,
      encoding: 'gzip+base64',
      sha256: sha256Hex(history),
      bytes: history.length,
      events,
      data: gzipSync(history).toString('base64'),
    },
  };
}
