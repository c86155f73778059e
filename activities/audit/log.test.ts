/**
 * The writer refuses to continue a log that no longer matches its index (cut back, or an entry rewritten),
 * so it never signs what someone else changed. A reader (`vigil audit show | head | export`, `vigil shadow`)
 * must not undo that refusal by rebuilding the shared index from the altered log.
 */
import { mkdtempSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeEntry, entryHash, type AuditEntry } from './entry.js';
import { generateSigningKey, type Signer } from './keys.js';
import { AuditLog, AuditLogError } from './log.js';

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
