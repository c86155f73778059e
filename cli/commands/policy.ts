/**
 * `vigil policy check [dir]`: validate the Cedar policies against their schema and run their tests
 * (policies/tests/*.json: [{ name, request: DecisionRequest | ApprovalRequest, expect }]).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  loadPolicyBundle,
  PolicyEngine,
  validateBundle,
  type ApprovalRequest,
  type DecisionRequest,
} from '../../activities/policy/engine.js';
import { repoRoot } from '../../src/paths.js';
import { printJson } from '../output.js';

interface PolicyTest {
  name: string;
  decide?: DecisionRequest;
  approve?: ApprovalRequest;
  /** For decide: action -> disposition; for approve: true/false. */
  expect: Record<string, string> | boolean;
}

export function policyCheck(opts: { dir?: string; json: boolean }): number {
  const dir = opts.dir ?? join(repoRoot(), 'policies');
  const bundle = loadPolicyBundle(dir);
  const problems = validateBundle(bundle);
  const results: { name: string; ok: boolean; got?: unknown; want?: unknown }[] = [];
  let overridden: ReturnType<PolicyEngine['guardOverrides']> = [];
  if (!problems.length) {
    // Every test request is also checked against the schema here.
    const engine = new PolicyEngine(bundle, { validateRequests: true });
    overridden = engine.guardOverrides();
    const testDir = join(dir, 'tests');
    for (const f of readdirSync(testDir)
      .filter((x) => x.endsWith('.json'))
      .sort()) {
      for (const t of JSON.parse(readFileSync(join(testDir, f), 'utf8')) as PolicyTest[]) {
        const name = `${f}: ${t.name}`;
        if (t.decide) {
          const got = Object.fromEntries(engine.decide(t.decide).map((d) => [d.action, d.disposition]));
          const want = t.expect as Record<string, string>;
          results.push({ name, ok: Object.entries(want).every(([k, v]) => got[k] === v), got, want });
        } else if (t.approve) {
          const got = engine.mayApprove(t.approve).allow;
          results.push({ name, ok: got === t.expect, got, want: t.expect });
        } else results.push({ name, ok: false, got: 'a test needs "decide" or "approve"' });
      }
    }
  }
  const failed = results.filter((r) => !r.ok);
  if (opts.json)
    printJson({
      dir,
      version: bundle.version,
      files: bundle.files,
      problems,
      tests: results.length,
      failed,
      guardOverrides: overridden,
    });
  else {
    process.stdout.write(`policies ${dir} (version ${bundle.version}; ${bundle.files.join(', ')})\n`);
    process.stdout.write(
      problems.length
        ? `schema validation FAILED:\n${problems.map((p) => `  - ${p}`).join('\n')}\n`
        : 'schema validation: ok\n',
    );
    for (const o of overridden)
      process.stdout.write(
        `WARNING: ${o.policies.join(', ')} would make ${o.action} automatic; the guard keeps it an approval\n`,
      );
    for (const r of failed)
      process.stdout.write(
        `FAIL ${r.name}\n  want ${JSON.stringify(r.want)}\n  got  ${JSON.stringify(r.got)}\n`,
      );
    process.stdout.write(`${results.length - failed.length} passed, ${failed.length} failed\n`);
  }
  return problems.length || failed.length ? 1 : 0;
}
