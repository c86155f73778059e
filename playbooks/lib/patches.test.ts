/** Every patch a playbook branches on is decided up front (./patches.ts explains why). */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../../src/paths.js';
import {
  UPFRONT_PATCHES,
  UPFRONT_V2_PATCHES,
  UPFRONT_V3_PATCHES,
  UPFRONT_V4_PATCHES,
  UPFRONT_V5_PATCHES,
} from './patches.js';

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
  it('the incident path branches only through since() on listed patches, never a raw patched()', () => {
    const used = new Set<string>();
    const usedV2 = new Set<string>();
    const usedV3 = new Set<string>();
    const usedV4 = new Set<string>();
    const usedV5 = new Set<string>();
    for (const f of sources(join(repoRoot(), 'playbooks'))) {
      if (/control|notifier|rpa-|lib\/patches\.ts$/.test(f)) continue; // their own workflows; the helper itself
      const text = readFileSync(f, 'utf8');
      expect(text, f).not.toMatch(/\bpatched\(/);
      for (const m of text.matchAll(/\bsince\('([^']+)'\)/g)) used.add(m[1] ?? '');
      for (const m of text.matchAll(/\bsinceV2\('([^']+)'\)/g)) usedV2.add(m[1] ?? '');
      for (const m of text.matchAll(/\bsinceV3\('([^']+)'\)/g)) usedV3.add(m[1] ?? '');
      for (const m of text.matchAll(/\bsinceV4\('([^']+)'\)/g)) usedV4.add(m[1] ?? '');
      for (const m of text.matchAll(/\bsinceV5\('([^']+)'\)/g)) usedV5.add(m[1] ?? '');
    }
    expect(used.size).toBeGreaterThan(5);
    for (const id of used) expect(UPFRONT_PATCHES as readonly string[]).toContain(id);
    // Every patch of the second marker is used, and none is listed under both.
    expect([...usedV2].sort()).toEqual([...UPFRONT_V2_PATCHES].sort());
    for (const id of UPFRONT_V2_PATCHES) expect(UPFRONT_PATCHES as readonly string[]).not.toContain(id);
    expect([...usedV3].sort()).toEqual([...UPFRONT_V3_PATCHES].sort());
    for (const id of UPFRONT_V3_PATCHES) {
      expect(UPFRONT_PATCHES as readonly string[]).not.toContain(id);
      expect(UPFRONT_V2_PATCHES as readonly string[]).not.toContain(id);
    }
    expect([...usedV4].sort()).toEqual([...UPFRONT_V4_PATCHES].sort());
    for (const id of UPFRONT_V4_PATCHES) {
      for (const earlier of [UPFRONT_PATCHES, UPFRONT_V2_PATCHES, UPFRONT_V3_PATCHES])
        expect(earlier as readonly string[]).not.toContain(id);
    }
    expect([...usedV5].sort()).toEqual([...UPFRONT_V5_PATCHES].sort());
    for (const id of UPFRONT_V5_PATCHES) {
      for (const earlier of [UPFRONT_PATCHES, UPFRONT_V2_PATCHES, UPFRONT_V3_PATCHES, UPFRONT_V4_PATCHES])
        expect(earlier as readonly string[]).not.toContain(id);
    }
  });
});
