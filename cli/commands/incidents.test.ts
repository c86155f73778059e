import { describe, expect, it } from 'vitest';
import { skippedWhy } from './incidents.js';

describe('vigil show: why an action was skipped', () => {
  it('names a dry run and who planned it', () => {
    expect(skippedWhy({ result: { status: 'dry-run', responder: 'agent' } })).toBe(
      ' (dry run: the agent planned it and changed nothing; the plan is in --json)',
    );
  });
  it("gives the playbook's reason, and nothing when there is none", () => {
    expect(skippedWhy({ why: 'no responder executes this action' })).toBe(
      ' (no responder executes this action)',
    );
    expect(skippedWhy({ result: { status: 'applied' } })).toBe('');
    expect(skippedWhy(undefined)).toBe('');
  });
});
