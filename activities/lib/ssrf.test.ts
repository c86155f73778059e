/**
 * The outbound guard: every internal form is refused (literals in all spellings, names that resolve to
 * internal addresses, redirects), allowlists open exactly what they name, and the socket connects only to
 * addresses the guard checked. Names are resolved by an injected resolver (no DNS needed).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApplicationFailure } from '@temporalio/common';
import { afterEach, describe, expect, it } from 'vitest';
import {
  classifyIp,
  createOutboundHttp,
  DestinationRefused,
  loadOutboundConfig,
  OutboundGuard,
  outboundFailure,
  parseIp,
  parseIPv4,
  type Resolver,
} from './ssrf.js';
import { ConfigError } from '../../src/errors.js';

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

type Handler = (req: IncomingMessage, res: ServerResponse) => void;
async function serve(handler: Handler, host = '127.0.0.1', port = 0) {
  const hits: string[] = [];
  const s = createServer((req, res) => {
    hits.push(`${req.method} ${req.url}`);
    handler(req, res);
  });
  servers.push(s);
  await new Promise<void>((r) => s.listen(port, host, r));
  return { port: (s.address() as AddressInfo).port, hits };
}

const refuses = (guard: OutboundGuard, url: string) => {
  try {
    guard.checkUrl(url);
  } catch (e) {
    if (e instanceof DestinationRefused) return e.reason;
    throw e;
  }
  return null;
};

const names =
  (table: Record<string, string[]>, calls: string[] = []): Resolver =>
  async (host) => {
    calls.push(host);
    const list = table[host];
    if (!list) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
    return list.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  };

describe('IP literals', () => {
  const guard = new OutboundGuard();
  it.each([
    ['http://10.1.2.3/', 'private (10.0.0.0/8)'],
    ['http://172.16.0.1/', 'private (172.16.0.0/12)'],
    ['http://172.31.255.254/', 'private (172.16.0.0/12)'],
    ['http://192.168.1.10/', 'private (192.168.0.0/16)'],
    ['http://100.64.0.1/', 'shared address space'],
    ['http://100.127.255.1/', 'shared address space'],
    ['http://127.0.0.1/', 'loopback'],
    ['http://127.255.3.4:8080/', 'loopback'],
    ['http://[::1]/', 'loopback (::1)'],
    ['http://169.254.169.254/latest/meta-data/', 'link-local / cloud metadata'],
    ['http://[fe80::1]/', 'link-local (fe80::/10)'],
    ['http://0.0.0.0/', 'unspecified'],
    ['http://0/', 'unspecified'],
    ['http://[::]/', 'unspecified (::)'],
    ['http://[fc00::1]/', 'unique local'],
    ['http://[fd12:3456::1]/', 'unique local'],
    ['http://224.0.0.251/', 'multicast'],
    ['http://[ff02::1]/', 'multicast (ff00::/8)'],
    ['http://255.255.255.255/', 'reserved / broadcast'],
    ['http://[::ffff:127.0.0.1]/', 'IPv4-mapped IPv6 of loopback'],
    ['http://[::ffff:7f00:1]/', 'IPv4-mapped IPv6 of loopback'],
    ['http://[::ffff:a9fe:a9fe]/', 'IPv4-mapped IPv6 of link-local / cloud metadata'],
    ['http://[::127.0.0.1]/', 'IPv4-compatible IPv6'],
    ['http://[::7f00:1]/', 'IPv4-compatible IPv6'],
    ['http://[64:ff9b::7f00:1]/', 'NAT64 (64:ff9b::/96) of loopback'],
    ['http://[64:ff9b::169.254.169.254]/', 'NAT64 (64:ff9b::/96) of link-local'],
    ['http://[64:ff9b:1::a00:1]/', 'local-use NAT64'],
    ['http://[2002:7f00:1::1]/', '6to4 (2002::/16) of loopback'],
    ['http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/', 'Teredo'],
    ['http://2130706433/', 'loopback'],
    ['http://0x7f.1/', 'loopback'],
    ['http://0x7f000001/', 'loopback'],
    ['http://0177.0.0.1/', 'loopback'],
    ['http://017700000001/', 'loopback'],
    ['http://127.1/', 'loopback'],
    ['http://0xa9.0xfe.0xa9.0xfe/', 'link-local / cloud metadata'],
    ['http://3232235777/', 'private (192.168.0.0/16)'],
  ])('refuses %s', (url, reason) => {
    expect(refuses(guard, url)).toContain(reason);
  });

  it.each([
    'https://93.184.215.14/',
    'https://8.8.8.8/',
    'http://172.32.0.1/',
    'http://100.128.0.1/',
    'https://[2606:4700:4700::1111]/',
    'https://[64:ff9b::808:808]/', // NAT64 of a public address (DNS64 networks)
    'https://[::ffff:8.8.8.8]/',
    'https://tickets.example.com/', // a name: checked when it is resolved
  ])('lets the public destination %s through', (url) => {
    expect(refuses(guard, url)).toBeNull();
  });

  it('parses the inet_aton spellings of IPv4 the same way as the URL parser', () => {
    const dotted = (n: number | null) =>
      n === null ? null : [24, 16, 8, 0].map((s) => (n >>> s) & 255).join('.');
    expect(dotted(parseIPv4('2130706433'))).toBe('127.0.0.1');
    expect(dotted(parseIPv4('0x7f.1'))).toBe('127.0.0.1');
    expect(dotted(parseIPv4('0177.0.0.01'))).toBe('127.0.0.1');
    expect(dotted(parseIPv4('10.0x10.1'))).toBe('10.16.0.1');
    expect(parseIPv4('256.1.1.1')).toBeNull();
    expect(parseIPv4('1.2.3.4.5')).toBeNull();
    expect(parseIPv4('08.1.1.1')).toBeNull();
    // The raw (un-normalized) spellings are refused by the address check too.
    for (const raw of ['0x7f.1', '2130706433', '0177.0.0.1', '::ffff:7f00:1', 'fe80::1%eth0'])
      expect(() => guard.checkAddress('h', raw)).toThrow(DestinationRefused);
    expect(classifyIp(parseIp('[::ffff:127.0.0.1]')!)?.reason).toContain('loopback');
  });

  it.each([
    'file:///etc/passwd',
    'ftp://example.com/',
    'gopher://example.com:70/',
    'data:text/plain,hi',
    'ws://example.com/',
  ])('refuses the non-http(s) scheme of %s', (url) => {
    expect(refuses(guard, url)).toMatch(/scheme .* is not http\(s\)|not a valid absolute URL/);
  });

  it('refuses credentials embedded in the URL', () => {
    expect(refuses(guard, 'https://user:secret@example.com/')).toContain('credentials');
  });
});

describe('allowlists', () => {
  it('opens exactly the CIDRs and hosts it names', async () => {
    const guard = new OutboundGuard({
      allow: ['10.1.2.0/24', 'tickets.corp.example', '*.svc.corp.example', 'fd00:1::/32'],
      resolver: names({
        'tickets.corp.example': ['10.9.9.9'],
        'jira.svc.corp.example': ['192.168.3.3'],
        'other.corp.example': ['10.9.9.9'],
        'meta.svc.corp.example': ['169.254.169.254'],
      }),
    });
    expect(refuses(guard, 'http://10.1.2.200/')).toBeNull();
    expect(refuses(guard, 'http://10.1.3.1/')).toContain('private');
    expect(refuses(guard, 'http://[::ffff:10.1.2.7]/')).toBeNull();
    expect(refuses(guard, 'http://[fd00:1::5]/')).toBeNull();
    expect(refuses(guard, 'http://[fd00:2::5]/')).toContain('unique local');
    await expect(guard.resolve('tickets.corp.example')).resolves.toHaveLength(1);
    await expect(guard.resolve('jira.svc.corp.example')).resolves.toHaveLength(1);
    await expect(guard.resolve('other.corp.example')).rejects.toThrow(/10\.9\.9\.9 is private/);
    // A trusted name still does not reach the metadata service: that needs an explicit CIDR.
    await expect(guard.resolve('meta.svc.corp.example')).rejects.toThrow(/cloud metadata/);
  });

  it('allow-internal opens private and loopback ranges but not link-local, unspecified or multicast', () => {
    const guard = new OutboundGuard({ allowInternal: true });
    expect(refuses(guard, 'http://10.0.0.1/')).toBeNull();
    expect(refuses(guard, 'http://127.0.0.1:8080/')).toBeNull();
    expect(refuses(guard, 'http://[fd00::1]/')).toBeNull();
    expect(refuses(guard, 'http://169.254.169.254/')).toContain('cloud metadata');
    expect(refuses(guard, 'http://0.0.0.0/')).toContain('unspecified');
    expect(refuses(guard, 'http://224.0.0.1/')).toContain('multicast');
    expect(
      new OutboundGuard({ allow: ['169.254.169.254/32'] }).checkUrl('http://169.254.169.254/'),
    ).toBeTruthy();
  });

  it('reads its keys from the environment and names a bad entry', () => {
    expect(
      loadOutboundConfig({
        VIGIL_OUTBOUND_ALLOW: '10.0.0.0/8, tickets.corp',
        VIGIL_OUTBOUND_ALLOW_INTERNAL: 'no',
      }),
    ).toEqual({ VIGIL_OUTBOUND_ALLOW: ['10.0.0.0/8', 'tickets.corp'], VIGIL_OUTBOUND_ALLOW_INTERNAL: false });
    const err = (() => {
      try {
        loadOutboundConfig({ VIGIL_OUTBOUND_ALLOW: '10.0.0.0/33,http://x' });
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).problems[0]?.key).toBe('VIGIL_OUTBOUND_ALLOW');
    expect((err as ConfigError).message).toContain('10.0.0.0/33');
  });
});

describe('names and connections', () => {
  it('refuses a name when any of its addresses is internal, without connecting', async () => {
    const srv = await serve((_q, r) => r.end('secret'));
    const http = createOutboundHttp({
      policy: {
        resolver: names({ 'mixed.test': ['93.184.215.14', '127.0.0.1'], 'local.test': ['127.0.0.1'] }),
      },
      timeoutMs: 2000,
    });
    for (const host of ['mixed.test', 'local.test']) {
      const e = await http.get(`http://${host}:${srv.port}/`).catch((x: unknown) => x);
      const f = outboundFailure(e, 'probe');
      expect(f.type).toBe('Forbidden');
      expect(f.nonRetryable).toBe(true);
      expect(f.message).toContain('127.0.0.1 is loopback');
    }
    expect(srv.hits).toEqual([]);
  });

  it('refuses a literal internal address before any connection', async () => {
    const srv = await serve((_q, r) => r.end('secret'));
    const http = createOutboundHttp({ policy: {}, timeoutMs: 2000 });
    for (const url of [
      `http://127.0.0.1:${srv.port}/`,
      `http://2130706433:${srv.port}/`,
      `http://0x7f.1:${srv.port}/`,
      `http://[::ffff:127.0.0.1]:${srv.port}/`,
    ]) {
      const f = outboundFailure(await http.get(url).catch((x: unknown) => x), 'probe');
      expect(f.type).toBe('Forbidden');
    }
    expect(srv.hits).toEqual([]);
  });

  it('connects only to the address it checked, so DNS rebinding cannot swap it', async () => {
    const allowed = await serve((_q, r) => r.end('ok'));
    const internal = await serve((_q, r) => r.end('secret'), '127.0.0.2', allowed.port);
    let flip = 0;
    const calls: string[] = [];
    const rebinding: Resolver = async (host) => {
      calls.push(host);
      return [{ address: flip++ % 2 === 0 ? '127.0.0.1' : '127.0.0.2', family: 4 }];
    };
    const http = createOutboundHttp({
      policy: { allow: ['127.0.0.1/32'], resolver: rebinding },
      timeoutMs: 2000,
    });
    const outcomes: string[] = [];
    for (let i = 0; i < 6; i++) {
      // A fresh connection each time (no keep-alive reuse), so every request resolves the name again.
      const r = await http
        .get(`http://rebind.test:${allowed.port}/`, { headers: { Connection: 'close' } })
        .then((x) => String(x.data))
        .catch((e: unknown) => outboundFailure(e, 'probe').type ?? 'untyped');
      outcomes.push(r);
    }
    expect(internal.hits).toEqual([]);
    expect(outcomes).toEqual(['ok', 'Forbidden', 'ok', 'Forbidden', 'ok', 'Forbidden']);
    expect(calls).toHaveLength(6);
  });

  it('does not follow redirects by default, and reports the 3xx as a final rejection', async () => {
    const srv = await serve((q, r) => {
      if (q.url === '/go') r.writeHead(302, { Location: '/internal' }).end();
      else r.end('internal');
    });
    const http = createOutboundHttp({ policy: { allow: ['127.0.0.1'] }, timeoutMs: 2000 });
    const f = outboundFailure(
      await http.get(`http://127.0.0.1:${srv.port}/go`).catch((x: unknown) => x),
      'probe',
    );
    expect(f.type).toBe('UpstreamRejected');
    expect(f.nonRetryable).toBe(true);
    expect(srv.hits).toEqual(['GET /go']);
  });

  it('re-checks every hop when redirects are followed', async () => {
    const target = await serve((_q, r) => r.end('internal'));
    const srv = await serve((q, r) => {
      const to: Record<string, string> = {
        '/meta': 'http://169.254.169.254/latest/meta-data/',
        '/name': `http://internal.test:${target.port}/`,
        '/literal': `http://[::ffff:7f00:1]:${target.port}/`,
        '/file': 'file:///etc/passwd',
        '/ok': '/final',
      };
      const loc = to[q.url ?? ''];
      if (loc) r.writeHead(302, { Location: loc }).end();
      else r.end('final');
    });
    const http = createOutboundHttp({
      policy: {
        allow: ['front.test'],
        resolver: names({ 'front.test': ['127.0.0.1'], 'internal.test': ['127.0.0.1'] }),
      },
      timeoutMs: 2000,
      maxRedirects: 3,
    });
    const base = `http://front.test:${srv.port}`;
    expect((await http.get(`${base}/ok`)).data).toBe('final');
    for (const path of ['/meta', '/name', '/literal', '/file']) {
      const e = await http.get(`${base}${path}`).catch((x: unknown) => x);
      const f = outboundFailure(e, 'probe');
      expect([path, f.type]).toEqual([path, expect.stringMatching(/Forbidden|UpstreamRejected/)]);
      expect(f.nonRetryable).toBe(true);
    }
    expect(target.hits).toEqual([]);
  });
});

describe('failure mapping', () => {
  const http = createOutboundHttp({ policy: { allow: ['127.0.0.1'] }, timeoutMs: 1000 });
  const call = async (handler: Handler, secrets: string[] = []) => {
    const srv = await serve(handler);
    const e = await http.get(`http://127.0.0.1:${srv.port}/x`).catch((x: unknown) => x);
    return outboundFailure(e, 'vendor', (d) => (d as { message?: string })?.message, secrets);
  };

  it('maps 429 to RateLimited waiting for Retry-After', async () => {
    const f = await call((_q, r) => r.writeHead(429, { 'Retry-After': '7' }).end('{}'));
    expect(f.type).toBe('RateLimited');
    expect(f.nonRetryable).toBe(false);
    expect(f.nextRetryDelay).toBe(7000);
  });

  it('maps other 4xx to a final failure carrying the vendor reason, scrubbed of secrets', async () => {
    const f = await call(
      (_q, r) =>
        r
          .writeHead(400, { 'Content-Type': 'application/json' })
          .end(JSON.stringify({ message: 'field summary is required (token tok-SECRET-123)' })),
      ['tok-SECRET-123'],
    );
    expect(f.type).toBe('UpstreamRejected');
    expect(f.nonRetryable).toBe(true);
    expect(f.message).toContain('field summary is required');
    expect(f.message).not.toContain('tok-SECRET-123');
  });

  it('maps 5xx, refused connections and timeouts to retryable Unavailable', async () => {
    const f5 = await call((_q, r) => r.writeHead(503).end());
    expect([f5.type, f5.nonRetryable]).toEqual(['Unavailable', false]);
    const slow = await call(() => undefined);
    expect([slow.type, slow.nonRetryable, slow.message]).toEqual(['Unavailable', false, 'vendor: timed out']);
    const srv = await serve((_q, r) => r.end());
    const port = srv.port;
    await new Promise((r) => servers.pop()?.close(r));
    const down = outboundFailure(
      await http.get(`http://127.0.0.1:${port}/`).catch((x: unknown) => x),
      'vendor',
    );
    expect([down.type, down.nonRetryable]).toEqual(['Unavailable', false]);
    expect(down.message).toContain('ECONNREFUSED');
  });

  it('passes an ApplicationFailure through unchanged', () => {
    const f = ApplicationFailure.nonRetryable('x', 'InvalidInput');
    expect(outboundFailure(f, 'vendor')).toBe(f);
  });
});
