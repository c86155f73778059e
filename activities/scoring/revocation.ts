/**
 * Revoked models: sha256 of model.onnx files that must never load, from VIGIL_MODEL_REVOKED (a comma list)
 * and VIGIL_MODEL_REVOKED_FILE (one hash a line, `#` comments, blank lines ignored). A file that is set
 * but missing or malformed is a ConfigError naming the key: a revocation list that cannot be read must not
 * silently let a revoked model through.
 */
import { readFileSync, statSync } from 'node:fs';
import { ConfigError } from '../../src/errors.js';
import type { ScoringConfig } from './config.js';

export type RevocationConfig = Partial<
  Pick<ScoringConfig, 'VIGIL_MODEL_REVOKED' | 'VIGIL_MODEL_REVOKED_FILE'>
>;

const SHA256 = /^[0-9a-f]{64}$/;

/** Parse a revocation file's text; throws a ConfigError naming the line of each bad entry. */
export function parseRevocationFile(text: string, file: string): string[] {
  const out: string[] = [];
  const bad: string[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/#.*$/, '').trim().toLowerCase();
    if (!line) return;
    if (SHA256.test(line)) out.push(line);
    else bad.push(`line ${i + 1}: "${line.slice(0, 80)}" is not a sha256 (64 hex digits)`);
  });
  if (bad.length)
    throw new ConfigError(
      bad.map((message) => ({ key: 'VIGIL_MODEL_REVOKED_FILE', message: `${file}: ${message}` })),
      'model revocation list',
    );
  return out;
}

export function readRevocationFile(file: string): string[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(
      [{ key: 'VIGIL_MODEL_REVOKED_FILE', message: `cannot read ${file}: ${(e as Error).message}` }],
      'model revocation list',
    );
  }
  return parseRevocationFile(text, file);
}

/** Every revoked hash: the env list and the file's (read now). */
export function revokedHashes(cfg: RevocationConfig): string[] {
  const fromFile = cfg.VIGIL_MODEL_REVOKED_FILE ? readRevocationFile(cfg.VIGIL_MODEL_REVOKED_FILE) : [];
  return [...new Set([...(cfg.VIGIL_MODEL_REVOKED ?? []), ...fromFile])];
}

/** Identity of the file's current version (changes when it is rewritten or replaced), or undefined. */
export function fileStamp(file: string): string | undefined {
  try {
    const s = statSync(file);
    return `${s.ino}:${s.size}:${s.mtimeMs}`;
  } catch {
    return undefined;
  }
}
