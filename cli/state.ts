/**
 * The running dev stack's state file (endpoints and the locally generated dev credentials), read by
 * every CLI command so a new user needs no configuration. Written 0600 into VIGIL_HOME.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { repoRoot } from '../src/paths.js';
import { newCodecKey } from '../src/codec/aes-gcm.js';

export function vigilHome(env = process.env): string {
  return resolve(env.VIGIL_HOME ?? join(repoRoot(), '.vigil'));
}

export const Credentials = z.object({
  intakeKey: z.object({ id: z.string(), secret: z.string() }),
  adminToken: z.string(),
  smtp: z.object({ user: z.string(), password: z.string() }),
  /** Dev operators created by `vigil up` (tokens rotate at every start). */
  operators: z.record(z.string(), z.string()).default({}),
  /** The dev stack's payload encryption key(s), `id:base64` (generated once). */
  payloadKeys: z.string().optional(),
  /** Fingerprint of the dev stack's audit signing key (the key itself is in keys/, mode 0600). */
  auditFingerprint: z.string().optional(),
});
export type Credentials = z.infer<typeof Credentials>;

export const StackState = z.object({
  pid: z.number().int(),
  startedAt: z.string(),
  home: z.string(),
  temporal: z.object({
    address: z.string(),
    namespace: z.string(),
    uiUrl: z.string().optional(),
    embedded: z.boolean(),
    metricsUrl: z.string().optional(),
  }),
  taskQueue: z.string(),
  intake: z.object({ url: z.string(), metricsUrl: z.string() }),
  audit: z.object({ log: z.string(), fingerprint: z.string() }).optional(),
  worker: z.object({ metricsUrl: z.string().optional() }),
  agent: z.object({ host: z.string(), metricsUrl: z.string() }).optional(),
  smtp: z.object({ host: z.string(), port: z.number().int(), mailbox: z.string() }),
  deadLetters: z.string(),
});
export type StackState = z.infer<typeof StackState>;

function writePrivate(file: string, data: unknown): void {
  writeFileSync(file, `${JSON.stringify(data, null, 2)}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
}

/** Dev credentials: generated once per VIGIL_HOME and kept, so a restarted stack accepts the same sender. */
export function loadOrCreateCredentials(home: string): Credentials {
  mkdirSync(home, { recursive: true, mode: 0o700 });
  const file = join(home, 'credentials.json');
  if (existsSync(file)) {
    const c = Credentials.parse(JSON.parse(readFileSync(file, 'utf8')));
    if (!c.payloadKeys) {
      c.payloadKeys = newCodecKey('dev1');
      writePrivate(file, c);
    }
    return c;
  }
  const creds: Credentials = {
    intakeKey: { id: 'dev-cli', secret: randomBytes(32).toString('hex') },
    adminToken: randomBytes(32).toString('hex'),
    smtp: { user: 'vigil', password: randomBytes(16).toString('hex') },
    operators: {},
    payloadKeys: newCodecKey('dev1'),
  };
  writePrivate(file, creds);
  return creds;
}

export function saveCredentials(home: string, creds: Credentials): void {
  writePrivate(join(home, 'credentials.json'), creds);
}

export function writeState(home: string, state: StackState): void {
  writePrivate(join(home, 'state.json'), state);
}

export function clearState(home: string): void {
  rmSync(join(home, 'state.json'), { force: true });
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export class NotRunning extends Error {}

/** The state of the running stack (and its credentials), or NotRunning with what to do. */
export function readStack(env = process.env): { state: StackState; creds: Credentials } {
  const home = vigilHome(env);
  const file = join(home, 'state.json');
  if (!existsSync(file))
    throw new NotRunning(`no Vigil stack is running for ${home} (start one with: npm start)`);
  const state = StackState.parse(JSON.parse(readFileSync(file, 'utf8')));
  if (!processAlive(state.pid))
    throw new NotRunning(
      `the Vigil stack for ${home} is not running any more (pid ${state.pid}); start it with: npm start`,
    );
  return { state, creds: loadOrCreateCredentials(home) };
}
