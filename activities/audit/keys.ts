/**
 * Ed25519 keys of the audit log. The signing key is a PKCS#8 PEM file of its own (mode 0600, refused when
 * group or others may read it), never stored with the log; verifiers pin keys by fingerprint: the SHA-256
 * hex of the raw 32-byte public key.
 */
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  sign,
  verify,
  type KeyObject,
} from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { sha256Hex } from './canonical.js';

export class KeyFileError extends Error {
  override readonly name = 'KeyFileError';
}

export interface Signer {
  /** SHA-256 hex of the raw public key. */
  fingerprint: string;
  /** The raw 32-byte public key, base64. */
  publicKey: string;
  sign(message: Buffer): string;
}

export const fingerprintOf = (rawPublicKey: Buffer): string => sha256Hex(rawPublicKey);

/** Accepts `<64 hex>` or `sha256:<64 hex>`, any case; returns the bare lowercase hex, or undefined. */
export function normalizeFingerprint(s: string): string | undefined {
  const m = /^(?:sha256:)?([0-9a-fA-F]{64})$/.exec(s.trim());
  return m?.[1]?.toLowerCase();
}

function rawPublicKey(key: KeyObject): Buffer {
  const jwk = key.export({ format: 'jwk' });
  if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519' || typeof jwk.x !== 'string')
    throw new KeyFileError('not an Ed25519 key');
  return Buffer.from(jwk.x, 'base64url');
}

export function signerFromPrivateKey(privateKey: KeyObject): Signer {
  const raw = rawPublicKey(createPublicKey(privateKey));
  return {
    fingerprint: fingerprintOf(raw),
    publicKey: raw.toString('base64'),
    sign: (message) => sign(null, message, privateKey).toString('base64'),
  };
}

/** A new key pair held in memory (tests, and keygen before it writes the file). */
export function generateSigningKey(): { signer: Signer; pem: string } {
  const { privateKey } = generateKeyPairSync('ed25519');
  return {
    signer: signerFromPrivateKey(privateKey),
    pem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
  };
}

/** Write a new key to `path` (mode 0600; refuses to overwrite an existing file). */
export function writeSigningKey(path: string): Signer {
  const { signer, pem } = generateSigningKey();
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const fd = openSync(path, 'wx', 0o600);
  try {
    writeSync(fd, pem);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return signer;
}

/** Load the signing key; refuses a file that group or others can read or write, and any non-Ed25519 key. */
export function loadSigningKey(path: string): Signer {
  let st;
  try {
    st = statSync(path);
  } catch {
    throw new KeyFileError(`${path} does not exist (create one with: vigil audit keygen --out ${path})`);
  }
  if (!st.isFile()) throw new KeyFileError(`${path} is not a regular file`);
  if ((st.mode & 0o077) !== 0)
    throw new KeyFileError(
      `${path} is accessible to group or others (mode ${(st.mode & 0o777).toString(8)}); run: chmod 600 ${path}`,
    );
  let key: KeyObject;
  try {
    key = createPrivateKey(readFileSync(path));
  } catch (e) {
    throw new KeyFileError(
      `${path} is not a PEM private key (${e instanceof Error ? e.message : String(e)})`,
    );
  }
  if (key.asymmetricKeyType !== 'ed25519')
    throw new KeyFileError(
      `${path} holds a ${key.asymmetricKeyType ?? 'unknown'} key; an Ed25519 key is required`,
    );
  return signerFromPrivateKey(key);
}

const publicKeys = new Map<string, KeyObject>();

/** Verify an Ed25519 signature (base64) over `message` with a raw public key (base64); never throws. */
export function verifySignature(publicKeyB64: string, message: Buffer, signatureB64: string): boolean {
  try {
    let key = publicKeys.get(publicKeyB64);
    if (!key) {
      const raw = Buffer.from(publicKeyB64, 'base64');
      if (raw.length !== 32 || raw.toString('base64') !== publicKeyB64) return false;
      key = createPublicKey({
        key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') },
        format: 'jwk',
      });
      if (publicKeys.size > 64) publicKeys.clear();
      publicKeys.set(publicKeyB64, key);
    }
    const sig = Buffer.from(signatureB64, 'base64');
    if (sig.length !== 64 || sig.toString('base64') !== signatureB64) return false;
    return verify(null, message, key, sig);
  } catch {
    return false;
  }
}

/** The fingerprint of a raw public key given in base64 (undefined if it is not 32 bytes). */
export function fingerprintOfB64(publicKeyB64: string): string | undefined {
  const raw = Buffer.from(publicKeyB64, 'base64');
  return raw.length === 32 && raw.toString('base64') === publicKeyB64 ? fingerprintOf(raw) : undefined;
}
