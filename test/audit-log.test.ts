/**
 * The audit log on its own (no Temporal): an untouched log verifies; 1,200 seeded random tamperings are
 * ALL detected, and the first bad entry is named; bundles prove an incident without the log; key
 * rotation keeps old entries verifiable; crashes neither lose nor duplicate entries.
 * Reproduce a run with AUDIT_FUZZ_SEED=<seed printed on failure>; AUDIT_FUZZ_ITERATIONS runs more (or fewer).
 */
import {
  chmodSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
  appendFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportBundle, verifyBundle, type AuditBundle } from '../activities/audit/bundle.js';
import { canonicalJson, sha256Hex } from '../activities/audit/canonical.js';
import { loadAuditConfig } from '../activities/audit/config.js';
import {
  encodeEntry,
  entryHash,
  GENESIS_HASH,
  signedStatement,
  type AuditEntry,
} from '../activities/audit/entry.js';
import { HEAD_FORMAT, type AuditHead } from '../activities/audit/head.js';
import {
  generateSigningKey,
  loadSigningKey,
  writeSigningKey,
  type Signer,
} from '../activities/audit/keys.js';
import { AuditLog, AuditLogError } from '../activities/audit/log.js';
import { inclusionProof, merkleRoot, verifyInclusion } from '../activities/audit/merkle.js';
import { verifyLog, verifyLogBuffer, type VerifyReport } from '../activities/audit/verify.js';
import { ConfigError } from '../src/errors.js';
import { historyRecord } from './helpers/audit.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'vigil-audit-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const fresh = () => join(dir, `log-${++n}`, 'audit.log');

// --- a seeded PRNG (mulberry32) ----------------------------------------------------------------------------
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { next, int: (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1)) };
}

// --- a realistic small log: incident runs (history, decisions, closed), checkpoints, one key rotation ------
function records(i: number) {
  const ids = {
    workflowId: `inc-h${i % 4}-0123456789abcdef`,
    runId: `run-${i}`,
    incidentId: `inc-h${i % 4}-0123456789abcdef`,
  };
  const history = JSON.stringify({ events: [{ eventId: '1', eventType: 'WORKFLOW_EXECUTION_STARTED', i }] });
  const decisions = 1 + (i % 2);
  return [
    historyRecord(ids, history, 1),
    ...Array.from({ length: decisions }, (_, index) => ({
      kind: 'decision' as const,
      payload: {
        ...ids,
        index,
        record: {
          at: '2026-11-26T09:00:00.000Z',
          kind: 'rules',
          by: 'rules',
          version: '1',
          verdict: 'malicious',
          riskScore: 80 + index,
          reasons: ['reverse shell'],
          actions: [],
        },
      },
    })),
    {
      kind: 'incident.closed' as const,
      payload: {
        ...ids,
        execution: 'COMPLETED',
        decisionCount: decisions,
        result: { verdict: 'malicious', outcome: 'notified' },
      },
    },
  ];
}

interface Built {
  path: string;
  data: Buffer;
  a: Signer;
  b: Signer;
  head: AuditHead;
}

/** 4 lines per 1.2 runs: checkpoints every 5 entries, a rotation A -> B after run 7, an unsealed tail of 2. */
function buildLog(runs = 14): Built {
  const path = fresh();
  const a = generateSigningKey().signer;
  const b = generateSigningKey().signer;
  let t = Date.parse('2026-11-26T09:00:00Z');
  const log = AuditLog.open({
    logPath: path,
    signer: a,
    checkpointEvery: 5,
    clock: () => new Date((t += 1000)),
  });
  for (let i = 0; i < runs; i++) {
    log.append(records(i));
    if (i === 6) log.rotateKey(b, 'scheduled');
  }
  log.checkpoint();
  log.append(records(100).slice(0, 2)); // an unsealed tail
  const head = headOf(log);
  log.close();
  return { path, data: readFileSync(path), a, b, head };
}

function headOf(log: AuditLog): AuditHead {
  const cp = log.lastCheckpoint();
  if (!cp) throw new Error('no checkpoint');
  const s = log.status();
  return {
    format: HEAD_FORMAT,
    takenAt: new Date().toISOString(),
    checkpoint: cp,
    tail: { seq: s.lastSeq, hash: s.lastHash },
  };
}

