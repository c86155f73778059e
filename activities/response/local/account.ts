/**
 * lock-local-account (undo: unlock). Locks the password (usermod -L), expires the account (chage -E 1,
 * i.e. 1970-01-02) and ends its sessions (loginctl terminate-user where systemd-logind runs, then
 * SIGKILL every process whose real or effective uid is the account's, until none is left). The
 * previous lock state and expiry are recorded first, so the unlock reverses exactly what was done:
 * an account that was already locked stays locked.
 */
import { existsSync, readFileSync } from 'node:fs';
import { AccountTarget } from '../../../src/contracts/response-schemas.js';
import { ErrorType } from '../../../src/errors.js';
import { failure } from '../../lib/failures.js';
import { listProcesses, uids } from './procfs.js';
import { op, type ActionContext, type LocalAction } from './types.js';

interface Account {
  name: string;
  uid: number;
}

interface LockFacts {
  account: string;
  uid: number;
  wasLocked: boolean;
  /** /etc/shadow field 8 before the lock: days since 1970-01-01, or '' for never. */
  previousExpire: string;
}

function passwdEntry(name: string): Account | undefined {
  for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
    const f = line.split(':');
    if (f[0] === name && f[2] !== undefined) return { name, uid: Number(f[2]) };
  }
  return undefined;
}

/**
 * The kernel's overflow uid (`nobody`, 65534 by default) and the two "no uid" values: system identities
 * that sit above any VIGIL_AGENT_MIN_UID, shared by daemons that drop their privileges to them.
 */
function reservedUids(): number[] {
  let overflow = 65534;
  try {
    overflow = Number(readFileSync('/proc/sys/kernel/overflowuid', 'utf8').trim()) || overflow;
  } catch {
    // keep the default
  }
  return [overflow, 65534, 65535, 4294967295];
}

function shadowEntry(name: string): { password: string; expire: string } | undefined {
  for (const line of readFileSync('/etc/shadow', 'utf8').split('\n')) {
    const f = line.split(':');
    if (f[0] === name) return { password: f[1] ?? '', expire: f[7] ?? '' };
  }
  return undefined;
}

