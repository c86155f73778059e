/**
 * block-process-network (undo: unblock) and isolate-host (undo: release), with nftables in our own tables.
 *
 * Per-process block: the process and its descendants move into a dedicated cgroup v2
 * (`<cgroup2 mount>/vigil/b-<id>`), matched with `socket cgroupv2 level 2` in `inet vigil` (input and
 * output). A socket keeps the cgroup it was created in, so sockets the process already holds are handled
 * too: established TCP connections are aborted (`ss -K`), listening TCP ports refuse new connections and
 * bound UDP ports are dropped by port. Where the cgroup cannot be used (no cgroup v2, a mount outside
 * /sys/fs/cgroup where nft resolves paths, a threaded cgroup), the block falls back to the process's
 * user (`meta skuid`, outbound only), and the result says so (`effect.mode = 'uid'`).
 *
 * Host isolation: `inet vigil_isolate` drops everything except loopback, IPv6 neighbour discovery and the
 * allowlist (TEMPORAL_ADDRESS, VIGIL_AGENT_MGMT_ALLOW, the request's `allow`), both directions. It is
 * loaded only with VIGIL_AGENT_ISOLATION=enforce; otherwise the apply is checked with `nft -c` and
 * returned as a dry run.
 */
import { lookup } from 'node:dns/promises';
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join, relative } from 'node:path';
import { z } from 'zod';
import { HostTarget, ProcessTarget } from '../../../src/contracts/response-schemas.js';
import { ErrorType } from '../../../src/errors.js';
import { failure } from '../../lib/failures.js';
import { shortHash } from '../../lib/idempotency.js';
import { isAddressOrCidr } from './config.js';
import {
  abortConnections,
  BLOCK_TABLE,
  ISOLATE_TABLE,
  listRules,
  nftApply,
  socketsOf,
  tableExists,
} from './net.js';
import { checkTree, resolveProcess, type ProcessIdentity } from './process.js';
import { cgroupV2Mount, cgroupV2Of, descendants, netnsId, uids } from './procfs.js';
import { op, type ActionContext, type LocalAction } from './types.js';

/** nft resolves `socket cgroupv2` paths relative to this directory (hard-coded in nftables). */
const NFT_CGROUP_ROOT = '/sys/fs/cgroup';

function agentNetnsPath(ctx: ActionContext): string {
  return ctx.config.VIGIL_AGENT_NETNS ? `/run/netns/${ctx.config.VIGIL_AGENT_NETNS}` : '/proc/self/ns/net';
}

function sameNetns(pid: number, ctx: ActionContext): void {
  const mine = netnsId(agentNetnsPath(ctx));
  if (!mine)
    throw failure(ErrorType.Misconfigured, `network namespace ${agentNetnsPath(ctx)} does not exist`);
  const theirs = netnsId(`/proc/${pid}/ns/net`);
  if (theirs !== mine) {
    throw failure(
      ErrorType.Forbidden,
      `refused: pid ${pid} lives in another network namespace than the agent's rules (a container?)`,
      { pid },
    );
  }
}

interface CgroupPlan {
  mount: string;
  dir: string;
  nftPath: string;
  level: number;
}

/** Where the cgroup of a block goes, or why it cannot (then the user is matched instead). */
function cgroupPlan(name: string): CgroupPlan | string {
  const mount = cgroupV2Mount();
  if (!mount) return 'no cgroup v2 hierarchy is mounted';
  const rel = relative(NFT_CGROUP_ROOT, mount);
  if (rel.startsWith('..'))
    return `the cgroup v2 mount ${mount} is outside ${NFT_CGROUP_ROOT}, where nft resolves cgroup paths`;
  return { mount, dir: join(mount, 'vigil', name), nftPath: join(rel, 'vigil', name), level: 2 };
}

const blockName = (id: ProcessIdentity) => `b-${shortHash(`${id.pid}:${id.startTicks}`, 16)}`;
const ruleComment = (name: string) => `vigil:${name}`;

