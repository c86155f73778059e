/**
 * The policy engine: Cedar (the @cedar-policy/cedar-wasm build of Cedar's Rust core, offline, with a
 * schema validator and a precise, analyzable language; chosen over OPA/Rego because its
 * permit/forbid-with-default-deny semantics is exactly the decision we need, it validates policies
 * against a schema, and it runs in-process in microseconds). Policies live in policies/ as code.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import {
  ACTIONS,
  approvalsNeeded,
  mayBeAutomatic,
  OPERATOR_ROLES,
  type ActionDecision,
  type ActionName,
  type DecisionRequest,
  type OperatorRole,
} from '../../src/policy/actions.js';
import { SEVERITY_RANK, type Severity } from '../../src/events/detection-event.js';
import { SEVERITIES } from '../../src/events/severity.js';

export type { DecisionRequest } from '../../src/policy/actions.js';

export interface ApprovalRequest {
  operator: { id: string; role: OperatorRole };
  action: ActionName;
  severity: Severity;
  host: string;
  isRequester: boolean;
}

export interface PolicyBundle {
  dir: string;
  /** Policies by their @id annotation (diagnostics name them), in file order. */
  byId: Record<string, string>;
  /** sha256 over the schema and every policy file, in name order: recorded with every decision. */
  version: string;
  policies: string;
  schema: string;
  files: string[];
}

export function loadPolicyBundle(dir: string): PolicyBundle {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.cedar'))
    .sort();
  const schema = readFileSync(join(dir, 'schema.cedarschema'), 'utf8');
  const texts = files.map((f) => readFileSync(join(dir, f), 'utf8'));
  const h = createHash('sha256').update(schema);
  files.forEach((f, i) => h.update(`\n--- ${f}\n`).update(texts[i] ?? ''));
  const policies = texts.join('\n');
  return {
    dir,
    version: h.digest('hex').slice(0, 16),
    policies,
    byId: policiesById(policies),
    schema,
    files,
  };
}

/** Split a policy set into its policies keyed by `@id("...")` (or `policyN` where there is none). */
export function policiesById(text: string): Record<string, string> {
  const parts = cedar.policySetTextToParts(text);
  if (parts.type === 'failure')
    throw new Error(`policies do not parse: ${parts.errors.map((e) => e.message).join('; ')}`);
  const out: Record<string, string> = {};
  parts.policies.forEach((p, i) => {
    const id = /@id\(\s*"([^"]+)"\s*\)/.exec(p)?.[1] ?? `policy${i}`;
    if (out[id]) throw new Error(`two policies share the id "${id}"`);
    out[id] = p;
  });
  return out;
}

/** Schema validation of the policies (strict mode); returns readable problems, empty when valid. */
export function validateBundle(b: PolicyBundle): string[] {
  const r = cedar.validate({ schema: b.schema, policies: { staticPolicies: b.byId } });
  if (r.type === 'failure') return r.errors.map((e) => e.message);
  return r.validationErrors.map((e) => `${e.policyId}: ${e.error.message}`);
}

const ROLE_PARENT: Record<OperatorRole, OperatorRole | undefined> = {
  admin: 'lead',
  lead: 'analyst',
  analyst: undefined,
};

function entities(extra: cedar.EntityJson[] = []): cedar.EntityJson[] {
  const roles = OPERATOR_ROLES.map((r) => ({
    uid: { type: 'Vigil::Role', id: r },
    attrs: {},
    parents: ROLE_PARENT[r] ? [{ type: 'Vigil::Role', id: ROLE_PARENT[r] }] : [],
  }));
  const responses = Object.entries(ACTIONS).map(([id, a]) => ({
    uid: { type: 'Vigil::Response', id },
    attrs: { class: a.class, scope: a.scope },
    parents: [],
  }));
  return [...roles, ...responses, ...extra];
}

/** What a decision must pass Cedar for one policy, read from Cedar's JSON form of it. */
interface PolicyReach {
  /** The actions its scope can match; undefined: any (or a scope this analysis does not narrow). */
  actions?: Set<string>;
  /** The one response its scope can match; undefined: any. */
  resource?: string;
  /** The context attributes its conditions read; undefined: the whole context (or a use not recognized). */
  contextAttrs?: Set<string>;
  readsPrincipal: boolean;
}

