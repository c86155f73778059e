/**
 * Verifying a log the exporter is appending to. A reader can see a write half done (the file's size grows
 * while the kernel copies the write), so a live log can end in an incomplete line for a moment; `verifyLog`
 * re-reads it until it is complete instead of reporting a torn write, and reports it only when it stays
 * incomplete.
 */
import { spawn } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeEntry, entryHash, LOG_VERSION, type AuditEntry, type UnhashedEntry } from './entry.js';
import { generateSigningKey } from './keys.js';
import { AuditLog } from './log.js';
import { verifyLog } from './verify.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function sealedLog(): { path: string; fp: string; log: AuditLog } {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-verify-live-'));
  dirs.push(dir);
  const { signer } = generateSigningKey();
  const log = AuditLog.open({ logPath: join(dir, 'audit.log'), signer });
  for (let i = 0; i < 3; i++)
    log.append([
      { kind: 'decision', payload: { workflowId: 'w', runId: `r${i}`, incidentId: 'inc-1', index: 0 } },
    ]);
  log.checkpoint();
  return { path: join(dir, 'audit.log'), fp: signer.fingerprint, log };
}

/** The line the writer would append next (a valid entry continuing the chain). */
function nextLine(path: string): Buffer {
  const lines = readFileSync(path, 'utf8').trimEnd().split('\n');
  const last = JSON.parse(lines[lines.length - 1] ?? '{}') as AuditEntry;
  const u: UnhashedEntry = {
    v: LOG_VERSION,
    seq: last.seq + 1,
    time: new Date().toISOString(),
    kind: 'decision',
    payload: { workflowId: 'w', runId: 'r-next', incidentId: 'inc-1', index: 0, note: 'x'.repeat(5000) },
    prevHash: last.hash,
  };
  return Buffer.from(encodeEntry({ ...u, hash: entryHash(u) }));
}

describe('verifying a live audit log', () => {
  it('waits for a line the writer is still writing, then verifies it', async () => {
    const { path, fp, log } = sealedLog();
    log.close();
    const line = nextLine(path);
    appendFileSync(path, line.subarray(0, 1000)); // the writer is half way through
    const verifying = verifyLog(path, { trustedFingerprints: [fp], settleMs: 2000 });
    await new Promise((r) => setTimeout(r, 300));
    appendFileSync(path, line.subarray(1000));
    const r = await verifying;
    expect(r.firstBad).toBeUndefined();
    expect(r.ok).toBe(true);
    expect(r.entries).toBe(5);
    expect(r.notes.join()).toMatch(/write was in progress/);
  });

  it('still reports an incomplete last line that nobody completes (a torn write or a truncation)', async () => {
    const { path, fp, log } = sealedLog();
    log.close();
    appendFileSync(path, nextLine(path).subarray(0, 1000));
    const t0 = Date.now();
    const r = await verifyLog(path, { trustedFingerprints: [fp], settleMs: 300 });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(300);
    expect(r.ok).toBe(false);
    expect(r.firstBad).toMatchObject({ seq: 5, line: 5 });
    expect(r.firstBad?.reason).toMatch(
      /incomplete last line \(1000 bytes .*still incomplete after waiting 300 ms/,
    );
    // Without waiting (settleMs 0) it is reported at once, as before.
    expect((await verifyLog(path, { trustedFingerprints: [fp], settleMs: 0 })).firstBad?.reason).not.toMatch(
      /waiting/,
    );
  });

  it('never fails while another process appends large entries', async () => {
    const { path, fp, log } = sealedLog();
    log.close();
    const writer = spawn(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `import { AuditLog } from ${JSON.stringify(new URL('./log.ts', import.meta.url).pathname.replace(/\/activities\//, '/dist/activities/').replace(/\.ts$/, '.js'))};
         import { randomBytes } from 'node:crypto';
         const log = AuditLog.open({ logPath: ${JSON.stringify(path)} });
         const end = Date.now() + 2500;
         for (let i = 0; Date.now() < end; i++)
           log.append([{ kind: 'decision', payload: { workflowId: 'w', runId: 'live' + i, incidentId: 'inc-2', index: 0, blob: randomBytes(1500000).toString('base64') } }]);
         log.close();`,
      ],
      { stdio: ['ignore', 'ignore', 'inherit'] },
    );
    const exited = new Promise<number | null>((r) => writer.once('exit', r));
    let done = false;
    void exited.then(() => (done = true));
    const start = statSync(path).size;
    while (!done && statSync(path).size === start) await new Promise((r) => setTimeout(r, 10));
    // Alternately without waiting (as before: may catch a write half done) and with the default wait.
    const bare: string[] = [];
    const settled = [];
    while (!done) {
      const quick = await verifyLog(path, { trustedFingerprints: [fp], settleMs: 0 });
      if (quick.firstBad) bare.push(quick.firstBad.reason);
      settled.push(await verifyLog(path, { trustedFingerprints: [fp] }));
    }
    expect(await exited).toBe(0);
    settled.push(await verifyLog(path, { trustedFingerprints: [fp] }));
    expect(settled.length).toBeGreaterThan(1);
    for (const r of settled) expect(r.firstBad).toBeUndefined();
    expect(settled[settled.length - 1]?.entries).toBeGreaterThan(5);
    // Whatever the reads without waiting hit, it was only ever a half-written last line.
    for (const reason of bare) expect(reason).toMatch(/^incomplete last line/);
    process.stderr.write(
      `verify-live: ${bare.length} of ${settled.length} reads without waiting hit a half-written line; every verification with it passed\n`,
    );
  });
});
