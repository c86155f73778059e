/**
 * The local responder's configuration (env-style keys, parsed once at agent start). Defaults are the
 * safe ones: host isolation only describes what it would do until VIGIL_AGENT_ISOLATION=enforce.
 */
import { existsSync } from 'node:fs';
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { z } from 'zod';
import { CsvList, Duration, HostPort, parseEnv, type Env } from '../../../src/config.js';

/** An IPv4/IPv6 address or CIDR block (`10.0.0.5`, `10.0.0.0/8`, `fd00::/8`). */
export function isAddressOrCidr(s: string): boolean {
  const m = /^([^/]+)(?:\/(\d{1,3}))?$/.exec(s);
  if (!m?.[1]) return false;
  const v = isIP(m[1]);
  if (v === 0) return false;
  if (m[2] === undefined) return true;
  const bits = Number(m[2]);
  return bits >= 0 && bits <= (v === 4 ? 32 : 128);
}

const AbsPath = z.string().min(1).startsWith('/', 'must be an absolute path');
const Addresses = CsvList.pipe(
  z.array(z.string().refine(isAddressOrCidr, 'expected an IP address or CIDR block')),
);

export const LocalResponderConfig = z.object({
  /** The host name this agent answers for; a request naming another host is refused. */
  VIGIL_AGENT_HOST: z.string().min(1).default(hostname()),
  /** Where the agent keeps its SQLite store (idempotency records, quarantine index, undo facts). */
  VIGIL_AGENT_STATE_DIR: AbsPath.default('/var/lib/vigil-agent'),
  /** The quarantine vault (created 0700); default `<state dir>/vault`. */
  VIGIL_AGENT_VAULT_DIR: AbsPath.optional(),
  /** Comma list of directories files may be quarantined from (resolved with realpath). Empty: none. */
  VIGIL_AGENT_ALLOWED_ROOTS: CsvList.pipe(z.array(AbsPath)).default([]),
  /** Comma list of executables (absolute paths or base names), comm names and account names never touched. */
  VIGIL_AGENT_PROTECTED: CsvList.default([]),
  /** Comma list of IPs/CIDRs host isolation always keeps reachable (beside TEMPORAL_ADDRESS). */
  VIGIL_AGENT_MGMT_ALLOW: Addresses.default([]),
  /** `dry-run` (default): isolate-host returns the ruleset it would load; `enforce`: loads it. */
  VIGIL_AGENT_ISOLATION: z.enum(['dry-run', 'enforce']).default('dry-run'),
  /** Run nft/ss inside this named network namespace (`/run/netns/<name>`); unset: the agent's own. */
  VIGIL_AGENT_NETNS: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,64}$/, 'a network namespace name (letters, digits, _ . -)')
    // Checked at start: a namespace that does not exist would fail every network action at its first use.
    .refine((n) => existsSync(`/run/netns/${n}`), {
      message: 'no such network namespace (/run/netns/<name>; create it with `ip netns add`)',
    })
    .optional(),
  /** `auto`: cgroup v2 match where the kernel allows, else the process's user; `cgroup` or `uid` to force. */
  VIGIL_AGENT_BLOCK_MODE: z.enum(['auto', 'cgroup', 'uid']).default('auto'),
  /** The lowest uid lock-local-account may touch (system accounts sit below). */
  VIGIL_AGENT_MIN_UID: z.coerce.number().int().min(1).default(1000),
  /**
   * How far a pid's start time may differ from the event's (see README: resolution of /proc). At most a
   * minute: a wider window would let a reused pid pass for the event's process.
   */
  VIGIL_AGENT_PID_START_TOLERANCE: Duration.pipe(z.number().max(60_000)).default(1010),
  /** Timeout of each command (nft, usermod, ...): 0 would kill every command, above 2^31 ms Node fires at once. */
  VIGIL_AGENT_COMMAND_TIMEOUT: Duration.pipe(z.number().min(100).max(600_000)).default(10_000),
  /** The Temporal server: its address is always on the isolation allowlist. */
  TEMPORAL_ADDRESS: HostPort.default('127.0.0.1:7233'),
});
export type LocalResponderConfig = z.infer<typeof LocalResponderConfig>;

export function loadLocalResponderConfig(env: Env): LocalResponderConfig {
  return parseEnv(LocalResponderConfig, env, 'endpoint agent responder configuration');
}
