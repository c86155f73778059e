/** Endpoint agents for tests: in this process (fast) or as a child process (to kill -9 it). */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inject } from 'vitest';
import { spawnEntry } from './process.js';
import { loadAgentConfig, startAgent } from '../../workers/agent.js';

export function agentEnv(host: string, playbookQueue: string, extra: Record<string, string> = {}) {
  return {
    TEMPORAL_ADDRESS: inject('temporalAddress'),
    TEMPORAL_NAMESPACE: inject('temporalNamespace'),
    VIGIL_TASK_QUEUE: playbookQueue,
    VIGIL_AGENT_HOST: host,
    VIGIL_AGENT_STATE_DIR: mkdtempSync(join(tmpdir(), 'vigil-agent-')),
    VIGIL_AGENT_ALLOWED_ROOTS: tmpdir(),
    ...extra,
  };
}

export async function startTestAgent(env: Record<string, string>) {
  const agent = await startAgent(loadAgentConfig(env));
  const running = agent.worker.run();
  return {
    agent,
    stop: async () => {
      if (agent.worker.getState() === 'RUNNING') agent.worker.shutdown();
      await running;
      await agent.close();
    },
  };
}

/** The agent as its own process; resolves once it polls its task queue. */
export const spawnAgent = (env: Record<string, string>, children: ChildProcess[]) =>
  spawnEntry('workers/agent', env, children);

/** The one-letter state of a process (R, S, T, Z...) from /proc, or undefined when it is gone. */
export function procState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
  } catch {
    return undefined;
  }
}

export async function until<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, ms = 20_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
