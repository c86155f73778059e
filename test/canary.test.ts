/**
 * Secrets and event contents stay out of Temporal's store: canaries planted in an event and in the
 * worker's config are searched, byte for byte, in the server's SQLite files, the exported history and the
 * dead-letter store. A control run without the codec proves the scan finds what is there.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { AesGcmCodec, newCodecKey, parseCodecKeys } from '../src/codec/aes-gcm.js';
import { codecFromEnv, dataConverterFor } from '../src/codec/config.js';
import type { IncidentStatus } from '../src/contracts/incident.js';
import { DeadLetterStore } from '../intake/dead-letter.js';
import { temporalStarter } from '../intake/incidents.js';
import { normalized } from './helpers/events.js';
import { startTestSmtp, type TestSmtp } from './helpers/smtp.js';
import { startWorker, testClient, uniqueQueue, workerEnv } from './helpers/temporal.js';

let plainClient: Client;
let closeClient: () => Promise<void>;
let smtp: TestSmtp;
const dir = mkdtempSync(join(tmpdir(), 'vigil-canary-'));
const KEYS = newCodecKey('test1');
beforeAll(async () => {
  ({ client: plainClient, close: closeClient } = await testClient());
  smtp = await startTestSmtp({ user: 'vigil', password: 'x' });
});
afterAll(async () => {
  await smtp.close();
  await closeClient();
  rmSync(dir, { recursive: true, force: true });
});

/** Every string of the history JSON, also base64-decoded (payload data is base64 there). */
function historyBytes(json: string): Buffer {
  const out: Buffer[] = [];
  const walk = (v: unknown) => {
    if (typeof v === 'string') out.push(Buffer.from(v), Buffer.from(v, 'base64'));
    else if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') Object.values(v).forEach(walk);
  };
  walk(JSON.parse(json));
  return Buffer.concat(out);
}

function serverBytes(): Buffer {
  const db = inject('temporalDb');
  return Buffer.concat([db, `${db}-wal`].filter((f) => existsSync(f)).map((f) => readFileSync(f)));
}

async function runIncident(
  canary: string,
  withCodec: boolean,
): Promise<{ history: string; result: IncidentStatus }> {
  const codec = withCodec ? codecFromEnv({ VIGIL_PAYLOAD_KEYS: KEYS }) : undefined;
  const client = new Client({
    connection: plainClient.connection,
    namespace: plainClient.options.namespace,
    dataConverter: dataConverterFor(codec),
  });
  const queue = uniqueQueue('canary');
  const env = workerEnv(smtp.port, queue, {
    SMTP_USER: 'vigil',
    SMTP_PASSWORD: `pw-${canary}`,
    ...(withCodec ? { VIGIL_PAYLOAD_KEYS: KEYS } : {}),
  });
  const worker = await startWorker(env);
  try {
    const e = normalized('generic', {
      time: '2026-11-26T09:00:00Z',
      host: `canary-${randomUUID().slice(0, 8)}`,
      rule: 'Odd shell',
      severity: 'medium',
      message: `token=${canary}`,
      process: {
        pid: 42,
        name: 'bash',
        commandLine: `curl -H "Authorization: Bearer ${canary}" https://x.test`,
        ancestors: [{ name: 'bash' }],
      },
    });
    await temporalStarter(
      client.connection,
      client.options.namespace,
      queue,
      5000,
      dataConverterFor(codec),
    ).start(e.incidentId, e.correlationKey, e.event);
    const handle = client.workflow.getHandle(e.incidentId);
    const result = (await handle.result()) as IncidentStatus;
    return { history: historyToJSON(await handle.fetchHistory()), result };
  } finally {
    await worker.stop();
  }
}

it('keeps event contents and config secrets out of the server store and the history when payloads are encrypted', async () => {
  const canary = `CANARY${randomBytes(12).toString('hex')}`;
  const { history, result } = await runIncident(canary, true);
  // The incident itself works and an authorized reader (with the key) sees the contents.
  expect(result.evidence[0]?.process?.commandLine).toContain(canary);
  expect(historyBytes(history).includes(Buffer.from(canary))).toBe(false);
  expect(serverBytes().includes(Buffer.from(canary))).toBe(false);
  expect(serverBytes().includes(Buffer.from(`pw-${canary}`))).toBe(false);
});

it('control: without the codec the same scan finds the canary (so the scan is not blind)', async () => {
  const canary = `CANARY${randomBytes(12).toString('hex')}`;
  const { history } = await runIncident(canary, false);
  expect(historyBytes(history).includes(Buffer.from(canary))).toBe(true);
  expect(serverBytes().includes(Buffer.from(canary))).toBe(true);
  // A config secret never reaches Temporal, codec or not.
  expect(serverBytes().includes(Buffer.from(`pw-${canary}`))).toBe(false);
});

it('seals dead letters at rest, opens them with the key, and refuses them without it', () => {
  const canary = `CANARY${randomBytes(12).toString('hex')}`;
  const file = join(dir, 'intake.db');
  const codec = codecFromEnv({ VIGIL_PAYLOAD_KEYS: KEYS }) as AesGcmCodec;
  const store = new DeadLetterStore(file, codec);
  const id = store.add({
    source: 'generic',
    reason: 'invalid-event',
    issues: ['x'],
    body: Buffer.from(`{"secret":"${canary}"`),
  });
  expect(store.get(id)?.body.toString()).toContain(canary);
  store.close();
  const raw = Buffer.concat([file, `${file}-wal`].filter((f) => existsSync(f)).map((f) => readFileSync(f)));
  expect(raw.includes(Buffer.from(canary))).toBe(false);
  const other = new DeadLetterStore(file, new AesGcmCodec(parseCodecKeys(newCodecKey('other')).active));
  expect(() => other.get(id)).toThrow(/not configured/);
  other.close();
});

it('rejects a tampered payload and an unknown key id', async () => {
  const codec = codecFromEnv({ VIGIL_PAYLOAD_KEYS: KEYS }) as AesGcmCodec;
  const [sealed] = await codec.encode([
    { metadata: { encoding: Buffer.from('json/plain') }, data: Buffer.from('{"a":1}') },
  ]);
  const data = Buffer.from(sealed?.data ?? new Uint8Array());
  data[20] = (data[20] ?? 0) ^ 1;
  await expect(codec.decode([{ ...sealed, data }])).rejects.toThrow();
  const stranger = codecFromEnv({ VIGIL_PAYLOAD_KEYS: newCodecKey('stranger') }) as AesGcmCodec;
  await expect(stranger.decode([sealed ?? {}])).rejects.toThrow(/unknown key id/);
  // Rotation: a new active key still opens payloads sealed with the old one.
  const rotated = codecFromEnv({ VIGIL_PAYLOAD_KEYS: `${newCodecKey('test2')},${KEYS}` }) as AesGcmCodec;
  const [opened] = await rotated.decode([sealed ?? {}]);
  expect(Buffer.from(opened?.data ?? new Uint8Array()).toString()).toBe('{"a":1}');
});