function chainsScript(): string[] {
  return [
    `add table inet ${BLOCK_TABLE}`,
    `add chain inet ${BLOCK_TABLE} output { type filter hook output priority 0; policy accept; }`,
    `add chain inet ${BLOCK_TABLE} input { type filter hook input priority 0; policy accept; }`,
  ];
}

function socketRules(socks: ReturnType<typeof socketsOf>, comment: string): string[] {
  const lines: string[] = [];
  for (const s of socks) {
    if (s.proto === 'tcp' && s.state === '0A') {
      lines.push(
        `add rule inet ${BLOCK_TABLE} input tcp dport ${s.localPort} ct state new counter drop comment "${comment}"`,
      );
    } else if (s.proto === 'udp') {
      lines.push(
        `add rule inet ${BLOCK_TABLE} output udp sport ${s.localPort} counter drop comment "${comment}"`,
      );
      lines.push(
        `add rule inet ${BLOCK_TABLE} input udp dport ${s.localPort} counter drop comment "${comment}"`,
      );
    }
  }
  return [...new Set(lines)];
}

interface BlockFacts {
  mode: 'cgroup' | 'uid';
  name: string;
  comment: string;
  root: ProcessIdentity;
  pids: number[];
  uid?: number;
  cgroupDir?: string;
  nftPath?: string;
  level?: number;
  cgroupMount?: string;
  origCgroups?: Record<string, string>;
  fallbackReason?: string;
}

function moveTo(dir: string, pid: number): void {
  writeFileSync(join(dir, 'cgroup.procs'), `${pid}\n`);
}

async function verifyBlock(facts: BlockFacts, ctx: ActionContext) {
  const { rules } = await listRules(ctx.run, BLOCK_TABLE);
  const ours = rules.filter((r) => r.comment === facts.comment);
  if (facts.mode === 'uid') {
    const ok = ours.some(
      (r) => r.chain === 'output' && r.text.startsWith(`meta skuid ${facts.uid} `) && r.text.includes('drop'),
    );
    return {
      ok,
      saw: ok
        ? `inet ${BLOCK_TABLE} output: ${ours.map((r) => r.text).join('; ')}`
        : `no skuid rule "${facts.comment}"`,
    };
  }
  const match = `socket cgroupv2 level ${facts.level} "${facts.nftPath}"`;
  const out = ours.find((r) => r.chain === 'output' && r.text.startsWith(match) && r.text.includes('drop'));
  const inn = ours.find((r) => r.chain === 'input' && r.text.startsWith(match) && r.text.includes('drop'));
  const cg = `/${relative(facts.cgroupMount ?? '', facts.cgroupDir ?? '')}`;
  const stray = facts.pids.filter((pid) => {
    const now = cgroupV2Of(pid);
    return now !== undefined && now !== cg;
  });
  const ok = !!out && !!inn && stray.length === 0;
  return {
    ok,
    saw: ok
      ? `inet ${BLOCK_TABLE}: ${out.text} (output, input); pids ${facts.pids.join(', ')} in cgroup ${cg}`
      : `rules ${out ? 'output' : ''}${inn ? ' input' : ''} present; pids outside ${cg}: ${stray.join(', ') || 'none'}`,
  };
}