const lines = (d: Buffer): Buffer[] => {
  const out: Buffer[] = [];
  let start = 0;
  for (let i = 0; i < d.length; i++)
    if (d[i] === 0x0a) {
      out.push(d.subarray(start, i));
      start = i + 1;
    }
  return out;
};
const join_ = (ls: Buffer[]) => Buffer.concat(ls.flatMap((l) => [l, Buffer.from('\n')]));
const parse = (l: Buffer) => JSON.parse(l.toString('utf8')) as AuditEntry;
const encode = (e: AuditEntry) => Buffer.from(encodeEntry(e).slice(0, -1), 'utf8');

// --- an attacker who can recompute hashes (and holds some keys) ------------------------------------------
type Resign = (e: AuditEntry) => Record<string, string> | undefined;

/**
 * Renumber and re-hash entries from index `from` on; recompute checkpoint ranges, roots and heads; re-sign
 * with `resign` (returning the new signature members) or keep the stale signatures when it returns undefined.
 */
function rechain(entries: AuditEntry[], from: number, resign: Resign = () => undefined): AuditEntry[] {
  const out = entries.map((e) => structuredClone(e));
  let prev = GENESIS_HASH;
  let lastCp = 0;
  let pending: Buffer[] = [];
  out.forEach((e, i) => {
    if (i >= from) {
      e.seq = i + 1;
      e.prevHash = prev;
      if (e.kind === 'checkpoint') {
        Object.assign(e.payload, {
          from: lastCp + 1,
          to: e.seq - 1,
          size: e.seq - 1 - lastCp,
          root: merkleRoot(pending).toString('hex'),
          head: prev,
        });
      }
      const sigs = e.kind === 'checkpoint' || e.kind === 'key.rotated' ? resign(e) : undefined;
      if (sigs) Object.assign(e.payload, sigs);
      e.hash = entryHash(e);
    }
    if (e.kind === 'checkpoint') {
      lastCp = e.seq;
      pending = [];
    } else pending.push(Buffer.from(e.hash, 'hex'));
    prev = e.hash;
  });
  return out;
}

/** Re-sign checkpoints with `key` (claiming it as their key); rotations get `key` as the signer of both sides. */
const resignWith =
  (key: Signer): Resign =>
  (e): Record<string, string> => {
    if (e.kind === 'checkpoint') {
      Object.assign(e.payload, { keyFingerprint: key.fingerprint, publicKey: key.publicKey });
      return { signature: key.sign(signedStatement(e)) };
    }
    return { signature: key.sign(signedStatement(e)), newKeySignature: key.sign(signedStatement(e)) };
  };

const checkpointLines = (es: AuditEntry[]) => es.flatMap((e, i) => (e.kind === 'checkpoint' ? [i + 1] : []));
const nextCheckpointLine = (es: AuditEntry[], line: number) =>
  checkpointLines(es).find((l) => l >= line) ?? es.length + 1;

