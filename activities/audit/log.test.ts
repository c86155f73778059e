/**
 * The writer refuses to continue a log that no longer matches its index (cut back, or an entry rewritten),
 * so it never signs what someone else changed. A reader (`vigil audit show | head | export`, `vigil shadow`)
 * must not undo that refusal by rebuilding the shared index from the altered log. Nor does it adopt (and
 * then seal) entries appended after the indexed ones unless its signed write intent announced them.
 */
import {
  appendFileSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { sha256Hex } from './canonical.js';
import { encodeEntry, entryHash, type AuditEntry } from './entry.js';
import { intentPath, type WriteIntent } from './intent.js';
import { generateSigningKey, type Signer } from './keys.js';
import { AuditLog, AuditLogError } from './log.js';
import { verifyLogBuffer } from './verify.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const ids = (runId: string) => ({ workflowId: 'inc-1', runId, incidentId: 'inc-1' });

/** A sealed decision, then an unsealed one (the tail). */
function logWithTail(): { path: string; signer: Signer } {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-log-'));
  dirs.push(dir);
  const path = join(dir, 'audit', 'audit.log');
  const { signer } = generateSigningKey();
  const log = AuditLog.open({ logPath: path, signer });
  log.append([{ kind: 'decision', payload: { ...ids('r1'), index: 0, record: { verdict: 'malicious' } } }]);
  log.checkpoint();
  log.append([{ kind: 'decision', payload: { ...ids('r2'), index: 0, record: { verdict: 'isolate' } } }]);
  log.close();
  return { path, signer };
}

describe('a log that no longer matches its index', () => {
  const alterations: [string, (path: string) => void][] = [
    [
      'its unsealed last entry rewritten (hash recomputed)',
      (path) => {
        const lines = readFileSync(path, 'utf8').trimEnd().split('\n');
        const e = JSON.parse(lines[2] ?? '') as AuditEntry;
        (e.payload.record as { verdict: string }).verdict = 'benign';
        lines[2] = encodeEntry({ ...e, hash: entryHash(e) }).trimEnd();
        writeFileSync(path, `${lines.join('\n')}\n`);
      },
    ],
    ['cut back by its last entry', (path) => truncateSync(path, statSync(path).size - 200)],
  ];
  for (const [what, alter] of alterations)
    it(`stays refused by the writer after a reader read it: ${what}`, () => {
      const { path, signer } = logWithTail();
      alter(path);
      expect(() => AuditLog.open({ logPath: path, signer })).toThrow(AuditLogError);
      const reader = AuditLog.open({ logPath: path, mode: 'reader' });
      expect(reader.status().warning).toMatch(/does not match|cut back|not the one indexed/);
      expect(reader.entriesOf('inc-1').length).toBeGreaterThan(0); // it still reads the log as it is
      reader.close();
      expect(() => AuditLog.open({ logPath: path, signer })).toThrow(AuditLogError);
    });
});

const r3 = { kind: 'decision' as const, payload: { ...ids('r3'), index: 0, record: { verdict: 'isolate' } } };
const trusted = (signer: Signer) => ({ trustedFingerprints: [signer.fingerprint] });

/** Reopen the writer on a log with an unindexed tail it must cut; checks the cut and what follows. */
function expectCut(path: string, signer: Signer, dropped: Buffer, offset: number): void {
  const log = AuditLog.open({ logPath: path, signer });
  expect(log.hasRecord('decision:inc-1:r3:0')).toBe(false);
  const [recovered] = log.entriesOfKind('log.recovered');
  expect(recovered?.seq).toBe(4);
  expect(recovered?.payload).toEqual({
    droppedBytes: dropped.length,
    droppedSha256: sha256Hex(dropped),
    offset,
  });
  expect(log.append([r3]).map((e) => e.seq)).toEqual([5]); // the genuine record is written, not skipped
  const cp = log.checkpoint();
  expect(cp?.payload).toMatchObject({ from: 3, to: 5 });
  log.close();
  const data = readFileSync(path);
  expect(data.includes(dropped)).toBe(false);
  expect(verifyLogBuffer(data, trusted(signer))).toMatchObject({ ok: true, kinds: { 'log.recovered': 1 } });
}

/** A crash after the write of r3 reached the file and before the index recorded it. */
function crashAfterWrite(path: string, signer: Signer): Buffer {
  const offset = statSync(path).size;
  const log = AuditLog.open({
    logPath: path,
    signer,
    onAppended: () => {
      throw new Error('simulated crash');
    },
  });
  expect(() => log.append([r3])).toThrow('simulated crash');
  log.close();
  return readFileSync(path).subarray(offset);
}

describe('entries found after the indexed ones', () => {
  it('cuts a chain-valid entry appended by hand, records the cut and never seals it', () => {
    const { path, signer } = logWithTail();
    const offset = statSync(path).size;
    const last = JSON.parse(readFileSync(path, 'utf8').trimEnd().split('\n').at(-1) ?? '') as AuditEntry;
    const forged = {
      v: 1 as const,
      seq: last.seq + 1,
      time: new Date().toISOString(),
      kind: r3.kind,
      payload: { ...r3.payload, record: { verdict: 'benign' } },
      prevHash: last.hash,
    };
    const line = Buffer.from(encodeEntry({ ...forged, hash: entryHash(forged) }), 'utf8');
    appendFileSync(path, line);
    expect(verifyLogBuffer(readFileSync(path), trusted(signer)).ok).toBe(true); // chain-valid, unsealed tail
    expectCut(path, signer, line, offset);
  });

  it('adopts its own write after a crash between the write and the index update', () => {
    const { path, signer } = logWithTail();
    crashAfterWrite(path, signer);
    const log = AuditLog.open({ logPath: path, signer });
    expect(log.hasRecord('decision:inc-1:r3:0')).toBe(true);
    expect(log.append([r3])).toEqual([]);
    expect(log.entriesOfKind('log.recovered')).toEqual([]);
    log.checkpoint();
    log.close();
    expect(verifyLogBuffer(readFileSync(path), trusted(signer))).toMatchObject({ ok: true, entries: 5 });
  });

  const tamperings: [string, (i: WriteIntent) => WriteIntent][] = [
    ['another sha256', (i) => ({ ...i, sha256: sha256Hex('something else') })],
    [
      'a bad signature',
      (i) => ({ ...i, signature: generateSigningKey().signer.sign(Buffer.from('vigil-audit-intent/1')) }),
    ],
    ['another key', (i) => ({ ...i, keyFingerprint: generateSigningKey().signer.fingerprint })],
  ];
  for (const [what, tamper] of tamperings)
    it(`cuts the tail when the intent has ${what}`, () => {
      const { path, signer } = logWithTail();
      const offset = statSync(path).size;
      const written = crashAfterWrite(path, signer);
      const intent = JSON.parse(readFileSync(intentPath(path), 'utf8')) as WriteIntent;
      writeFileSync(intentPath(path), JSON.stringify(tamper(intent)));
      expectCut(path, signer, written, offset);
    });
});