export const blockProcessNetwork: LocalAction<ProcessTarget> = {
  action: 'block-process-network',
  meta: {
    summary: 'cut one process (and its children) off the network',
    blastRadius: 'low',
    undo: 'unblock-process-network',
    outlivesReboot: false,
  },
  params: ProcessTarget,
  apply: op({
    async precheck(p, ctx) {
      const id = resolveProcess(p, ctx.config);
      // Its descendants move with it: none of them may be protected (e.g. a Temporal server it started).
      checkTree(id, ctx.config);
      sameNetns(id.pid, ctx);
      return id;
    },
    async plan(_p, id, ctx) {
      const name = blockName(id);
      const cg =
        ctx.config.VIGIL_AGENT_BLOCK_MODE === 'uid' ? 'VIGIL_AGENT_BLOCK_MODE=uid' : cgroupPlan(name);
      const socks = socketsOf([id.pid, ...descendants(id.pid).map((d) => d.pid)]);
      return [
        typeof cg === 'string'
          ? `match its user: nft add rule inet ${BLOCK_TABLE} output meta skuid ${uids(id.pid)?.effective} drop (${cg})`
          : `move pid ${id.pid} and its descendants into cgroup ${cg.dir}; nft: socket cgroupv2 level ${cg.level} "${cg.nftPath}" drop (input, output)`,
        `existing sockets: ${socks.length ? socks.map((s) => `${s.proto} ${s.local}:${s.localPort}${s.state === '0A' ? ' listen' : ''}`).join(', ') : 'none'}`,
        'abort established TCP connections (ss -K); drop listening/UDP ports it holds',
        `verify with nft -a list table inet ${BLOCK_TABLE}`,
      ];
    },
    async run(_p, target, ctx) {
      const id = target;
      const name = blockName(id);
      const comment = ruleComment(name);
      const pids = [id.pid, ...descendants(id.pid).map((d) => d.pid)];
      const socks = socketsOf(pids);
      const subject = `block:${id.pid}`;
      let facts: BlockFacts | undefined;
      const mode = ctx.config.VIGIL_AGENT_BLOCK_MODE;
      const cg = mode === 'uid' ? 'VIGIL_AGENT_BLOCK_MODE=uid' : cgroupPlan(name);
      let fallbackReason = typeof cg === 'string' ? cg : undefined;
      if (typeof cg !== 'string') {
        const origCgroups = Object.fromEntries(pids.map((pid) => [String(pid), cgroupV2Of(pid) ?? '/']));
        facts = {
          mode: 'cgroup',
          name,
          comment,
          root: id,
          pids,
          cgroupDir: cg.dir,
          nftPath: cg.nftPath,
          level: cg.level,
          cgroupMount: cg.mount,
          origCgroups,
        };
        ctx.journal({ ...facts });
        ctx.store.putEffect(subject, 'block-process-network', ctx.key, { ...facts });
        try {
          mkdirSync(cg.dir, { recursive: true });
          for (const pid of pids) moveTo(cg.dir, pid);
        } catch (e) {
          if (mode === 'cgroup') {
            throw failure(
              ErrorType.Misconfigured,
              `cannot move pid ${id.pid} into ${cg.dir}: ${(e as Error).message}`,
            );
          }
          fallbackReason = `cgroup v2 move refused: ${(e as Error).message}`;
          for (const pid of pids) {
            try {
              moveTo(join(cg.mount, origCgroups[String(pid)] ?? '/'), pid);
            } catch {
              // the process may have exited
            }
          }
          try {
            rmdirSync(cg.dir);
          } catch {
            // not empty or gone: the unblock cleans it
          }
          facts = undefined;
        }
      }
      if (!facts) {
        const uid = uids(id.pid)?.effective;
        if (uid === undefined) throw failure(ErrorType.NotFound, `process ${id.pid} exited`);
        if (uid === 0) {
          throw failure(
            ErrorType.Forbidden,
            `refused: the cgroup match is unavailable (${fallbackReason}) and matching the process's user would cut every root process, the agent included`,
          );
        }
        facts = {
          mode: 'uid',
          name,
          comment,
          root: id,
          pids,
          uid,
          ...(fallbackReason ? { fallbackReason } : {}),
        };
        ctx.journal({ ...facts });
        ctx.store.putEffect(subject, 'block-process-network', ctx.key, { ...facts });
      }
      const match =
        facts.mode === 'cgroup'
          ? `socket cgroupv2 level ${facts.level} "${facts.nftPath}"`
          : `meta skuid ${facts.uid}`;
      const script = [
        ...chainsScript(),
        `add rule inet ${BLOCK_TABLE} output ${match} counter drop comment "${comment}"`,
        ...(facts.mode === 'cgroup'
          ? [`add rule inet ${BLOCK_TABLE} input ${match} counter drop comment "${comment}"`]
          : []),
        ...(facts.mode === 'cgroup' ? socketRules(socks, comment) : []),
      ];
      // A retry must not add the rules twice.
      const { rules } = await listRules(ctx.run, BLOCK_TABLE);
      if (!rules.some((r) => r.comment === comment)) await nftApply(ctx.run, script.join('\n'));
      const aborted = facts.mode === 'cgroup' ? await abortConnections(ctx.run, socks) : [];
      return {
        ...facts,
        aborted,
        portRules: facts.mode === 'cgroup' ? socketRules(socks, comment).length : 0,
      };
    },
    async verify(_p, facts, ctx) {
      if (!facts.comment) return { ok: false, saw: 'no block recorded' };
      return verifyBlock(facts as unknown as BlockFacts, ctx);
    },
  }),
  undo: op({
    async precheck(p, ctx) {
      const eff = ctx.store.activeEffect(`block:${p.pid}`);
      if (!eff)
        throw failure(ErrorType.NotFound, `no network block of pid ${p.pid} is recorded`, { pid: p.pid });
      return eff.facts as unknown as BlockFacts;
    },
    async plan(_p, f) {
      const facts = f;
      return [
        `delete the rules commented "${facts.comment}" from inet ${BLOCK_TABLE}`,
        ...(facts.mode === 'cgroup'
          ? [`move every process in ${facts.cgroupDir} back to its cgroup; remove ${facts.cgroupDir}`]
          : []),
      ];
    },
    async run(_p, f, ctx) {
      const facts = f;
      ctx.journal({ ...facts });
      const { rules } = await listRules(ctx.run, BLOCK_TABLE);
      const ours = rules.filter((r) => r.comment === facts.comment);
      if (ours.length) {
        await nftApply(
          ctx.run,
          ours.map((r) => `delete rule inet ${BLOCK_TABLE} ${r.chain} handle ${r.handle}`).join('\n'),
        );
      }
      const moved: number[] = [];
      if (facts.mode === 'cgroup' && facts.cgroupDir && existsSync(facts.cgroupDir)) {
        const mount = facts.cgroupMount ?? '/';
        const rootOrig = facts.origCgroups?.[String(facts.root.pid)] ?? '/';
        const procsIn = () =>
          readFileSync(join(facts.cgroupDir!, 'cgroup.procs'), 'utf8')
            .split('\n')
            .filter(Boolean)
            .map(Number);
        // Repeat: a process may fork into the cgroup while we empty it.
        for (let round = 0, inside = procsIn(); inside.length && round < 20; round++, inside = procsIn()) {
          for (const pid of inside) {
            const orig = facts.origCgroups?.[String(pid)] ?? rootOrig;
            const dest = existsSync(join(mount, orig)) ? join(mount, orig) : mount;
            try {
              moveTo(dest, pid);
            } catch {
              moveTo(mount, pid);
            }
            moved.push(pid);
          }
        }
        rmdirSync(facts.cgroupDir);
        try {
          // The shared parent goes when no other block uses it.
          rmdirSync(join(facts.cgroupDir, '..'));
        } catch {
          // other blocks are active
        }
      }
      return { ...facts, deletedRules: ours.length, movedBack: moved };
    },
    async verify(_p, f, ctx) {
      const facts = f as unknown as BlockFacts;
      const { rules } = await listRules(ctx.run, BLOCK_TABLE);
      const left = rules.filter((r) => r.comment === facts.comment);
      const cgLeft = facts.mode === 'cgroup' && !!facts.cgroupDir && existsSync(facts.cgroupDir);
      return {
        ok: left.length === 0 && !cgLeft,
        saw: `${left.length} rule(s) "${facts.comment}" left in inet ${BLOCK_TABLE}${cgLeft ? `; ${facts.cgroupDir} still exists` : ''}`,
      };
    },
    async settle(p, _f, ctx) {
      ctx.store.endEffect(`block:${p.pid}`);
    },
  }),
};