describe('audit log verification', () => {
  it('verifies an untouched log, with either key of a rotation pinned, and against its head', async () => {
    const { path, data, a, b, head } = buildLog();
    for (const trusted of [[a.fingerprint], [b.fingerprint], [`sha256:${a.fingerprint.toUpperCase()}`]]) {
      const r = await verifyLog(path, { trustedFingerprints: trusted, head });
      expect(r.firstBad).toBeUndefined();
      expect(r).toMatchObject({ ok: true, unsealedTail: 2, head: { ok: true } });
      expect(r.keys.map((k) => k.fingerprint)).toEqual([a.fingerprint, b.fingerprint]);
      expect(r.notes.join()).toMatch(/unsealed tail: 2 entries/);
    }
    expect(verifyLogBuffer(data, { trustedFingerprints: [a.fingerprint] }).lastSeq).toBe(lines(data).length);
    // Nobody pinned: not trusted, named at the first signed entry.
    const other = generateSigningKey().signer;
    const r = verifyLogBuffer(data, { trustedFingerprints: [other.fingerprint] });
    expect(r.ok).toBe(false);
    expect(r.firstBad?.reason).toMatch(/not pinned/);
  });

  it('detects every one of 1,200 random tamperings and names the first bad entry', () => {
    const seed = Number(process.env.AUDIT_FUZZ_SEED ?? Date.now() % 2 ** 31);
    const rnd = prng(seed);
    const { data, a, b, head } = buildLog(9);
    const L = lines(data);
    const E = L.map(parse);
    const C = checkpointLines(E);
    const rotationLine = E.findIndex((e) => e.kind === 'key.rotated') + 1;
    const lastCp = C[C.length - 1] ?? 0;
    const attacker = generateSigningKey().signer;
    const pick = <T>(xs: T[]) => xs[rnd.int(0, xs.length - 1)] as T;
    const counts: Record<string, number> = {};
    const started = performance.now();

    type Case = {
      name: string;
      data: Buffer;
      head?: AuditHead;
      trusted?: string[];
      line?: number;
      within?: [number, number];
    };
    const cases: (() => Case)[] = [
      () => {
        // one flipped byte anywhere in a line, its newline included
        const k = rnd.int(1, L.length);
        const line = L[k - 1] as Buffer;
        const copy = L.map((l) => Buffer.from(l));
        const withNl = Buffer.concat([line, Buffer.from('\n')]);
        const pos = rnd.int(0, withNl.length - 1);
        withNl[pos] = (withNl[pos] as number) ^ rnd.int(1, 255);
        copy[k - 1] = withNl.subarray(0, -1);
        const d = Buffer.concat([join_(copy.slice(0, k - 1)), withNl, join_(copy.slice(k))]);
        return { name: 'byte flip', data: d, line: k };
      },
      () => {
        const k = rnd.int(1, L.length - 1);
        return { name: 'entry deleted', data: join_(L.filter((_, i) => i !== k - 1)), line: k };
      },
      () => {
        const i = rnd.int(1, L.length - 1);
        const j = rnd.int(i + 1, L.length);
        const copy = [...L];
        [copy[i - 1], copy[j - 1]] = [copy[j - 1] as Buffer, copy[i - 1] as Buffer];
        return { name: 'entries reordered', data: join_(copy), line: i };
      },
      () => {
        // a forged entry slotted in with the right seq, link and hash; what follows is left as it was
        const k = rnd.int(1, L.length);
        const forged = rechain(
          [
            ...E.slice(0, k - 1),
            { ...structuredClone(E[rnd.int(0, E.length - 1)] as AuditEntry), kind: 'decision' },
          ],
          k - 1,
        )[k - 1] as AuditEntry;
        // named at the forgery when its payload does not fit its kind, else at the entry it displaced
        return {
          name: 'forged entry inserted',
          data: join_([...L.slice(0, k - 1), encode(forged), ...L.slice(k - 1)]),
          within: [k, k + 1],
        };
      },
      () => {
        // ... or inserted with everything after it re-numbered and re-hashed (stale signatures)
        const k = rnd.int(1, L.length);
        const forged: AuditEntry = {
          ...structuredClone(E[k - 1] as AuditEntry),
          kind: 'decision',
          payload: { ...records(999)[1]?.payload },
        };
        const es = rechain([...E.slice(0, k - 1), forged, ...E.slice(k - 1)], k - 1);
        if (k > lastCp)
          return {
            name: 'forged entry inserted into the unsealed tail, rechained',
            data: join_(es.map(encode)),
            head,
            within: [k, L.length + 1],
          };
        return {
          name: 'forged entry inserted, rechained',
          data: join_(es.map(encode)),
          within: [k, nextCheckpointLine(es, k)],
        };
      },
      () => {
        // an entry's content edited (verdict, reasons ...): hash left alone, or recomputed and the chain re-linked
        const k = pick(E.map((_, i) => i + 1).filter((l) => E[l - 1]?.kind === 'decision'));
        const es = E.map((e) => structuredClone(e));
        const payload = es[k - 1]?.payload as { record: { verdict: string } };
        payload.record.verdict = 'benign';
        if (rnd.next() < 0.5) return { name: 'content edited', data: join_(es.map(encode)), line: k };
        const re = rechain(es, k - 1);
        re[k - 1] = { ...(re[k - 1] as AuditEntry), hash: entryHash(re[k - 1] as AuditEntry) };
        if (k > lastCp)
          return {
            name: 'tail content edited, rechained',
            data: join_(re.map(encode)),
            head,
            within: [k, L.length + 1],
          };
        return {
          name: 'content edited, rechained',
          data: join_(re.map(encode)),
          within: [k, nextCheckpointLine(re, k)],
        };
      },
      () => {
        // tail truncation (at a line boundary or mid-line), against a kept head
        const cut = rnd.int(0, data.length - 1);
        const line = lines(data.subarray(0, cut)).length + 1;
        return {
          name: 'tail truncated',
          data: data.subarray(0, cut),
          head,
          trusted: [a.fingerprint, b.fingerprint],
          line,
        };
      },
      () => {
        const i = rnd.int(0, C.length - 2);
        const j = rnd.int(i + 1, C.length - 1);
        const copy = [...L];
        const [ci, cj] = [(C[i] as number) - 1, (C[j] as number) - 1];
        [copy[ci], copy[cj]] = [copy[cj] as Buffer, copy[ci] as Buffer];
        return { name: 'checkpoints swapped', data: join_(copy), line: ci + 1 };
      },
      () => {
        // an edit sealed again by the attacker's own key (every checkpoint from there on re-signed)
        const k = rnd.int(1, lastCp - 1);
        const es = E.map((e) => structuredClone(e));
        (es[k - 1] as AuditEntry).time = '2020-01-01T00:00:00.000Z';
        const re = rechain(
          es.filter((e) => e.kind !== 'key.rotated' || e.seq < k),
          k - 1,
          resignWith(attacker),
        );
        return {
          name: 'resealed by an untrusted key',
          data: join_(re.map(encode)),
          trusted: [pick([a.fingerprint, b.fingerprint])],
          within: [1, nextCheckpointLine(re, k)],
        };
      },
      () => {
        // a whole log forged with the attacker's key
        const re = rechain(
          E.filter((e) => e.kind !== 'key.rotated'),
          0,
          resignWith(attacker),
        );
        return {
          name: 'whole log signed by an untrusted key',
          data: join_(re.map(encode)),
          trusted: [a.fingerprint],
          line: C[0],
        };
      },
      () => {
        // a forged rotation from the active key to the attacker's (it cannot sign as the old key)
        const k = rnd.int(2, L.length);
        const active = k > rotationLine ? b : a;
        const rot: AuditEntry = {
          v: 1,
          seq: k,
          time: '2026-11-26T10:00:00.000Z',
          kind: 'key.rotated',
          payload: {
            alg: 'ed25519',
            oldFingerprint: active.fingerprint,
            oldPublicKey: active.publicKey,
            newFingerprint: attacker.fingerprint,
            newPublicKey: attacker.publicKey,
            signature: '',
            newKeySignature: '',
          },
          prevHash: '',
          hash: '',
        };
        const withOwnOld = rnd.next() < 0.3;
        if (withOwnOld)
          Object.assign(rot.payload, {
            oldFingerprint: attacker.fingerprint,
            oldPublicKey: attacker.publicKey,
            newFingerprint: active.fingerprint,
            newPublicKey: active.publicKey,
          });
        const re = rechain([...E.slice(0, k - 1), rot, ...E.slice(k - 1)], k - 1, (e) =>
          e.kind === 'key.rotated' && e.seq === k
            ? resignWith(attacker)(e)
            : e.seq > k
              ? resignWith(attacker)(e)
              : undefined,
        );
        return {
          name: 'forged key rotation',
          data: join_(re.map(encode)),
          trusted: [pick([a.fingerprint, b.fingerprint])],
          line: k,
        };
      },
      () => {
        // the old key leaks after the rotation: history before the rotation cannot be rewritten with it
        const k = rnd.int(1, rotationLine - 1);
        const es = E.map((e) => structuredClone(e));
        (es[k - 1] as AuditEntry).time = '2020-01-01T00:00:00.000Z';
        const re = rechain(es, k - 1, (e) =>
          e.seq < rotationLine
            ? resignWith(a)(e)
            : e.kind === 'key.rotated'
              ? { signature: a.sign(signedStatement(e)) }
              : resignWith(a)(e),
        );
        return {
          name: 'rewritten with the leaked old key',
          data: join_(re.map(encode)),
          trusted: [b.fingerprint],
          line: rotationLine,
        };
      },
    ];

    const iterations = Number(process.env.AUDIT_FUZZ_ITERATIONS ?? 1200);
    for (let iter = 0; iter < iterations; iter++) {
      const c = (cases[iter % cases.length] as () => Case)();
      counts[c.name] = (counts[c.name] ?? 0) + 1;
      const r: VerifyReport = verifyLogBuffer(c.data, {
        trustedFingerprints: c.trusted ?? [a.fingerprint],
        ...(c.head ? { head: c.head } : {}),
      });
      const where = `seed ${seed}, iteration ${iter}, ${c.name}`;
      expect(r.ok, `NOT DETECTED: ${where}`).toBe(false);
      if (c.line !== undefined) expect(r.firstBad?.line, `${where}: ${r.firstBad?.reason}`).toBe(c.line);
      if (c.within) {
        expect(r.firstBad?.line, `${where}: ${r.firstBad?.reason}`).toBeGreaterThanOrEqual(c.within[0]);
        expect(r.firstBad?.line, `${where}: ${r.firstBad?.reason}`).toBeLessThanOrEqual(c.within[1]);
      }
    }
    const ms = Math.round(performance.now() - started);
    process.stderr.write(
      `audit fuzz: ${iterations} tamperings, all detected, seed ${seed}, ${ms} ms: ${JSON.stringify(counts)}\n`,
    );
    expect(Object.keys(counts).length).toBeGreaterThanOrEqual(12);
  });

  it('names the reason of typical tamperings', () => {
    const { data, a, head } = buildLog(4);
    const L = lines(data);
    const E = L.map(parse);
    const trusted = { trustedFingerprints: [a.fingerprint] };
    const edited = E.map((e) => structuredClone(e));
    (edited[2] as AuditEntry).time = '2020-01-01T00:00:00.000Z';
    expect(verifyLogBuffer(join_(edited.map(encode)), trusted).firstBad).toEqual({
      seq: 3,
      line: 3,
      reason: 'hash does not match the entry (its contents were altered)',
    });
    expect(verifyLogBuffer(join_(L.filter((_, i) => i !== 3)), trusted).firstBad?.reason).toMatch(
      /expected seq 4, found seq 5/,
    );
    const re = rechain(edited, 2); // hashes, links and roots recomputed: only the key is missing
    const cp = E.findIndex((e) => e.kind === 'checkpoint') + 1; // sealing 1..cp-1
    expect(verifyLogBuffer(join_(re.map(encode)), trusted).firstBad).toMatchObject({
      line: cp,
      reason: expect.stringMatching(/checkpoint signature is not valid/),
    });
    const stale = rechain(edited, 2, (e) => {
      e.payload.root = E[cp - 1]?.payload.root ?? ''; // the attacker cannot re-sign, so leaves the old root
      return undefined;
    });
    expect(verifyLogBuffer(join_(stale.map(encode)), trusted).firstBad?.reason).toBe(
      `checkpoint Merkle root does not match entries 1..${cp - 1}`,
    );
    const cut = join_(L.slice(0, -2));
    expect(verifyLogBuffer(cut, trusted).ok).toBe(true); // without a head, a clean cut looks like an older log...
    const r = verifyLogBuffer(cut, { ...trusted, head }); // ... the kept head proves it was cut
    expect(r.firstBad?.reason).toMatch(
      /truncated: the log ends at seq \d+ but the kept head's tail entry is seq \d+/,
    );
    expect(verifyLogBuffer(Buffer.concat([data, Buffer.from('{"hash"')]), trusted).firstBad?.reason).toMatch(
      /incomplete last line/,
    );
  });
});

