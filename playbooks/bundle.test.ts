/**
 * What the workflow bundle carries. The worker reuses one V8 context, but every incident gets its own
 * module cache: each module of the bundle is evaluated again for each incident the worker holds in memory
 * (and again when an evicted one is replayed). A validation library there cost ~1 MB and a few
 * milliseconds per incident (measured: zod made 1,000 cached incidents fill a 3.3 GB heap). Workflow code
 * imports constants and types; schemas live in modules only activities import (e.g.
 * src/contracts/response-schemas.ts).
 */
import { describe, expect, inject, it } from 'vitest';

/** Packages the bundle may contain: the SDK and its own dependencies. */
const ALLOWED_PACKAGES = ['@temporalio/common', '@temporalio/workflow', 'nexus-rpc', 'long', 'ms'];

describe('the workflow bundle', () => {
  const code = inject('workflowBundle');

  it('contains only the SDK among node_modules packages', () => {
    const packages = new Set(
      [...code.matchAll(/"\.\/node_modules\/((?:@[^/"]+\/)?[^/"]+)\//g)].map((m) => m[1] as string),
    );
    expect(packages.size).toBeGreaterThan(0);
    expect([...packages].filter((p) => !ALLOWED_PACKAGES.includes(p))).toEqual([]);
  });

  it('does not contain the contract schemas', () => {
    expect(code).not.toContain('src/contracts/response-schemas.js');
    expect(code).not.toMatch(/node_modules\/zod\//);
  });
});
