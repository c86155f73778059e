/** checkApproval's deadline: an answer after the recorded deadline is refused, before it accepted. */
import { describe, expect, it } from 'vitest';
import { checkApproval } from './approval.js';
import { pendingApproval } from '../../test/helpers/approvals.js';

const record = pendingApproval({
  requestedAt: '2026-11-27T10:00:00.000Z',
  deadline: '2026-11-27T11:00:00.000Z',
  paramsHash: 'p1',
});
const attempt = {
  approvalId: record.approvalId,
  paramsHash: 'p1',
  decision: 'approve' as const,
  operator: { id: 'lead-1', role: 'lead' as const },
  via: 'cli' as const,
};

describe('checkApproval and the deadline', () => {
  it('accepts an authorized answer before the deadline', () => {
    expect(checkApproval(record, attempt, Date.parse('2026-11-27T10:59:59.999Z'))).toEqual({ ok: true });
  });

  it('refuses any answer at or after the deadline, approve or deny, even while the record is still pending', () => {
    for (const decision of ['approve', 'deny'] as const) {
      const c = checkApproval(record, { ...attempt, decision }, Date.parse(record.deadline));
      expect(c).toMatchObject({ ok: false, code: 'expired' });
      expect(!c.ok && c.message).toMatch(/expired at 2026-11-27T11:00:00.000Z/);
    }
  });

  it('says "already decided" for a decided record rather than "expired"', () => {
    const c = checkApproval({ ...record, status: 'expired' }, attempt, Date.parse('2026-11-27T12:00:00Z'));
    expect(c).toMatchObject({ ok: false, code: 'already-decided' });
  });
});