const isVar = (x: unknown, name: string) =>
  typeof x === 'object' && x !== null && (x as { Var?: unknown }).Var === name;

/**
 * Where a policy can apply and what it reads. Only narrowing that follows from Cedar's semantics is made: an
 * action scope `==` names one action, and `in` names the listed ones when the schema declares no action
 * groups; a resource scope `==` or `in` a response names that one (the responses this engine passes have no
 * parents); everything else (a policy Cedar cannot convert, `is`, other entity types, context used whole)
 * keeps the policy for every request, with the whole context.
 */
function policyReach(text: string, actionGroups: boolean): PolicyReach {
  const r = cedar.policyToJson(text);
  if (r.type !== 'success') return { readsPrincipal: true };
  const json = r.json as unknown as {
    action: { op: string; entity?: { type: string; id: string }; entities?: { type: string; id: string }[] };
    resource: { op: string; entity?: { type: string; id: string } };
    conditions: unknown;
  };
  const reach: PolicyReach = { readsPrincipal: false };
  const a = json.action;
  const named =
    a.op === '==' || (a.op === 'in' && !actionGroups)
      ? (a.entities ?? (a.entity ? [a.entity] : undefined))
      : undefined;
  if (named?.every((e) => e.type === 'Vigil::Action')) reach.actions = new Set(named.map((e) => e.id));
  const res = json.resource;
  if ((res.op === '==' || res.op === 'in') && res.entity?.type === 'Vigil::Response')
    reach.resource = res.entity.id;
  // Context attributes read: `context.x` and `context has x`; any other use of `context` means all of it.
  let uses = 0;
  let reads = 0;
  const attrs = new Set<string>();
  const walk = (x: unknown): void => {
    if (Array.isArray(x)) return x.forEach(walk);
    if (typeof x !== 'object' || x === null) return;
    if (isVar(x, 'context')) uses++;
    if (isVar(x, 'principal')) reach.readsPrincipal = true;
    for (const op of ['.', 'has']) {
      const node = (x as Record<string, { left?: unknown; attr?: unknown } | undefined>)[op];
      if (node && isVar(node.left, 'context') && typeof node.attr === 'string') {
        reads++;
        attrs.add(node.attr);
      }
    }
    Object.values(x).forEach(walk);
  };
  walk(json.conditions);
  if (uses === reads) reach.contextAttrs = attrs;
  return reach;
}

/**
 * The schema's action entities with their groups, when it puts any action in a group. Cedar learns the
 * action hierarchy from the schema only when one is passed with the request, and decisions do not pass it
 * (see validateRequests), so then they pass these entities instead: `action in <group>` answers as with
 * the schema. Empty when there are no groups (the shipped schema).
 */
function actionGroupEntities(schema: string): cedar.EntityJson[] {
  const r = cedar.schemaToJson(schema);
  if (r.type !== 'success') throw new Error(`the policy schema does not parse`);
  const out: cedar.EntityJson[] = [];
  for (const [ns, def] of Object.entries(r.json)) {
    const type = ns ? `${ns}::Action` : 'Action';
    for (const [id, a] of Object.entries(def.actions ?? {}))
      out.push({
        uid: { type, id },
        attrs: {},
        parents: (a.memberOf ?? []).map((m) => ({ type: m.type ?? type, id: m.id })),
      });
  }
  return out.some((e) => e.parents.length) ? out : [];
}

let engines = 0;
/** Memoized approver-role answers per engine (cleared when full). */
const APPROVER_ROLE_CACHE = 4096;

/** The policies that can apply to one (action, response) pair, preparsed in Cedar, and the context they read. */
interface Slice {
  /** Undefined when no policy can apply: Cedar's answer is then deny with no reasons (default deny). */
  setId?: string;
  /** The context attributes to pass; undefined: all of them. */
  contextKeys?: string[];
}

export class PolicyEngine {
  private readonly baseEntities = entities();
  private readonly approverRoles = new Map<string, OperatorRole[]>();
  /** Parsed once and cached inside Cedar: a decision does not re-parse policies or schema. */
  private readonly setId: string;
  private readonly schemaName: string;