// ---------------------------------------------------------------------------------------------- isolate

const IsolateParams = HostTarget.extend({
  allow: z
    .array(z.string().refine(isAddressOrCidr, 'expected an IP address or CIDR block'))
    .max(64)
    .optional(),
});

interface IsolationPlan {
  allow4: string[];
  allow6: string[];
  script: string;
  sources: Record<string, string[]>;
}

async function isolationPlan(p: z.infer<typeof IsolateParams>, ctx: ActionContext): Promise<IsolationPlan> {
  const temporalHost = ctx.config.TEMPORAL_ADDRESS.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  let temporal: string[];
  if (isIP(temporalHost)) temporal = [temporalHost];
  else {
    try {
      temporal = (await lookup(temporalHost, { all: true })).map((a) => a.address);
    } catch (e) {
      // Never isolate without knowing how to reach the Temporal server: the host could not be released.
      throw failure(
        ErrorType.Unavailable,
        `cannot resolve TEMPORAL_ADDRESS host ${temporalHost}: ${(e as Error).message}`,
      );
    }
  }
  const sources = { temporal, mgmt: ctx.config.VIGIL_AGENT_MGMT_ALLOW, request: p.allow ?? [] };
  const all = [...new Set([...sources.temporal, ...sources.mgmt, ...sources.request])];
  const allow4 = all.filter((a) => isIP(a.split('/')[0] ?? '') === 4);
  const allow6 = all.filter((a) => isIP(a.split('/')[0] ?? '') === 6);
  const T = ISOLATE_TABLE;
  const set = (name: string, type: string, els: string[]) =>
    `  set ${name} { type ${type}; flags interval; auto-merge;${els.length ? ` elements = { ${els.join(', ')} }` : ''} }`;
  const script = [
    // Replace the table atomically: add (so delete cannot fail), delete, define.
    `add table inet ${T}`,
    `delete table inet ${T}`,
    `table inet ${T} {`,
    set('allow4', 'ipv4_addr', allow4),
    set('allow6', 'ipv6_addr', allow6),
    '  chain input {',
    '    type filter hook input priority -10; policy drop;',
    '    iif "lo" accept',
    '    ip saddr @allow4 accept',
    '    ip6 saddr @allow6 accept',
    '    icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-advert } accept',
    '    counter comment "vigil isolation: dropped in"',
    '  }',
    '  chain output {',
    '    type filter hook output priority -10; policy drop;',
    '    oif "lo" accept',
    '    ip daddr @allow4 accept',
    '    ip6 daddr @allow6 accept',
    '    icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-solicit } accept',
    '    counter comment "vigil isolation: dropped out"',
    '  }',
    '  chain forward {',
    '    type filter hook forward priority -10; policy drop;',
    '    counter comment "vigil isolation: dropped forward"',
    '  }',
    '}',
  ].join('\n');
  return { allow4, allow6, script, sources };
}

