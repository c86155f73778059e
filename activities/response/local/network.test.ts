import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  addNetns,
  agentEnv,
  canConnect,
  delNetns,
  killQuietly,
  link,
  probeClient,
  rootGate,
  subnet,
  tcpServer,
  tempDir,
  uniq,
  type Netns,
} from '../../../test/helpers/host-sandbox.js';
import { loadLocalResponderConfig } from './config.js';
import { createLocalResponder, type LocalResponder } from './responder.js';

const gate = rootGate();

/** The tables of a namespace (or of the machine's own one, to prove we never touched it). */
const tables = (ns?: Netns) =>
  execFileSync(
    ns ? 'nsenter' : 'nft',
    ns ? [`--net=${ns.path}`, 'nft', 'list', 'tables'] : ['list', 'tables'],
    {
      encoding: 'utf8',
    },
  );

describe.skipIf(gate.skip)('local responder: network (inside throwaway namespaces)', () => {
  const tmp = tempDir();
  const net = subnet();
  const PORT = 9000;
  const [agentIp, temporalIp, otherIp, extraIp] = [`${net}.1`, `${net}.2`, `${net}.3`, `${net}.4`];
  let agentNs: Netns;
  let peerNs: Netns;
  let server: ChildProcess;
  const children: ChildProcess[] = [];
  const responders: LocalResponder[] = [];
  const hostTablesBefore = gate.skip ? '' : tables();
  let n = 0;

  const responder = (extra: Record<string, string> = {}) => {
    const r = createLocalResponder(
      loadLocalResponderConfig(
        agentEnv(tmp.dir, {
          VIGIL_AGENT_NETNS: agentNs.name,
          TEMPORAL_ADDRESS: `${temporalIp}:7233`,
          VIGIL_AGENT_STATE_DIR: `${tmp.dir}/state-${uniq()}`,
          ...extra,
        }),
      ),
    );
    responders.push(r);
    return r;
  };
  const req = (action: string, params: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
    action: action as 'isolate-host',
    op: 'apply' as const,
    host: 'test-host',
    params,
    idempotencyKey: `wf-${uniq()}:net-${++n}`,
    incidentId: 'inc-3',
    ...extra,
  });

  beforeAll(async () => {
    agentNs = addNetns('vga');
    peerNs = addNetns('vgp');
    link(agentNs, agentIp, peerNs, [temporalIp, otherIp, extraIp]);
    server = await tcpServer(peerNs, PORT);
  });
  afterEach(() => children.splice(0).forEach(killQuietly));
  afterAll(() => {
    killQuietly(server);
    responders.forEach((r) => r.close());
    delNetns(agentNs);
    delNetns(peerNs);
    tmp.cleanup();
  });

  it('isolates the host: a peer becomes unreachable, the Temporal address and the allowlist stay reachable; release restores', async () => {
    const r = responder({ VIGIL_AGENT_ISOLATION: 'enforce' });
    expect(canConnect(agentNs, otherIp, PORT)).toBe(true);
    const res = await r.execute(req('isolate-host', { allow: [extraIp] }));
    expect(res).toMatchObject({ status: 'applied', already: false });
    expect(res.effect.allow).toEqual(expect.arrayContaining([temporalIp, extraIp]));
    expect(res.verified).toMatch(/policy drop/);
    expect(tables(agentNs)).toContain('table inet vigil_isolate');
    expect(canConnect(agentNs, otherIp, PORT)).toBe(false);
    expect(canConnect(agentNs, temporalIp, PORT)).toBe(true);
    expect(canConnect(agentNs, extraIp, PORT)).toBe(true);

    const un = await r.execute({ ...req('isolate-host', {}), op: 'undo' });
    expect(un.status).toBe('undone');
    expect(tables(agentNs)).not.toContain('vigil_isolate');
    expect(canConnect(agentNs, otherIp, PORT)).toBe(true);
    // The machine's own namespace was never touched.
    expect(tables()).toBe(hostTablesBefore);
  });

  it('only describes isolation unless VIGIL_AGENT_ISOLATION=enforce', async () => {
    const r = responder();
    const res = await r.execute(req('isolate-host', {}));
    expect(res.status).toBe('dry-run');
    expect(res.verified).toMatch(/VIGIL_AGENT_ISOLATION is dry-run/);
    expect(res.plan.join('\n')).toContain(temporalIp);
    expect(tables(agentNs)).not.toContain('vigil_isolate');
    expect(canConnect(agentNs, otherIp, PORT)).toBe(true);
  });

  it('refuses an allowlist entry that is not an address', async () => {
    const r = responder({ VIGIL_AGENT_ISOLATION: 'enforce' });
    await expect(
      r.execute(req('isolate-host', { allow: ['0.0.0.0/0; flush ruleset'] })),
    ).rejects.toMatchObject({
      type: 'InvalidInput',
    });
    expect(tables(agentNs)).not.toContain('vigil_isolate');
  });

  it('cuts one process off the network by cgroup while another still connects; unblock restores it', async () => {
    const r = responder();
    const target = await probeClient(agentNs, otherIp, PORT);
    const bystander = await probeClient(agentNs, otherIp, PORT);
    children.push(target.child, bystander.child);
    expect(await target.probe()).toBe('ok');

    const res = await r.execute(req('block-process-network', { pid: target.child.pid! }));
    expect(res.status).toBe('applied');
    expect(res.effect.mode).toBe('cgroup');
    expect(res.verified).toMatch(/socket cgroupv2 level 2/);
    expect(existsSync(String(res.effect.cgroupDir))).toBe(true);
    expect(await target.probe()).toMatch(/^fail/);
    expect(await bystander.probe()).toBe('ok');
    expect(tables()).toBe(hostTablesBefore);

    const un = await r.execute({ ...req('block-process-network', { pid: target.child.pid! }), op: 'undo' });
    expect(un.status).toBe('undone');
    expect(existsSync(String(res.effect.cgroupDir))).toBe(false);
    expect(await target.probe()).toBe('ok');
  });

  it('aborts connections the process already holds when it is blocked', async () => {
    const r = responder();
    const code = `
      const s = require('net').connect({ host: '${otherIp}', port: ${PORT + 1} }, () => console.log('connected'));
      s.on('close', () => { console.log('closed'); });
      s.on('error', (e) => console.log('error ' + e.code));
      setInterval(() => {}, 1000);`;
    const holder = spawn('nsenter', [
      `--net=${peerNs.path}`,
      process.execPath,
      '-e',
      `require('net').createServer(() => {}).listen(${PORT + 1}, () => console.log('l'))`,
    ]);
    children.push(holder);
    await new Promise((res) => holder.stdout.once('data', res));
    const client = spawn('nsenter', [`--net=${agentNs.path}`, process.execPath, '-e', code]);
    children.push(client);
    let out = '';
    client.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    for (let i = 0; i < 100 && !out.includes('connected'); i++)
      await new Promise((res) => setTimeout(res, 10));
    const res = await r.execute(req('block-process-network', { pid: client.pid! }));
    expect((res.effect.aborted as string[]).length).toBe(1);
    for (let i = 0; i < 100 && !out.includes('error'); i++) await new Promise((res) => setTimeout(res, 10));
    expect(out).toMatch(/error ECONNABORTED/);
    await r.execute({ ...req('block-process-network', { pid: client.pid! }), op: 'undo' });
  });

  it("falls back to the process's user when configured, and says so", async () => {
    const r = responder({ VIGIL_AGENT_BLOCK_MODE: 'uid' });
    const target = await probeClient(agentNs, otherIp, PORT, { uid: 65534, gid: 65534 });
    const bystander = await probeClient(agentNs, otherIp, PORT);
    children.push(target.child, bystander.child);
    const res = await r.execute(req('block-process-network', { pid: target.child.pid! }));
    expect(res.effect).toMatchObject({ mode: 'uid', uid: 65534 });
    expect(res.verified).toMatch(/meta skuid 65534/);
    expect(await target.probe()).toMatch(/^fail/);
    expect(await bystander.probe()).toBe('ok');
    await r.execute({ ...req('block-process-network', { pid: target.child.pid! }), op: 'undo' });
    expect(await target.probe()).toBe('ok');
  });

  it('refuses to block a root process by user, and a process in another network namespace', async () => {
    const r = responder({ VIGIL_AGENT_BLOCK_MODE: 'uid' });
    const rootProc = await probeClient(agentNs, otherIp, PORT);
    children.push(rootProc.child);
    await expect(r.execute(req('block-process-network', { pid: rootProc.child.pid! }))).rejects.toMatchObject(
      { type: 'Forbidden' },
    );
    const outsider = spawn('sleep', ['30']);
    children.push(outsider);
    await expect(r.execute(req('block-process-network', { pid: outsider.pid! }))).rejects.toMatchObject({
      type: 'Forbidden',
    });
    expect(await rootProc.probe()).toBe('ok');
  });
});