  /**
   * Whether Cedar checks each request against the schema. Off in production: the policies are validated
   * against the schema when they load (so no policy can misread a well-typed request), the requests are
   * built here from typed, zod-checked inputs, and the schema has no extension types that would change how
   * a value parses; the check cost ~40% of each call (~90 of ~240 us). `vigil policy check` and the tests
   * turn it on, and a test shows both modes decide alike on a generated matrix. The validating engine is
   * also the reference for the two cuts below: it passes the whole policy set and the whole context.
   */
  private readonly validateRequests: boolean;
  /**
   * Whether a decision passes the playbook (the principal) as an entity. A playbook has no parents, so scope
   * tests (`==`, `in`, `is`) answer the same without it; only a condition that reads it (`principal.version`,
   * `principal has ...`) needs it, and then it is passed. Each entity passed costs a share of every call.
   */
  private readonly playbookEntityNeeded: boolean;
  /**
   * Per (action, response): only the policies whose scope can match it, and only the context attributes
   * they read. A policy whose scope cannot match is not satisfied, so leaving it out changes neither the
   * decision nor the reasons; an attribute no policy reads changes nothing either. Together they cut a
   * call by about a third (fewer policies to evaluate, less to convert into the engine). Made on first use.
   */
  private readonly slices = new Map<string, Slice>();
  private readonly reach: [string, PolicyReach][];
  private readonly actionEntities: cedar.EntityJson[];

  constructor(
    readonly bundle: PolicyBundle,
    opts: { validateRequests?: boolean } = {},
  ) {
    this.validateRequests = opts.validateRequests ?? false;
    const problems = validateBundle(bundle);
    if (problems.length)
      throw new Error(`policies in ${bundle.dir} do not validate:\n  - ${problems.join('\n  - ')}`);
    this.actionEntities = actionGroupEntities(bundle.schema);
    const groups = this.actionEntities.length > 0;
    this.reach = Object.entries(bundle.byId).map(([id, text]) => [id, policyReach(text, groups)]);
    this.playbookEntityNeeded = this.validateRequests || this.reach.some(([, r]) => r.readsPrincipal);
    engines += 1;
    this.setId = `vigil-${bundle.version}-${engines}`;
    this.schemaName = this.setId;
    const p = cedar.preparsePolicySet(this.setId, { staticPolicies: bundle.byId });
    const sc = cedar.preparseSchema(this.schemaName, bundle.schema);
    if (p.type === 'failure' || sc.type === 'failure')
      throw new Error(`policies in ${bundle.dir} do not parse`);
  }

  private slice(action: string, resource: string): Slice {
    const key = `${action}\0${resource}`;
    const known = this.slices.get(key);
    if (known) return known;
    const inScope = this.reach.filter(
      ([, r]) =>
        (!r.actions || r.actions.has(action)) && (r.resource === undefined || r.resource === resource),
    );
    const slice: Slice = {};
    if (inScope.length) {
      slice.setId = `${this.setId}/${this.slices.size}`;
      const p = cedar.preparsePolicySet(slice.setId, {
        staticPolicies: Object.fromEntries(inScope.map(([id]) => [id, this.bundle.byId[id] ?? ''])),
      });
      if (p.type === 'failure') throw new Error(`policies in ${this.bundle.dir} do not parse`);
      if (inScope.every(([, r]) => r.contextAttrs))
        slice.contextKeys = [...new Set(inScope.flatMap(([, r]) => [...(r.contextAttrs ?? [])]))].sort();
    }
    this.slices.set(key, slice);
    return slice;
  }

  static load(dir: string, opts: { validateRequests?: boolean } = {}): PolicyEngine {
    return new PolicyEngine(loadPolicyBundle(dir), opts);
  }

  get version(): string {
    return this.bundle.version;
  }

