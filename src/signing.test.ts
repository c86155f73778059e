import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { sign, signedHeaders, verify } from './signing.js';

const secret = 's'.repeat(40);
const body = Buffer.from('{"a":1}');
const now = 1_795_000_000_000;

describe('request signing', () => {
  const h = signedHeaders({ id: 'k', secret }, 'POST', '/v1/events/falco', body, now);
  const hv = { timestamp: h['x-vigil-timestamp'], signature: h['x-vigil-signature'] };

  it('verifies a request signed with the same secret, path and body', () => {
    expect(verify(secret, hv, 'POST', '/v1/events/falco', body, 300, now)).toEqual({ ok: true });
  });
  it('matches the documented formula', () => {
    const ts = String(now / 1000);
    const expected = createHmac('sha256', secret)
      .update(`v1:${ts}:POST:/v1/events/falco:{"a":1}`)
      .digest('hex');
    expect(sign(secret, ts, 'POST', '/v1/events/falco', body)).toBe(`v1=${expected}`);
  });
  it.each([
    ['another secret', () => verify('x'.repeat(40), hv, 'POST', '/v1/events/falco', body, 300, now)],
    ['another path (source)', () => verify(secret, hv, 'POST', '/v1/events/generic', body, 300, now)],
    [
      'a changed body',
      () => verify(secret, hv, 'POST', '/v1/events/falco', Buffer.from('{"a":2}'), 300, now),
    ],
    ['a stale timestamp', () => verify(secret, hv, 'POST', '/v1/events/falco', body, 300, now + 301_000)],
    [
      'a timestamp from the future',
      () => verify(secret, hv, 'POST', '/v1/events/falco', body, 300, now - 301_000),
    ],
    [
      'no signature',
      () => verify(secret, { timestamp: hv.timestamp }, 'POST', '/v1/events/falco', body, 300, now),
    ],
    [
      'a truncated signature',
      () =>
        verify(
          secret,
          { ...hv, signature: hv.signature?.slice(0, 20) },
          'POST',
          '/v1/events/falco',
          body,
          300,
          now,
        ),
    ],
  ])('refuses %s', (_name, run) => {
    expect(run().ok).toBe(false);
  });
});