describe('evidence bundles', () => {
  it('proves an incident without the log, across a key rotation, and rejects tampered bundles', () => {
    const { path, a, b } = buildLog();
    const log = AuditLog.open({ logPath: path, signer: b });
    log.checkpoint(); // seal the tail
    const id = 'inc-h1-0123456789abcdef';
    const bundle = exportBundle(log, id);
    log.close();
    const runs = new Set(bundle.entries.map((e) => e.entry.payload.runId));
    expect(runs.size).toBeGreaterThanOrEqual(3);
    expect(new Set(bundle.checkpoints.map((c) => c.payload.keyFingerprint))).toEqual(
      new Set([a.fingerprint, b.fingerprint]),
    );
    for (const pinned of [[a.fingerprint], [a.fingerprint, b.fingerprint]]) {
      const r = verifyBundle(JSON.parse(JSON.stringify(bundle)), pinned);
      expect(r.problems).toEqual([]);
      expect(r).toMatchObject({ ok: true, incidentId: id, runs: runs.size });
    }
    // B alone does not vouch for A's older checkpoints: the bundle lacks the chain from them to the rotation.
    expect(verifyBundle(JSON.parse(JSON.stringify(bundle)), [b.fingerprint]).firstBad?.reason).toMatch(
      /retired before the pinned key .* took over/,
    );
    const tamper = (f: (b: AuditBundle) => void) => {
      const copy = structuredClone(bundle);
      f(copy);
      return verifyBundle(copy, [a.fingerprint]);
    };
    const e0 = (x: AuditBundle) => x.entries[1] as AuditBundle['entries'][number]; // a decision
    expect(tamper((x) => ((e0(x).entry.payload.record as { verdict: string }).verdict = 'benign')).ok).toBe(
      false,
    );
    const rehashed = tamper((x) => {
      (e0(x).entry.payload as { runId: string }).runId = 'run-x';
      e0(x).entry.hash = entryHash(e0(x).entry);
    });
    expect(rehashed.firstBad?.reason).toMatch(/inclusion proof does not lead/);
    expect(tamper((x) => (e0(x).proof[0] = '0'.repeat(64))).ok).toBe(false);
    expect(tamper((x) => x.entries.splice(1, 1)).firstBad?.reason).toMatch(/incomplete|proof/);
    expect(tamper((x) => x.rotations.splice(0, 1)).ok).toBe(false);
    expect(
      tamper((x) => {
        const cp = x.checkpoints[0] as AuditEntry;
        cp.payload.root = '1'.repeat(64);
        cp.hash = entryHash(cp);
      }).ok,
    ).toBe(false);
    expect(verifyBundle(bundle, [generateSigningKey().signer.fingerprint]).firstBad?.reason).toMatch(
      /not pinned/,
    );
    expect(verifyBundle({ format: 'vigil-audit-bundle/1' }, [a.fingerprint]).ok).toBe(false);
  });

  it('refuses to export entries that are not sealed yet', () => {
    const path = fresh();
    const log = AuditLog.open({ logPath: path, signer: generateSigningKey().signer });
    log.append(records(1));
    expect(() => exportBundle(log, 'inc-h1-0123456789abcdef')).toThrow(/not sealed/);
    log.close();
  });
});

