/**
 * A kept head: the latest signed checkpoint plus the log's last entry (seq and hash) at the time it was
 * taken. An auditor or another system stores it (`vigil audit head > head.json`); `verify --head` later
 * proves the log still contains that checkpoint and that entry, i.e. it was neither cut back nor rewritten.
 */
import { z } from 'zod';
import { AuditEntry } from './entry.js';

export const HEAD_FORMAT = 'vigil-audit-head/1';

export const AuditHead = z.strictObject({
  format: z.literal(HEAD_FORMAT),
  takenAt: z.iso.datetime(),
  checkpoint: AuditEntry,
  tail: z.strictObject({
    seq: z.number().int().positive(),
    hash: z.string().regex(/^[0-9a-f]{64}$/),
  }),
});
export type AuditHead = Omit<z.infer<typeof AuditHead>, 'checkpoint'> & { checkpoint: AuditEntry };

export function parseHead(json: unknown): AuditHead {
  return AuditHead.parse(json);
}
