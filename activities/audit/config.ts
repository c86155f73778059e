import { isAbsolute, join, dirname, resolve, relative } from 'node:path';
import { z } from 'zod';
import { CsvList, Duration, HostPort, parseEnv, TemporalConfig, type Env } from '../../src/config.js';
import { normalizeFingerprint } from './keys.js';

/** Comma-separated key fingerprints (sha256 hex of the raw Ed25519 public key, optionally `sha256:`-prefixed). */
export const Fingerprints = CsvList.transform((list, ctx) =>
  list.map((s) => {
    const fp = normalizeFingerprint(s);
    if (!fp) ctx.addIssue({ code: 'custom', message: `"${s}" is not a key fingerprint (64 hex digits)` });
    return fp ?? s;
  }),
);

export const AuditConfig = z
  .object({
    /** The log (JSON Lines); its SQLite index sits beside it unless VIGIL_AUDIT_INDEX says otherwise. */
    VIGIL_AUDIT_LOG: z.string().min(1).default('.vigil/audit/audit.log'),
    VIGIL_AUDIT_INDEX: z.string().min(1).optional(),
    /** The Ed25519 signing key (PKCS#8 PEM, mode 0600), kept apart from the log and everything else. */
    VIGIL_AUDIT_SIGNING_KEY: z.string().min(1),
    VIGIL_AUDIT_TRUSTED_KEYS: Fingerprints.pipe(
      z.array(z.string()).min(1, 'pin at least one key fingerprint'),
    ),
    VIGIL_AUDIT_CHECKPOINT_EVERY: z.coerce.number().int().min(1).max(1_000_000).default(256),
    VIGIL_AUDIT_CHECKPOINT_INTERVAL: Duration.default(60_000),
    VIGIL_AUDIT_POLL_INTERVAL: Duration.default(5_000),
    /** How far back each poll looks again (visibility is eventually consistent); records are deduplicated. */
    VIGIL_AUDIT_VISIBILITY_LAG: Duration.default(600_000),
    /** Serve the exporter's Prometheus metrics on host:port (/metrics); off when unset. */
    VIGIL_AUDIT_METRICS: HostPort.optional(),
  })
  .superRefine((c, ctx) => {
    const log = resolve(c.VIGIL_AUDIT_LOG);
    const key = resolve(c.VIGIL_AUDIT_SIGNING_KEY);
    const rel = relative(dirname(log), key);
    if (!rel.startsWith('..') && !isAbsolute(rel))
      ctx.addIssue({
        code: 'custom',
        path: ['VIGIL_AUDIT_SIGNING_KEY'],
        message: `keep the signing key outside the log's folder (${dirname(log)}), so copying the log never copies the key`,
      });
    if (c.VIGIL_AUDIT_POLL_INTERVAL < 100)
      ctx.addIssue({ code: 'custom', path: ['VIGIL_AUDIT_POLL_INTERVAL'], message: 'at least 100ms' });
  });
export type AuditConfig = z.infer<typeof AuditConfig>;

export function loadAuditConfig(env: Env) {
  const audit = parseEnv(AuditConfig, env, 'audit exporter configuration');
  return {
    audit: {
      ...audit,
      VIGIL_AUDIT_INDEX: audit.VIGIL_AUDIT_INDEX ?? join(dirname(audit.VIGIL_AUDIT_LOG), 'audit-index.db'),
    },
    temporal: parseEnv(TemporalConfig, env, 'Temporal configuration'),
  };
}
export type AuditExporterConfig = ReturnType<typeof loadAuditConfig>;
