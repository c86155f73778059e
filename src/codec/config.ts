import type { DataConverter } from '@temporalio/common';
import { z } from 'zod';
import { parseEnv, type Env } from '../config.js';
import { AesGcmCodec, parseCodecKeys } from './aes-gcm.js';

export const PayloadKeyConfig = z
  .object({
    /** `id:base64(32 bytes)[,id2:...]`: the keys that seal payloads and dead letters (older ones only decode). */
    VIGIL_PAYLOAD_KEYS: z.string().min(1).optional(),
    /** The key that seals new payloads (default: the first). */
    VIGIL_PAYLOAD_KEY_ID: z.string().min(1).optional(),
  })
  .superRefine((c, ctx) => {
    if (!c.VIGIL_PAYLOAD_KEYS) return;
    try {
      parseCodecKeys(c.VIGIL_PAYLOAD_KEYS, c.VIGIL_PAYLOAD_KEY_ID);
      new AesGcmCodec(parseCodecKeys(c.VIGIL_PAYLOAD_KEYS, c.VIGIL_PAYLOAD_KEY_ID).active);
    } catch (e) {
      ctx.addIssue({ code: 'custom', path: ['VIGIL_PAYLOAD_KEYS'], message: (e as Error).message });
    }
  });

/** The codec from the environment, or undefined when no key is configured (payloads then travel in clear). */
export function codecFromEnv(env: Env): AesGcmCodec | undefined {
  const c = parseEnv(PayloadKeyConfig, env, 'payload encryption');
  if (!c.VIGIL_PAYLOAD_KEYS) return undefined;
  const { active, older } = parseCodecKeys(c.VIGIL_PAYLOAD_KEYS, c.VIGIL_PAYLOAD_KEY_ID);
  return new AesGcmCodec(active, older);
}

export function dataConverterFor(codec: AesGcmCodec | undefined): DataConverter | undefined {
  return codec ? { payloadCodecs: [codec] } : undefined;
}