function processesOf(uid: number): number[] {
  return listProcesses()
    .filter((p) => p.state !== 'Z' && p.pid !== process.pid)
    .filter((p) => {
      const u = uids(p.pid);
      return u !== undefined && (u.real === uid || u.effective === uid);
    })
    .map((p) => p.pid);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function resolveAccount(p: AccountTarget, ctx: ActionContext): Account {
  const acc = passwdEntry(p.account);
  if (!acc) throw failure(ErrorType.NotFound, `no local account ${p.account}`, { account: p.account });
  if (acc.uid === 0 || p.account === 'root') {
    throw failure(ErrorType.Forbidden, `refused: ${p.account} is root`, { account: p.account });
  }
  if (acc.uid < ctx.config.VIGIL_AGENT_MIN_UID) {
    throw failure(
      ErrorType.Forbidden,
      `refused: ${p.account} (uid ${acc.uid}) is a system account (below VIGIL_AGENT_MIN_UID=${ctx.config.VIGIL_AGENT_MIN_UID})`,
      { account: p.account, uid: acc.uid },
    );
  }
  if (reservedUids().includes(acc.uid)) {
    throw failure(
      ErrorType.Forbidden,
      `refused: ${p.account} (uid ${acc.uid}) is the overflow uid (nobody), a system account`,
      { account: p.account, uid: acc.uid },
    );
  }
  if (ctx.config.VIGIL_AGENT_PROTECTED.includes(p.account)) {
    throw failure(ErrorType.Forbidden, `refused: ${p.account} is protected by VIGIL_AGENT_PROTECTED`, {
      account: p.account,
    });
  }
  if (acc.uid === process.getuid?.()) {
    throw failure(ErrorType.Forbidden, `refused: ${p.account} runs the responder`, { account: p.account });
  }
  if (!shadowEntry(p.account)) throw failure(ErrorType.NotFound, `${p.account} has no /etc/shadow entry`);
  return acc;
}

async function endSessions(acc: Account, ctx: ActionContext): Promise<{ loginctl: boolean; killed: number }> {
  let loginctl = false;
  if (existsSync('/run/systemd/system')) {
    const r = await ctx.run.run('loginctl', ['terminate-user', acc.name], { allowFail: true });
    loginctl = r.code === 0;
  }
  let killed = 0;
  for (let round = 0; round < 100; round++) {
    const left = processesOf(acc.uid);
    if (!left.length) break;
    killed = Math.max(killed, left.length);
    await ctx.run.run('pkill', ['-KILL', '-U', String(acc.uid)], { allowFail: true });
    await ctx.run.run('pkill', ['-KILL', '-u', String(acc.uid)], { allowFail: true });
    await sleep(20);
  }
  return { loginctl, killed };
}

export const lockLocalAccount: LocalAction<AccountTarget> = {
  action: 'lock-local-account',
  meta: {
    summary: 'lock and expire a local account, end its sessions',
    blastRadius: 'high',
    undo: 'unlock-local-account',
    outlivesReboot: true,
  },
  params: AccountTarget,
  apply: op({
    async precheck(p, ctx) {
      return resolveAccount(p, ctx);
    },
    async plan(_p, a) {
      const acc = a;
      return [
        `usermod -L ${acc.name} (shadow password prefixed with !)`,
        `chage -E 1 ${acc.name} (account expired 1970-01-02)`,
        `end its sessions: loginctl terminate-user (if logind runs), pkill -KILL -U/-u ${acc.uid} until none is left`,
      ];
    },
    async run(_p, a, ctx) {
      const acc = a;
      const subject = `account:${acc.name}`;
      // A second lock (another key) must not overwrite what the first one found.
      const earlier = ctx.store.activeEffect(subject)?.facts as LockFacts | undefined;
      const sh = shadowEntry(acc.name)!;
      const facts: LockFacts = earlier ?? {
        account: acc.name,
        uid: acc.uid,
        wasLocked: sh.password.startsWith('!'),
        previousExpire: sh.expire,
      };
      ctx.journal({ ...facts });
      ctx.store.putEffect(subject, 'lock-local-account', ctx.key, { ...facts });
      if (!sh.password.startsWith('!')) await ctx.run.run('usermod', ['-L', acc.name]);
      if (sh.expire !== '1') await ctx.run.run('chage', ['-E', '1', acc.name]);
      const sessions = await endSessions(acc, ctx);
      return { ...facts, ...sessions };
    },
    async verify(p, facts) {
      const uid = Number(facts.uid);
      const sh = shadowEntry(p.account);
      const left = processesOf(uid);
      const ok = !!sh && sh.password.startsWith('!') && sh.expire === '1' && left.length === 0;
      return {
        ok,
        saw: `/etc/shadow ${p.account}: password ${sh?.password.startsWith('!') ? 'locked (!)' : 'NOT locked'}, expire ${sh?.expire || 'never'}; ${left.length} process(es) of uid ${uid}`,
      };
    },
  }),
  undo: op({
    async precheck(p, ctx) {
      resolveAccount(p, ctx);
      const eff = ctx.store.activeEffect(`account:${p.account}`);
      if (!eff)
        throw failure(ErrorType.NotFound, `no lock of ${p.account} by the agent is recorded`, {
          account: p.account,
        });
      return eff.facts as unknown as LockFacts;
    },
    async plan(_p, f) {
      const facts = f;
      return [
        facts.wasLocked ? `keep the password locked (it was locked before)` : `usermod -U ${facts.account}`,
        `chage -E ${facts.previousExpire || '-1'} ${facts.account} (the expiry before the lock)`,
      ];
    },
    async run(_p, f, ctx) {
      const facts = f;
      ctx.journal({ ...facts });
      const sh = shadowEntry(facts.account)!;
      if (!facts.wasLocked && sh.password.startsWith('!'))
        await ctx.run.run('usermod', ['-U', facts.account]);
      await ctx.run.run('chage', ['-E', facts.previousExpire || '-1', facts.account]);
      return { ...facts };
    },
    async verify(p, f) {
      const facts = f as unknown as LockFacts;
      const sh = shadowEntry(p.account);
      const ok =
        !!sh && sh.password.startsWith('!') === facts.wasLocked && sh.expire === facts.previousExpire;
      return {
        ok,
        saw: `/etc/shadow ${p.account}: password ${sh?.password.startsWith('!') ? 'locked' : 'unlocked'}, expire ${sh?.expire || 'never'}`,
      };
    },
    async settle(p, _f, ctx) {
      ctx.store.endEffect(`account:${p.account}`);
    },
  }),
};
