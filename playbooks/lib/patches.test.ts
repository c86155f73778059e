/** Every patch a playbook branches on is decided up front (./patches.ts explains why). */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../../src/paths.js';
import { INCIDENT_PATCHES } from './patches.js';

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? sources(join(dir, e.name))
      : e.name.endsWith('.ts') && !e.name.endsWith('.test.ts')
        ? [join(dir, e.name)]
        : [],
  );
}

describe('patches decided at the start of an incident run', () => {
  it('lists every patch id the incident workflow and its playbooks call', () => {
    const used = new Set<string>();
    for (const f of sources(join(repoRoot(), 'playbooks'))) {
      if (/control|notifier|rpa-/.test(f)) continue; // their own workflows, not the incident's
      for (const m of readFileSync(f, 'utf8').matchAll(/patched\('([^']+)'\)/g)) used.add(m[1] ?? '');
    }
    expect(used.size).toBeGreaterThan(5);
    for (const id of used) expect(INCIDENT_PATCHES as readonly string[]).toContain(id);
  });
});
