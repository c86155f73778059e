/**
 * Evidence bundles made by someone who wants to hide part of an incident: every entry left in is genuine
 * and proven, but a run's closing record, or the decisions it counts, were left out.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { exportBundle, verifyBundle, type AuditBundle } from './bundle.js';
import { entryHash, LOG_VERSION, signedStatement, type AuditEntry, type UnhashedEntry } from './entry.js';
import { generateSigningKey, type Signer } from './keys.js';
import { AuditLog, type NewRecord } from './log.js';
import { inclusionProof, merkleRoot } from './merkle.js';
import { historyRecord } from '../../test/helpers/audit.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function run(incidentId: string, runId: string, verdicts: string[]): NewRecord[] {
  const ids = { workflowId: incidentId, runId, incidentId };
  const history = JSON.stringify({ events: [{ eventId: '1', runId }] });
  return [
    historyRecord(ids, history, 1),
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

/** Entries seq from.. (any prevHash for the first), sealed by a checkpoint `signer` signs, as a bundle's parts. */
function forgeSealed(records: NewRecord[], from: number, signer: Signer) {
  let prevHash = '1'.repeat(64);
  const entries = records.map((r, i) => {
    const u = {
      v: LOG_VERSION,
      seq: from + i,
      time: '2026-11-26T09:00:00.000Z',
      ...r,
      prevHash,
    } as UnhashedEntry;
    prevHash = entryHash(u);
    return { ...u, hash: prevHash };
  });
  const leaves = entries.map((e) => Buffer.from(e.hash, 'hex'));
  const to = from + entries.length - 1;
  const cp: UnhashedEntry = {
    v: LOG_VERSION,
    seq: to + 1,
    time: '2026-11-26T09:00:01.000Z',
    kind: 'checkpoint',
    prevHash,
    payload: {
      alg: 'ed25519',
      keyFingerprint: signer.fingerprint,
      publicKey: signer.publicKey,
      from,
      to,
      size: entries.length,
      root: merkleRoot(leaves).toString('hex'),
      head: prevHash,
    },
  };
  const signed = { ...cp, payload: { ...cp.payload, signature: signer.sign(signedStatement(cp)) } };
  const checkpoint: AuditEntry = { ...signed, hash: entryHash(signed) };
  return {
    checkpoint,
    entries: entries.map((entry, i) => ({
      entry,
      checkpointSeq: checkpoint.seq,
      proof: inclusionProof(leaves, i).map((b) => b.toString('hex')),
    })),
  };
}

describe('a bundle after a key rotation', () => {
  it('does not take a retired key on the word of the key that replaced it', () => {
    // A signs, then hands over to B (both sign the rotation); later A leaks, and only B is pinned.
    const a = generateSigningKey().signer;
    const b = generateSigningKey().signer;
    const log = AuditLog.open({ logPath: logDir(), signer: a, checkpointEvery: 4 });
    log.append(run('inc-1', 'r1', ['malicious', 'isolate']));
    log.append(run('inc-2', 'r2', ['malicious']));
    log.append(run('inc-3', 'r3', ['malicious']));
    log.rotateKey(b);
    log.append(run('inc-4', 'r4', ['benign']));
    log.checkpoint();
    const genuine = (id: string) => JSON.parse(JSON.stringify(exportBundle(log, id))) as AuditBundle;
    const [inc1, inc3, inc4] = [genuine('inc-1'), genuine('inc-3'), genuine('inc-4')];
    const rotations = log.rotations();
    log.close();

    // With the leaked A: inc-1 rewritten (the isolation never decided), sealed by a checkpoint A signs, and
    // the genuine rotation attached so that B appears to vouch for A.
    const forged = forgeSealed(run('inc-1', 'r1', ['benign']), 1, a);
    const bundle: AuditBundle = {
      ...inc1,
      rotations,
      checkpoints: [forged.checkpoint],
      entries: forged.entries,
    };
    const r = verifyBundle(bundle, [b.fingerprint]);
    expect(r.ok).toBe(false);
    expect(r.firstBad?.reason).toMatch(/signed by key .* before the pinned key .* took over/);
    expect(verifyBundle(bundle, [a.fingerprint]).ok).toBe(true); // whoever pins A trusts what A signs

    // Genuine bundles: A's checkpoints need A pinned, except the one the rotation directly follows; B's
    // need B, or A (which handed over to B).
    expect(verifyBundle(inc1, [b.fingerprint]).ok).toBe(false);
    expect(verifyBundle(inc1, [a.fingerprint]).ok).toBe(true);
    expect(verifyBundle(inc1, [a.fingerprint, b.fingerprint]).ok).toBe(true);
    expect(verifyBundle(inc3, [b.fingerprint]).problems).toEqual([]);
    expect(verifyBundle(inc4, [b.fingerprint]).problems).toEqual([]);
    expect(verifyBundle(inc4, [a.fingerprint]).problems).toEqual([]);
  });
});