interface NftJson {
  nftables: { chain?: { name: string; hook?: string; policy?: string } }[];
}

async function verifyIsolation(allow: string[], ctx: ActionContext) {
  const r = await ctx.run.net('nft', ['-j', 'list', 'table', 'inet', ISOLATE_TABLE], { allowFail: true });
  if (r.code !== 0) return { ok: false, saw: `table inet ${ISOLATE_TABLE} absent` };
  const chains = (JSON.parse(r.stdout) as NftJson).nftables.flatMap((o) => (o.chain ? [o.chain] : []));
  const dropping = ['input', 'output', 'forward'].filter((h) =>
    chains.some((c) => c.hook === h && c.policy === 'drop'),
  );
  if (dropping.length !== 3)
    return { ok: false, saw: `hooks with policy drop: ${dropping.join(', ') || 'none'}` };
  const missing: string[] = [];
  for (const a of allow) {
    const set = isIP(a.split('/')[0] ?? '') === 4 ? 'allow4' : 'allow6';
    const g = await ctx.run.net('nft', ['get', 'element', 'inet', ISOLATE_TABLE, set, `{ ${a} }`], {
      allowFail: true,
    });
    if (g.code !== 0) missing.push(a);
  }
  return missing.length
    ? { ok: false, saw: `allowlist lacks ${missing.join(', ')}` }
    : {
        ok: true,
        saw: `inet ${ISOLATE_TABLE}: input, output, forward policy drop; allowed ${allow.join(', ') || 'loopback only'}`,
      };
}

