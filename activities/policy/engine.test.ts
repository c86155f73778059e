import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ACTIONS, OPERATOR_ROLES, type ActionName, type OperatorRole } from '../../src/policy/actions.js';
import { checkApproval, paramsHashOf, type ApprovalRequestRecord } from '../../src/policy/approval.js';
import { repoRoot } from '../../src/paths.js';
import {
  PolicyEngine,
  validateBundle,
  loadPolicyBundle,
  type DecisionRequest,
  type PolicyBundle,
} from './engine.js';

const engine = PolicyEngine.load(join(repoRoot(), 'policies'));
const base: DecisionRequest = {
  playbook: { name: 'suspicious-process', version: '1.0.0' },
  host: 'web-01',
  severity: 'high',
  riskScore: 80,
  verdict: 'malicious',
  techniques: ['T1059.004'],
  hasProcess: true,
  inContainer: false,
  proposed: Object.keys(ACTIONS) as ActionName[],
};
/** The shipped policy bundle with extra policies beside the shipped ones (and the schema changed, if asked). */
const withPolicies = (
  extra: Record<string, string>,
  schema: (s: string) => string = (s) => s,
): PolicyBundle => {
  const b = loadPolicyBundle(join(repoRoot(), 'policies'));
  return { ...b, schema: schema(b.schema), byId: { ...b.byId, ...extra } };
};
const disposition = (req: Partial<DecisionRequest>) =>
  Object.fromEntries(engine.decide({ ...base, ...req }).map((d) => [d.action, d.disposition]));

describe('policy engine (Cedar)', () => {
  it('validates the shipped policies against the schema', () => {
    expect(validateBundle(loadPolicyBundle(join(repoRoot(), 'policies')))).toEqual([]);
    expect(engine.version).toMatch(/^[0-9a-f]{16}$/);
  });

  it('automates observe and low containment for a malicious, high-risk process; asks for the rest', () => {
    expect(disposition({})).toEqual({
      'notify-email': 'automatic',
      alert: 'automatic',
      'open-ticket': 'automatic',
      throttle: 'automatic',
      'suspend-process': 'automatic',
      'kill-process-tree': 'automatic',
      'quarantine-file': 'automatic',
      'block-process-network': 'automatic',
      'isolate-host': 'approval',
      'lock-local-account': 'approval',
      'disable-account': 'approval',
      'reimage-host': 'approval',
    });
    const critical = engine.decide({ ...base, proposed: ['disable-account'] })[0];
    expect(critical?.approvals).toEqual({ needed: 2, roles: ['lead', 'admin'] });
    expect(engine.decide({ ...base, proposed: ['suspend-process'], riskScore: 60 })[0]?.approvals).toEqual({
      needed: 1,
      roles: ['analyst', 'lead', 'admin'],
    });
  });

  it('forbids everything but observing for a benign verdict (default deny)', () => {
    const d = disposition({ verdict: 'benign', riskScore: 10 });
    expect(
      Object.entries(d)
        .filter(([, v]) => v !== 'forbidden')
        .map(([k]) => k)
        .sort(),
    ).toEqual(['alert', 'notify-email', 'open-ticket']);
  });

  it('forbids process actions without a process, and host isolation for a container event below critical', () => {
    const d = disposition({ hasProcess: false, inContainer: true });
    expect(d['suspend-process']).toBe('forbidden');
    expect(d['isolate-host']).toBe('forbidden');
    expect(disposition({ inContainer: true, severity: 'critical' })['isolate-host']).toBe('approval');
  });

  it('never makes a high or critical action automatic, even under a policy that permits it', () => {
    const permissive = new PolicyEngine(
      withPolicies({ 'permit-everything': 'permit (principal, action, resource);' }),
    );
    for (const d of permissive.decide(base)) {
      if (d.class === 'high' || d.class === 'critical') {
        expect(d.disposition).toBe('approval');
        expect(d.reasons.join(' ')).toContain('guard');
      }
    }
  });

  it('names a policy that would automate a high or critical action (reported by vigil policy check)', () => {
    expect(new PolicyEngine(withPolicies({})).guardOverrides()).toEqual([]);
    const sloppy = new PolicyEngine(
      withPolicies({
        'automate-isolation': `permit (principal, action == Vigil::Action::"automate", resource == Vigil::Response::"isolate-host") when { context.riskScore > 90 };`,
      }),
    );
    expect(sloppy.guardOverrides()).toEqual([{ action: 'isolate-host', policies: ['automate-isolation'] }]);
  });

  it('memoizes approver roles per action, severity and host, with the same answer as a fresh probe', () => {
    const engine = PolicyEngine.load(join(repoRoot(), 'policies'));
    const fresh = () => PolicyEngine.load(join(repoRoot(), 'policies'));
    for (const severity of ['low', 'high', 'critical'] as const) {
      const first = engine.rolesThatMayApprove('isolate-host', { severity, host: 'h1' });
      first.push('analyst'); // a caller's change does not leak into the memo
      expect(engine.rolesThatMayApprove('isolate-host', { severity, host: 'h1' })).toEqual(
        fresh().rolesThatMayApprove('isolate-host', { severity, host: 'h1' }),
      );
    }
  });

  it('refuses to load a policy that does not validate against the schema', () => {
    expect(
      () =>
        new PolicyEngine(
          withPolicies({ broken: 'permit (principal, action, resource) when { context.noSuchField };' }),
        ),
    ).toThrow(/do not validate/);
  });
});

