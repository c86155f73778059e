/**
 * The verifier accepts exactly the bytes the writer writes: a line in any other form (here: behind a UTF-8
 * byte order mark, which a decoder would silently drop) is a rewritten log, even when it parses to the same
 * entry.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { generateSigningKey } from './keys.js';
import { AuditLog } from './log.js';
import { verifyLogBuffer } from './verify.js';

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
  log.append(
    payloads.map((p, index) => ({
      kind: 'decision' as const,
      payload: { workflowId: 'inc-1', runId: 'r1', incidentId: 'inc-1', index, ...p },
    })),
  );
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