  private ask(
    call: Omit<
      cedar.StatefulAuthorizationCall,
      'preparsedPolicySetId' | 'preparsedSchemaName' | 'validateRequest'
    >,
  ): { allow: boolean; reasons: string[] } {
    // Only the entities a request can reach (its principal, its resource, and the roles' hierarchy when the
    // principal is an operator, the only entity with roles as parents): every
    // entity passed is serialized into the engine on each call, and that dominated a decision's cost.
    const principal = call.principal as { type: string; id: string };
    const resource = call.resource as { type: string; id: string };
    const reachable = (e: cedar.EntityJson) => {
      const uid = e.uid as { type: string; id: string };
      return (
        (uid.type === 'Vigil::Role' && principal.type === 'Vigil::Operator') ||
        (uid.type === resource.type && uid.id === resource.id) ||
        (uid.type === principal.type && uid.id === principal.id)
      );
    };
    const ents = Array.isArray(call.entities) ? call.entities.filter(reachable) : call.entities;
    // The validating engine passes the schema, which gives Cedar the action hierarchy.
    if (this.validateRequests) return this.answer({ ...call, entities: ents }, this.setId);
    const action = (call.action as { id: string }).id;
    const slice = this.slice(action, resource.type === 'Vigil::Response' ? resource.id : '');
    if (!slice.setId) return { allow: false, reasons: [] };
    const context = call.context as Record<string, cedar.CedarValueJson>;
    let slim: Record<string, cedar.CedarValueJson> = context;
    if (slice.contextKeys) {
      slim = {};
      for (const k of slice.contextKeys) {
        const v = context[k];
        if (v !== undefined) slim[k] = v;
      }
    }
    const withActions =
      this.actionEntities.length && Array.isArray(ents) ? ents.concat(this.actionEntities) : ents;
    return this.answer({ ...call, context: slim, entities: withActions }, slice.setId);
  }

  private answer(
    call: Omit<
      cedar.StatefulAuthorizationCall,
      'preparsedPolicySetId' | 'preparsedSchemaName' | 'validateRequest'
    >,
    setId: string,
  ): { allow: boolean; reasons: string[] } {
    const r = cedar.statefulIsAuthorized({
      ...call,
      preparsedPolicySetId: setId,
      ...(this.validateRequests
        ? { preparsedSchemaName: this.schemaName, validateRequest: true }
        : { validateRequest: false }),
    });
    if (r.type === 'failure')
      throw new Error(`policy evaluation failed: ${r.errors.map((e) => e.message).join('; ')}`);
    const errors = r.response.diagnostics.errors.map((e) => `${e.policyId}: ${e.error.message}`);
    // An evaluation error in a policy is a deny (Cedar skips that policy); say so.
    return {
      allow: r.response.decision === 'allow',
      // Sorted: Cedar reports the determining policies as a set, in no fixed order.
      reasons: [...r.response.diagnostics.reason.sort(), ...errors.sort().map((e) => `error in ${e}`)],
    };
  }

  /** For every proposed action: forbidden, automatic, or approval (with how many approvers and which roles). */
  decide(req: DecisionRequest): ActionDecision[] {
    const context = {
      severity: req.severity,
      severityRank: SEVERITY_RANK[req.severity],
      riskScore: Math.round(req.riskScore),
      verdict: req.verdict,
      host: req.host,
      techniques: req.techniques,
      hasProcess: req.hasProcess,
      inContainer: req.inContainer,
    };
    const principal = { type: 'Vigil::Playbook', id: req.playbook.name };
    const ents = this.playbookEntityNeeded
      ? this.baseEntities.concat([{ uid: principal, attrs: { version: req.playbook.version }, parents: [] }])
      : this.baseEntities;
    return [...new Set(req.proposed)].map((action) => {
      const spec = ACTIONS[action];
      const resource = { type: 'Vigil::Response', id: action };
      const propose = this.ask({
        principal,
        action: { type: 'Vigil::Action', id: 'propose' },
        resource,
        context,
        entities: ents,
      });
      if (!propose.allow) {
        return {
          action,
          class: spec.class,
          disposition: 'forbidden',
          reasons: propose.reasons.length
            ? propose.reasons.map((r) => `forbidden by ${r}`)
            : ['no policy permits it (default deny)'],
        };
      }
      const reasons = propose.reasons.map((r) => `proposed by ${r}`);
      // The run-time guard: a high or critical action is never automatic, so the policy is not asked
      // (`vigil policy check` reports a policy that would permit it).
      if (!mayBeAutomatic(spec.class)) {
        reasons.push(`guard: a ${spec.class} action is never automatic, whatever a policy says`);
      } else {
        const automate = this.ask({
          principal,
          action: { type: 'Vigil::Action', id: 'automate' },
          resource,
          context,
          entities: ents,
        });
        if (automate.allow)
          return {
            action,
            class: spec.class,
            disposition: 'automatic',
            reasons: [...reasons, ...automate.reasons.map((r) => `automatic by ${r}`)],
          };
      }
      return {
        action,
        class: spec.class,
        disposition: 'approval',
        approvals: { needed: approvalsNeeded(spec.class), roles: this.rolesThatMayApprove(action, req) },
        reasons,
      };
    });
  }