/** An independent reference of who may approve what, written from ARCHITECTURE.md, not from the policies. */
function reference(
  role: OperatorRole | 'guest',
  action: ActionName,
  isRequester: boolean,
  alreadyApprovedBy: boolean,
): boolean {
  if (role === 'guest' || isRequester || alreadyApprovedBy) return false;
  const c = ACTIONS[action].class;
  return c === 'observe' || c === 'low' ? true : role === 'lead' || role === 'admin';
}

describe('request validation', () => {
  const validating = PolicyEngine.load(join(repoRoot(), 'policies'), { validateRequests: true });

  it('decides alike with and without checking each request against the schema (generated matrix)', () => {
    let cases = 0;
    for (const severity of ['info', 'low', 'medium', 'high', 'critical'] as const)
      for (const verdict of ['benign', 'suspicious', 'malicious'] as const)
        for (const riskScore of [0, 49.6, 74, 75, 100])
          for (const hasProcess of [true, false])
            for (const inContainer of [true, false])
              for (const techniques of [[], ['T1059.004'], ['T1059', 'T1105', 'T9999']]) {
                const req = { ...base, severity, verdict, riskScore, hasProcess, inContainer, techniques };
                expect(engine.decide(req)).toEqual(validating.decide(req));
                cases++;
              }
    for (const role of OPERATOR_ROLES)
      for (const action of Object.keys(ACTIONS) as ActionName[])
        for (const isRequester of [true, false]) {
          const req = {
            operator: { id: 'op-1', role },
            action,
            severity: 'high' as const,
            host: 'h',
            isRequester,
          };
          expect(engine.mayApprove(req)).toEqual(validating.mayApprove(req));
          cases++;
        }
    expect(cases).toBe(972);
  });

  it('passes the playbook entity when a policy reads it, and decides the same without it otherwise', () => {
    const pinned = withPolicies({
      'old-playbooks-never-contain': `forbid (principal, action in [Vigil::Action::"propose", Vigil::Action::"automate"], resource) when { resource.class != "observe" && principal.version == "0.9.0" };`,
    });
    for (const validateRequests of [false, true]) {
      const e = new PolicyEngine(pinned, { validateRequests });
      const old = e.decide({ ...base, playbook: { name: 'suspicious-process', version: '0.9.0' } });
      expect(old.find((d) => d.action === 'suspend-process')?.disposition).toBe('forbidden');
      expect(e.decide(base).find((d) => d.action === 'suspend-process')?.disposition).toBe('automatic');
    }
    // `principal is` and `==` need no entity: the answers match the validating engine, which always passes it.
    const scoped = withPolicies({
      'only-this-playbook': `forbid (principal, action in [Vigil::Action::"propose", Vigil::Action::"automate"], resource) unless { principal == Vigil::Playbook::"suspicious-process" };`,
    });
    const fast = new PolicyEngine(scoped);
    const checked = new PolicyEngine(scoped, { validateRequests: true });
    for (const name of ['suspicious-process', 'triage'])
      expect(fast.decide({ ...base, playbook: { name, version: '1.0.0' } })).toEqual(
        checked.decide({ ...base, playbook: { name, version: '1.0.0' } }),
      );
  });

  it('passes each request only the policies that can apply and the context they read, deciding as the reference', () => {
    // Policies that read what the shipped ones do not (techniques, host, severity), scopes of every form,
    // and a condition that uses the context whole (`context has`), beside the shipped ones.
    const rich = withPolicies({
      'no-automation-for-discovery': `forbid (principal, action == Vigil::Action::"automate", resource) when { context.techniques.contains("T1082") };`,
      'db-hosts-need-a-human': `forbid (principal, action in [Vigil::Action::"automate"], resource is Vigil::Response) when { context.host like "db-*" };`,
      'quarantine-on-critical': `permit (principal, action == Vigil::Action::"automate", resource == Vigil::Response::"quarantine-file") when { context has severity && context.severity == "critical" };`,
      'no-kill-in-containers': `forbid (principal, action in [Vigil::Action::"propose", Vigil::Action::"automate"], resource in Vigil::Response::"kill-process-tree") when { context.inContainer };`,
    });
    const fast = new PolicyEngine(rich);
    const reference = new PolicyEngine(rich, { validateRequests: true });
    let differs = 0;
    let cases = 0;
    for (const severity of ['low', 'high', 'critical'] as const)
      for (const verdict of ['suspicious', 'malicious'] as const)
        for (const host of ['web-01', 'db-7'])
          for (const inContainer of [true, false])
            for (const techniques of [[], ['T1082'], ['T1059.004', 'T1082']]) {
              const req = { ...base, severity, verdict, host, inContainer, techniques, riskScore: 90 };
              const got = fast.decide(req);
              expect(got).toEqual(reference.decide(req));
              cases++;
              if (JSON.stringify(got) !== JSON.stringify(engine.decide(req))) differs++;
            }
    expect(cases).toBe(72);
    // The added policies did change decisions (so the comparison above exercised them).
    expect(differs).toBeGreaterThan(20);
  });

  it('does not narrow `action in` when the schema groups actions', () => {
    const grouped = withPolicies(
      {
        'no-containment-of-processes': `forbid (principal, action in Vigil::Action::"contain", resource == Vigil::Response::"suspend-process");`,
      },
      (schema) =>
        schema
          .replace('action propose appliesTo', 'action contain;\n  action propose in [contain] appliesTo')
          .replace('action automate appliesTo', 'action automate in [contain] appliesTo'),
    );
    expect(validateBundle(grouped)).toEqual([]);
    const fast = new PolicyEngine(grouped);
    expect(fast.decide(base).find((d) => d.action === 'suspend-process')?.disposition).toBe('forbidden');
    expect(fast.decide(base)).toEqual(new PolicyEngine(grouped, { validateRequests: true }).decide(base));
  });

  it('checks requests against the schema when asked to (vigil policy check)', () => {
    const bad = { ...base, techniques: ['T1059', 7 as unknown as string] };
    expect(() => validating.decide(bad)).toThrow(/policy evaluation failed/);
  });
});

