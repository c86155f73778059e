/**
 * The Merkle tree of a checkpoint, as in RFC 6962 section 2.1 (Certificate Transparency):
 *   MTH({})      = SHA-256()
 *   MTH({d0})    = SHA-256(0x00 || d0)                              (leaf)
 *   MTH(D[0:n])  = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n]))       (node; k = largest power of 2 < n)
 * The leaves d_i are the raw 32-byte SHA-256 entry hashes of the entries the checkpoint covers, in seq
 * order. Inclusion proofs are RFC 6962 audit paths, verified with the algorithm of RFC 9162 2.1.3.2.
 */
import { createHash } from 'node:crypto';

const LEAF = Buffer.from([0x00]);
const NODE = Buffer.from([0x01]);

const hash = (...parts: Buffer[]) => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
};

export const leafHash = (d: Buffer): Buffer => hash(LEAF, d);
export const nodeHash = (l: Buffer, r: Buffer): Buffer => hash(NODE, l, r);

function split(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

function mth(leaves: Buffer[], lo: number, hi: number): Buffer {
  const n = hi - lo;
  if (n === 0) return hash();
  if (n === 1) return leafHash(leaves[lo] as Buffer);
  const k = split(n);
  return nodeHash(mth(leaves, lo, lo + k), mth(leaves, lo + k, hi));
}

/** The root over `leaves` (raw entry hashes). */
export function merkleRoot(leaves: Buffer[]): Buffer {
  return mth(leaves, 0, leaves.length);
}

/** The audit path of leaf `m` (0-based) in the tree over `leaves`, leaf side first. */
export function inclusionProof(leaves: Buffer[], m: number): Buffer[] {
  if (!Number.isInteger(m) || m < 0 || m >= leaves.length) throw new RangeError(`no leaf ${m}`);
  const path = (m0: number, lo: number, hi: number): Buffer[] => {
    const n = hi - lo;
    if (n === 1) return [];
    const k = split(n);
    return m0 < k
      ? [...path(m0, lo, lo + k), mth(leaves, lo + k, hi)]
      : [...path(m0 - k, lo + k, hi), mth(leaves, lo, lo + k)];
  };
  return path(m, 0, leaves.length);
}

/** RFC 9162 2.1.3.2: does `path` prove that `leaf` (a raw entry hash) is leaf `index` of a tree of `size` with `root`? */
export function verifyInclusion(
  leaf: Buffer,
  index: number,
  size: number,
  path: Buffer[],
  root: Buffer,
): boolean {
  if (!Number.isInteger(index) || !Number.isInteger(size) || index < 0 || index >= size) return false;
  let fn = index;
  let sn = size - 1;
  let r = leafHash(leaf);
  for (const p of path) {
    if (p.length !== 32 || sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && r.equals(root);
}