  /**
   * Policies that would make a high or critical action automatic somewhere in a sweep of request contexts
   * (every severity, verdict, process and container flag, four risk scores). The run-time guard overrides
   * them and `decide` does not ask; `vigil policy check` reports them so the policy is fixed.
   */
  guardOverrides(): { action: ActionName; policies: string[] }[] {
    const out = new Map<ActionName, Set<string>>();
    const principal = { type: 'Vigil::Playbook', id: 'policy-check' };
    const ents = this.baseEntities.concat([{ uid: principal, attrs: { version: '0' }, parents: [] }]);
    for (const [action, spec] of Object.entries(ACTIONS) as [ActionName, (typeof ACTIONS)[ActionName]][]) {
      if (mayBeAutomatic(spec.class)) continue;
      for (const severity of SEVERITIES)
        for (const verdict of ['benign', 'suspicious', 'malicious'])
          for (const riskScore of [0, 50, 75, 100])
            for (const hasProcess of [true, false])
              for (const inContainer of [true, false]) {
                const r = this.ask({
                  principal,
                  action: { type: 'Vigil::Action', id: 'automate' },
                  resource: { type: 'Vigil::Response', id: action },
                  context: {
                    severity,
                    severityRank: SEVERITY_RANK[severity],
                    riskScore,
                    verdict,
                    host: 'policy-check',
                    techniques: [],
                    hasProcess,
                    inContainer,
                  },
                  entities: ents,
                });
                if (r.allow)
                  for (const p of r.reasons) out.set(action, (out.get(action) ?? new Set()).add(p));
              }
    }
    return [...out].map(([action, policies]) => ({ action, policies: [...policies].sort() }));
  }

  /** May this operator approve this action? (The gate adds: never the requester; distinct approvers.) */
  mayApprove(req: ApprovalRequest): { allow: boolean; reasons: string[] } {
    const principal = { type: 'Vigil::Operator', id: req.operator.id };
    const ents = this.baseEntities.concat([
      {
        uid: principal,
        attrs: { name: req.operator.id },
        parents: [{ type: 'Vigil::Role', id: req.operator.role }],
      },
    ]);
    return this.ask({
      principal,
      action: { type: 'Vigil::Action', id: 'approve' },
      resource: { type: 'Vigil::Response', id: req.action },
      context: { severity: req.severity, host: req.host, isRequester: req.isRequester },
      entities: ents,
    });
  }

  /**
   * The roles whose members the policy lets approve this action (recorded in the approval request). A pure
   * function of this policy version, the action, the severity and the host: memoized per engine (a new
   * policy version is a new engine), bounded.
   */
  rolesThatMayApprove(action: ActionName, req: Pick<DecisionRequest, 'severity' | 'host'>): OperatorRole[] {
    const key = `${action}\0${req.severity}\0${req.host}`;
    const known = this.approverRoles.get(key);
    if (known) return [...known];
    const roles = this.probeApproverRoles(action, req);
    if (this.approverRoles.size >= APPROVER_ROLE_CACHE) this.approverRoles.clear();
    this.approverRoles.set(key, roles);
    return [...roles];
  }

  private probeApproverRoles(
    action: ActionName,
    req: Pick<DecisionRequest, 'severity' | 'host'>,
  ): OperatorRole[] {
    return OPERATOR_ROLES.filter(
      (role) =>
        this.mayApprove({
          operator: { id: `role-probe-${role}`, role },
          action,
          severity: req.severity,
          host: req.host,
          isRequester: false,
        }).allow,
    );
  }
}
