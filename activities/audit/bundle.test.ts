/**
 * Evidence bundles made by someone who wants to hide part of an incident: every entry left in is genuine
 * and proven, but a run's closing record, or the decisions it counts, were left out.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { exportBundle, verifyBundle, type AuditBundle } from './bundle.js';
import { sha256Hex } from './canonical.js';
import { generateSigningKey, type Signer } from './keys.js';
import { AuditLog, type NewRecord } from './log.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function run(incidentId: string, runId: string, verdicts: string[]): NewRecord[] {
  const ids = { workflowId: incidentId, runId, incidentId };
  const history = JSON.stringify({ events: [{ eventId: '1', runId }] });
  return [
    {
      kind: 'history',
      payload: {
        ...ids,
        encoding: 'gzip+base64',
        sha256: sha256Hex(history),
        bytes: history.length,
        events: 1,
        data: gzipSync(history).toString('base64'),
      },
    },
    ...verdicts.map((verdict, index) => ({
      kind: 'decision' as const,
      payload: { ...ids, index, record: { verdict } },
    })),
    {
      kind: 'incident.closed',
      payload: { ...ids, execution: 'COMPLETED', decisionCount: verdicts.length },
    },
  ];
}

function logDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-bundle-'));
  dirs.push(dir);
  return join(dir, 'audit', 'audit.log');
}

function bundleOf(signer: Signer, runs: NewRecord[][]): AuditBundle {
  const log = AuditLog.open({ logPath: logDir(), signer, checkpointEvery: 3 });
  for (const r of runs) log.append(r);
  log.checkpoint();
  const b = exportBundle(log, 'inc-1');
  log.close();
  return JSON.parse(JSON.stringify(b)) as AuditBundle;
}

describe('a bundle with part of an incident left out', () => {
  it('is refused when a run has no closing record, with or without its decisions', () => {
    const { signer } = generateSigningKey();
    const b = bundleOf(signer, [
      run('inc-1', 'r1', ['malicious']),
      run('inc-1', 'r2', ['malicious', 'deny-isolation']),
    ]);
    expect(verifyBundle(b, [signer.fingerprint])).toMatchObject({ ok: true, runs: 2 });
    const without = (drop: (e: AuditBundle['entries'][number]['entry']) => boolean) => {
      const copy = structuredClone(b);
      copy.entries = copy.entries.filter((x) => !drop(x.entry));
      return verifyBundle(copy, [signer.fingerprint]);
    };
    const r2 = (e: { payload: { runId?: unknown } }) => e.payload.runId === 'r2';
    const noClosed = without((e) => r2(e) && e.kind === 'incident.closed');
    expect(noClosed.ok).toBe(false);
    expect(noClosed.firstBad?.reason).toMatch(
      /run inc-1\/r2 is incomplete in the bundle \(no incident.closed/,
    );
    const noDenial = without((e) => r2(e) && (e.kind === 'incident.closed' || e.payload.index === 1));
    expect(noDenial.ok).toBe(false);
    expect(noDenial.firstBad?.reason).toMatch(/run inc-1\/r2 is incomplete/);
    // A run left out entirely cannot be noticed from the bundle (only the full log can show it).
    expect(without(r2)).toMatchObject({ ok: true, runs: 1 });
  });
});
