/**
 * The payload codec: every payload Vigil sends through Temporal (workflow inputs and results, signals,
 * activity inputs and results, queries, updates) is AES-256-GCM encrypted before it reaches the server, so
 * event contents never sit in clear in Temporal's store or in exported histories. Key ids make rotation
 * possible: payloads carry the id of the key that sealed them; old keys stay configured for decoding.
 * (Search attributes are indexed by the server and are not encrypted: they hold host, severity, playbook,
 * technique and status only.)
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { Payload, PayloadCodec } from '@temporalio/common';
import proto from '@temporalio/proto';

export const ENCRYPTED_ENCODING = 'binary/encrypted';
const KEY_ID = 'encryption-key-id';
// @temporalio/proto is CommonJS: a default import works under both Node's ESM loader and the bundler.
const { temporal } = proto;
const te = new TextEncoder();
const td = new TextDecoder();

export interface CodecKey {
  id: string;
  /** 32 bytes. */
  key: Buffer;
}

export class AesGcmCodec implements PayloadCodec {
  private readonly byId: Map<string, Buffer>;

  get activeKey(): CodecKey {
    return this.active;
  }

  keyFor(id: string): Buffer | undefined {
    return this.byId.get(id);
  }

  constructor(
    private readonly active: CodecKey,
    older: CodecKey[] = [],
  ) {
    for (const k of [active, ...older]) {
      if (k.key.length !== 32) throw new Error(`payload key ${k.id} must be 32 bytes (AES-256)`);
    }
    this.byId = new Map([active, ...older].map((k) => [k.id, k.key]));
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((p) => {
      const plain = temporal.api.common.v1.Payload.encode(p).finish();
      const iv = randomBytes(12);
      const c = createCipheriv('aes-256-gcm', this.active.key, iv);
      const sealed = Buffer.concat([iv, c.update(plain), c.final(), c.getAuthTag()]);
      return {
        metadata: { encoding: te.encode(ENCRYPTED_ENCODING), [KEY_ID]: te.encode(this.active.id) },
        data: sealed,
      };
    });
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((p) => {
      if (!p.metadata || td.decode(p.metadata.encoding ?? new Uint8Array()) !== ENCRYPTED_ENCODING) return p;
      const id = td.decode(p.metadata[KEY_ID] ?? new Uint8Array());
      const key = this.byId.get(id);
      if (!key) throw new Error(`payload sealed with unknown key id "${id}"`);
      const data = Buffer.from(p.data ?? new Uint8Array());
      if (data.length < 28) throw new Error('encrypted payload is truncated');
      const d = createDecipheriv('aes-256-gcm', key, data.subarray(0, 12));
      d.setAuthTag(data.subarray(data.length - 16));
      const plain = Buffer.concat([d.update(data.subarray(12, data.length - 16)), d.final()]);
      return temporal.api.common.v1.Payload.decode(plain);
    });
  }
}

/** `id:base64key,id2:base64key2` -> keys; the first is active unless `activeId` names another. */
export function parseCodecKeys(spec: string, activeId?: string): { active: CodecKey; older: CodecKey[] } {
  const keys = spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => {
      const i = s.indexOf(':');
      if (i < 1) throw new Error('each key is <id>:<base64 of 32 bytes>');
      return { id: s.slice(0, i), key: Buffer.from(s.slice(i + 1), 'base64') };
    });
  const active = keys.find((k) => k.id === (activeId ?? keys[0]?.id));
  if (!active) throw new Error(activeId ? `no key with id ${activeId}` : 'no key configured');
  return { active, older: keys.filter((k) => k !== active) };
}

export function newCodecKey(id = `k${Date.now().toString(36)}`): string {
  return `${id}:${randomBytes(32).toString('base64')}`;
}

/** Seal raw bytes at rest (dead letters) with the codec's active key: `iv | ciphertext | tag`. */
export function sealBytes(k: CodecKey, plain: Buffer): { keyId: string; data: Buffer } {
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', k.key, iv);
  return { keyId: k.id, data: Buffer.concat([iv, c.update(plain), c.final(), c.getAuthTag()]) };
}

export function openBytes(key: Buffer, data: Buffer): Buffer {
  const d = createDecipheriv('aes-256-gcm', key, data.subarray(0, 12));
  d.setAuthTag(data.subarray(data.length - 16));
  return Buffer.concat([d.update(data.subarray(12, data.length - 16)), d.final()]);
}