describe('Merkle tree (RFC 6962)', () => {
  it('proves every leaf of trees of 1..33 leaves and rejects wrong proofs', () => {
    for (let size = 1; size <= 33; size++) {
      const leaves = Array.from({ length: size }, (_, i) => Buffer.from(sha256Hex(`leaf ${i}`), 'hex'));
      const root = merkleRoot(leaves);
      for (let m = 0; m < size; m++) {
        const proof = inclusionProof(leaves, m);
        expect(verifyInclusion(leaves[m] as Buffer, m, size, proof, root)).toBe(true);
        expect(verifyInclusion(leaves[(m + 1) % size] as Buffer, m, size, proof, root)).toBe(size === 1);
        if (size > 1)
          expect(verifyInclusion(leaves[m] as Buffer, (m + 1) % size, size, proof, root)).toBe(false);
      }
    }
    // RFC 6962: the empty tree is SHA-256 of nothing; one leaf is SHA-256(0x00 || d).
    expect(merkleRoot([]).toString('hex')).toBe(sha256Hex(''));
    const d = Buffer.alloc(32, 7);
    expect(merkleRoot([d]).toString('hex')).toBe(sha256Hex(Buffer.concat([Buffer.from([0]), d])));
  });

  it('encodes canonically: sorted keys, no whitespace, refuses what JSON cannot say', () => {
    expect(canonicalJson({ b: 1, a: [true, null, 'x'], c: { z: 1.5, y: 'é' } })).toBe(
      '{"a":[true,null,"x"],"b":1,"c":{"y":"é","z":1.5}}',
    );
    expect(() => canonicalJson({ a: undefined })).toThrow();
    expect(() => canonicalJson({ a: NaN })).toThrow();
    expect(() => canonicalJson({ a: new Date() })).toThrow();
  });
});