export const isolateHost: LocalAction<z.infer<typeof IsolateParams>> = {
  action: 'isolate-host',
  meta: {
    summary: 'drop all traffic but loopback and the management allowlist',
    blastRadius: 'high',
    undo: 'release-host',
    outlivesReboot: false,
  },
  params: IsolateParams,
  forcedDryRun: (config) =>
    config.VIGIL_AGENT_ISOLATION === 'enforce'
      ? undefined
      : 'VIGIL_AGENT_ISOLATION is dry-run: the ruleset was checked (nft -c), not loaded',
  apply: op({
    async precheck(p, ctx) {
      const plan = await isolationPlan(p, ctx);
      // The kernel checks the whole ruleset without committing it.
      await nftApply(ctx.run, plan.script, true);
      return plan;
    },
    async plan(_p, pl, ctx) {
      const plan = pl;
      return [
        `load table inet ${ISOLATE_TABLE}${ctx.config.VIGIL_AGENT_NETNS ? ` in netns ${ctx.config.VIGIL_AGENT_NETNS}` : ''}: drop input, output and forward except loopback and IPv6 neighbour discovery`,
        `allow ${[...plan.allow4, ...plan.allow6].join(', ') || 'nothing else'} (Temporal ${plan.sources.temporal?.join(', ')})`,
        ...plan.script.split('\n').map((l) => `nft: ${l}`),
      ];
    },
    async run(_p, pl, ctx) {
      const plan = pl;
      ctx.journal({ allow: [...plan.allow4, ...plan.allow6] });
      ctx.store.putEffect('host', 'isolate-host', ctx.key, { allow: [...plan.allow4, ...plan.allow6] });
      await nftApply(ctx.run, plan.script);
      return {
        table: `inet ${ISOLATE_TABLE}`,
        allow: [...plan.allow4, ...plan.allow6],
        sources: plan.sources,
      };
    },
    async verify(_p, facts, ctx) {
      return verifyIsolation((facts.allow as string[] | undefined) ?? [], ctx);
    },
  }),
  undo: op({
    async precheck() {
      return undefined;
    },
    async plan() {
      return [`delete table inet ${ISOLATE_TABLE}`];
    },
    async run(_p, _t, ctx) {
      ctx.journal({ release: true });
      const existed = await tableExists(ctx.run, ISOLATE_TABLE);
      await nftApply(ctx.run, `add table inet ${ISOLATE_TABLE}\ndelete table inet ${ISOLATE_TABLE}`);
      return { table: `inet ${ISOLATE_TABLE}`, existed };
    },
    async verify(_p, _f, ctx) {
      const there = await tableExists(ctx.run, ISOLATE_TABLE);
      return {
        ok: !there,
        saw: there ? `table inet ${ISOLATE_TABLE} still loaded` : `table inet ${ISOLATE_TABLE} absent`,
      };
    },
    async settle(_p, _f, ctx) {
      ctx.store.endEffect('host');
    },
  }),
};
