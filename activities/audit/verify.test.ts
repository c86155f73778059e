/**
 * The verifier accepts exactly the bytes the writer writes: a line in any other form (here: behind a UTF-8
 * byte order mark, which a decoder would silently drop) is a rewritten log, even when it parses to the same
 * entry.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { exportBundle, verifyBundle } from './bundle.js';
import { generateSigningKey } from './keys.js';
import { AuditLog } from './log.js';
import { verifyLogBuffer } from './verify.js';
import { historyRecord } from '../../test/helpers/audit.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function sealed(payloads: Record<string, unknown>[]) {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-verify-'));
  dirs.push(dir);
  const path = join(dir, 'audit', 'audit.log');
  const { signer } = generateSigningKey();
  const log = AuditLog.open({ logPath: path, signer });
  const ids = { workflowId: 'inc-1', runId: 'r1', incidentId: 'inc-1' };
  const history = '{"events":[]}';
  log.append([
    historyRecord(ids, history, 0),
    ...payloads.map((p, index) => ({ kind: 'decision' as const, payload: { ...ids, index, ...p } })),
    { kind: 'incident.closed', payload: { ...ids, execution: 'COMPLETED', decisionCount: payloads.length } },
  ]);
  log.checkpoint();
  log.close();
  return { path, trusted: { trustedFingerprints: [signer.fingerprint] } };
}

describe('what the verifier accepts', () => {
  it('rejects a byte order mark before any line', () => {
    const { path, trusted } = sealed([{ record: { verdict: 'malicious' } }, { record: { verdict: 'deny' } }]);
    const lines = readFileSync(path, 'utf8').split('\n');
    expect(verifyLogBuffer(lines.join('\n'), trusted).ok).toBe(true);
    for (const at of [0, 1, 2]) {
      const copy = [...lines];
      copy[at] = `\ufeff${copy[at]}`;
      const r = verifyLogBuffer(copy.join('\n'), trusted);
      expect(r.ok, `BOM before line ${at + 1}`).toBe(false);
      expect(r.firstBad).toMatchObject({ line: at + 1, seq: at + 1 });
    }
  });
});

describe('members named __proto__', () => {
  it('verifies, reads, re-indexes and bundles a record with a __proto__ member exactly as written', () => {
    // JSON.parse makes an own member of it (an event's data can carry one); a parser that copies objects
    // by assignment drops it, and then the entry the writer hashed no longer matches what was read back.
    const inputs = JSON.parse('{"__proto__": {"x": 1}, "y": [{"__proto__": "s"}]}') as unknown;
    const { path, trusted } = sealed([{ record: { verdict: 'malicious', inputs } }]);
    expect(readFileSync(path, 'utf8')).toContain('{"__proto__":{"x":1},"y":[{"__proto__":"s"}]}');
    const r = verifyLogBuffer(readFileSync(path), trusted);
    expect(r.firstBad).toBeUndefined();
    expect(r.ok).toBe(true);
    rmSync(join(path, '..', 'audit-index.db')); // the writer re-indexes the log from scratch
    for (const f of ['-wal', '-shm']) rmSync(join(path, '..', `audit-index.db${f}`), { force: true });
    const log = AuditLog.open({ logPath: path, signer: generateSigningKey().signer });
    const e = log.entriesOf('inc-1').find((x) => x.kind === 'decision');
    expect(Object.keys((e?.payload.record as { inputs: object }).inputs)).toEqual(['__proto__', 'y']);
    const bundle = JSON.parse(JSON.stringify(exportBundle(log, 'inc-1'))) as unknown;
    log.close();
    expect(verifyBundle(bundle, trusted.trustedFingerprints)).toMatchObject({ ok: true, problems: [] });
  });
});