describe('writer, index and keys', () => {
  it('does not duplicate a record after a crash between the write and the index update', () => {
    const path = fresh();
    const signer = generateSigningKey().signer;
    const crashing = AuditLog.open({
      logPath: path,
      signer,
      onAppended: () => {
        throw new Error('simulated crash');
      },
    });
    expect(() => crashing.append(records(1))).toThrow('simulated crash');
    crashing.close();
    const log = AuditLog.open({ logPath: path, signer });
    expect(log.status().lastSeq).toBe(4); // found in the log, indexed on open
    expect(log.append(records(1))).toEqual([]); // idempotent on its export keys
    expect(log.append(records(2)).length).toBe(3);
    log.checkpoint();
    log.close();
    const r = verifyLogBuffer(readFileSync(path), { trustedFingerprints: [signer.fingerprint] });
    expect(r).toMatchObject({ ok: true, entries: 8, kinds: { history: 2, 'incident.closed': 2 } });
  });

  it('cuts a torn last line, records that it did, and rebuilds a lost index from the log', () => {
    const path = fresh();
    const signer = generateSigningKey().signer;
    let log = AuditLog.open({ logPath: path, signer });
    log.append(records(1));
    log.close();
    appendFileSync(path, '{"hash":"ab'); // a crash mid-write
    const trusted = { trustedFingerprints: [signer.fingerprint] };
    expect(verifyLogBuffer(readFileSync(path), trusted).firstBad?.reason).toMatch(/incomplete last line/);
    log = AuditLog.open({ logPath: path, signer });
    log.checkpoint();
    log.close();
    const r = verifyLogBuffer(readFileSync(path), trusted);
    expect(r).toMatchObject({ ok: true, kinds: { 'log.recovered': 1 } });
    rmSync(join(path, '..', 'audit-index.db'));
    rmSync(join(path, '..', 'audit-index.db-wal'), { force: true });
    rmSync(join(path, '..', 'audit-index.db-shm'), { force: true });
    log = AuditLog.open({ logPath: path, signer });
    expect(log.hasRecord('incident.closed:inc-h1-0123456789abcdef:run-1')).toBe(true);
    expect(log.entriesOf('inc-h1-0123456789abcdef').map((e) => e.kind)).toEqual([
      'history',
      'decision',
      'decision',
      'incident.closed',
    ]);
    log.close();
  });

  it('refuses to append to a log that was cut back under its index', () => {
    const path = fresh();
    const signer = generateSigningKey().signer;
    let log = AuditLog.open({ logPath: path, signer });
    log.append(records(1));
    log.close();
    truncateSync(path, statSync(path).size - 200);
    expect(() => AuditLog.open({ logPath: path, signer })).toThrow(AuditLogError);
    log = AuditLog.open({ logPath: path, mode: 'reader' }); // a reader re-reads the log and says so
    expect(log.status().warning).toMatch(/private index/);
    log.close();
  });

  it('refuses to sign with a key other than the active one after a rotation', () => {
    const path = fresh();
    const [a, b] = [generateSigningKey().signer, generateSigningKey().signer];
    let log = AuditLog.open({ logPath: path, signer: a });
    log.append(records(1));
    log.rotateKey(b);
    log.close();
    log = AuditLog.open({ logPath: path, signer: a });
    expect(() => log.checkpoint()).toThrow(/active key/);
    log.close();
  });

  it('keeps the signing key in its own 0600 file and pins it by fingerprint in config', () => {
    const keyDir = mkdtempSync(join(tmpdir(), 'vigil-audit-key-'));
    try {
      const file = join(keyDir, 'signing.pem');
      const s = writeSigningKey(file);
      expect(statSync(file).mode & 0o777).toBe(0o600);
      expect(loadSigningKey(file).fingerprint).toBe(s.fingerprint);
      expect(() => writeSigningKey(file)).toThrow(); // never overwrites
      chmodSync(file, 0o644);
      expect(() => loadSigningKey(file)).toThrow(/chmod 600/);
      writeFileSync(join(keyDir, 'bad.pem'), 'nope', { mode: 0o600 });
      expect(() => loadSigningKey(join(keyDir, 'bad.pem'))).toThrow(/not a PEM/);
      const env = {
        VIGIL_AUDIT_LOG: join(keyDir, 'audit', 'audit.log'),
        VIGIL_AUDIT_SIGNING_KEY: file,
        VIGIL_AUDIT_TRUSTED_KEYS: s.fingerprint,
      };
      expect(loadAuditConfig(env).audit).toMatchObject({
        VIGIL_AUDIT_TRUSTED_KEYS: [s.fingerprint],
        VIGIL_AUDIT_CHECKPOINT_EVERY: 256,
      });
      expect(() => loadAuditConfig({ ...env, VIGIL_AUDIT_TRUSTED_KEYS: 'abc' })).toThrow(ConfigError);
      expect(() =>
        loadAuditConfig({ ...env, VIGIL_AUDIT_SIGNING_KEY: join(keyDir, 'audit', 'k.pem') }),
      ).toThrow(/outside the log's folder/);
    } finally {
      rmSync(keyDir, { recursive: true, force: true });
    }
  });
});
