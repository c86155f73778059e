/**
 * The writer's signed write intent (`<log>.intent`, mode 0600): before each append, a writer holding the
 * signing key states where the bytes go, how many and their sha256, signed with that key. After a crash
 * between the file write and the index update, the next writer adopts the unindexed tail only when it is
 * exactly what the intent announced: a tail appended by anyone else (who can write the file but lacks the
 * key) is cut instead of being sealed.
 */
import { closeSync, fchmodSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { z } from 'zod';
import { canonicalJson } from './canonical.js';
import { verifySignature, type Signer } from './keys.js';

const Count = z.number().int().nonnegative();

export const WriteIntent = z.strictObject({
  offset: Count,
  length: Count,
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  firstSeq: Count,
  lastSeq: Count,
  keyFingerprint: z.string().regex(/^[0-9a-f]{64}$/),
  signature: z.string(),
});
export type WriteIntent = z.infer<typeof WriteIntent>;

export type IntentFields = Pick<WriteIntent, 'offset' | 'length' | 'sha256' | 'firstSeq' | 'lastSeq'>;

export const intentPath = (logPath: string) => `${logPath}.intent`;

/** What the signature covers (a fixed text form, so nothing depends on JSON encoding). */
export const intentStatement = (i: IntentFields): Buffer =>
  Buffer.from(
    `vigil-audit-intent/1\n${i.offset}\n${i.length}\n${i.sha256}\n${i.firstSeq}\n${i.lastSeq}`,
    'utf8',
  );

/** Sign and durably replace the intent file (temp file, fsync, rename, fsync of the folder). */
export function writeIntent(logPath: string, fields: IntentFields, signer: Signer): void {
  const intent: WriteIntent = {
    ...fields,
    keyFingerprint: signer.fingerprint,
    signature: signer.sign(intentStatement(fields)),
  };
  const path = intentPath(logPath);
  const tmp = `${path}.tmp`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    fchmodSync(fd, 0o600);
    writeSync(fd, canonicalJson(intent));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  const dir = openSync(dirname(path), 'r');
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
}

/** True when the intent beside the log announced exactly these bytes and the active key signed it. */
export function intentMatches(
  logPath: string,
  tail: { offset: number; length: number; sha256: string },
  activeKey: { fingerprint: string; publicKey: string },
): boolean {
  let intent: WriteIntent;
  try {
    intent = WriteIntent.parse(JSON.parse(readFileSync(intentPath(logPath), 'utf8')));
  } catch {
    return false; // missing or unreadable: nothing was announced
  }
  return (
    intent.offset === tail.offset &&
    intent.length === tail.length &&
    intent.sha256 === tail.sha256 &&
    intent.keyFingerprint === activeKey.fingerprint &&
    verifySignature(activeKey.publicKey, intentStatement(intent), intent.signature)
  );
}