describe('approval authorization matrix', () => {
  it('agrees with the reference on 12,000 generated (actor, role, action, class, requester) cases: 0 unauthorized approvals', () => {
    let seed = 20261126;
    const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
    const actions = Object.keys(ACTIONS) as ActionName[];
    const roles: (OperatorRole | 'guest')[] = [...OPERATOR_ROLES, 'guest'];
    const rolesFor = new Map(
      actions.map((a) => [a, engine.rolesThatMayApprove(a, { severity: 'high', host: 'h' })]),
    );
    let unauthorized = 0;
    let disagreements = 0;
    for (let i = 0; i < 12_000; i++) {
      const action = actions[rand(actions.length)] as ActionName;
      const role = roles[rand(roles.length)] as OperatorRole | 'guest';
      const actor = `op-${rand(5)}`;
      const requester = rand(4) === 0 ? actor : `op-${rand(5) + 5}`;
      const prior = rand(5) === 0 ? actor : `op-${rand(3) + 20}`;
      const record: ApprovalRequestRecord = {
        approvalId: 'a1',
        incidentId: 'inc',
        action,
        class: ACTIONS[action].class,
        params: { host: 'h' },
        paramsHash: paramsHashOf(action, { host: 'h' }),
        needed: ACTIONS[action].class === 'critical' ? 2 : 1,
        roles: rolesFor.get(action) ?? [],
        requester,
        requestedAt: 't',
        deadline: 't',
        status: 'pending',
        approvers: rand(2) ? [{ operator: prior, role: 'lead', at: 't', via: 'cli' }] : [],
        escalation: 0,
      };
      // A guest has no operator role at all: the server refuses it before the gate; model it as no role.
      const got =
        role !== 'guest' &&
        checkApproval(record, {
          approvalId: 'a1',
          paramsHash: record.paramsHash,
          decision: 'approve',
          operator: { id: actor, role },
          via: 'cli',
        }).ok &&
        engine.mayApprove({
          operator: { id: actor, role },
          action,
          severity: 'high',
          host: 'h',
          isRequester: actor === requester,
        }).allow;
      const want = reference(
        role,
        action,
        actor === requester,
        record.approvers.some((a) => a.operator === actor),
      );
      if (got && !want) unauthorized++;
      if (got !== want) disagreements++;
    }
    expect(unauthorized).toBe(0);
    expect(disagreements).toBe(0);
  });

  it('binds an approval to its parameters', () => {
    expect(paramsHashOf('isolate-host', { host: 'a' })).not.toBe(paramsHashOf('isolate-host', { host: 'b' }));
    expect(paramsHashOf('isolate-host', { host: 'a', x: 1 })).toBe(
      paramsHashOf('isolate-host', { x: 1, host: 'a' }),
    );
  });
});
