/**
 * Process (benchmark baseline only): the bare equivalent of the endpoint agent. An activity-only Temporal
 * worker on one host's own task queue (BENCH_BARE_AGENT_QUEUE) with one activity, `bareSuspend(pid)`:
 * SIGSTOP, then wait (at most 1 s) for /proc/<pid>/stat to show state T, and answer the time of the effect
 * (ISO, like ResponseResult.at). No pid/start-time/executable check, no journal, no idempotency key, no kill
 * switch: only what Temporal itself needs to carry one action to one host.
 */
import { readFileSync } from 'node:fs';
import { NativeConnection, Worker } from '@temporalio/worker';

function state(pid: number): string | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return s.slice(s.lastIndexOf(')') + 2).split(' ')[0];
  } catch {
    return undefined;
  }
}

const activities = {
  async bareSuspend(pid: number): Promise<string> {
    if (!Number.isInteger(pid) || pid <= 1) throw new Error(`refusing pid ${pid}`);
    process.kill(pid, 'SIGSTOP');
    for (let i = 0; i < 1000 && state(pid) !== 'T'; i++) await new Promise((r) => setTimeout(r, 1));
    if (state(pid) !== 'T') throw new Error(`pid ${pid} is not stopped (state ${state(pid) ?? 'gone'})`);
    return new Date().toISOString();
  },
};

const address = process.env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233';
const taskQueue = process.env.BENCH_BARE_AGENT_QUEUE;
if (!taskQueue) throw new Error('BENCH_BARE_AGENT_QUEUE is not set');
const connection = await NativeConnection.connect({ address });
const worker = await Worker.create({
  connection,
  namespace: process.env.TEMPORAL_NAMESPACE ?? 'default',
  taskQueue,
  activities,
  maxConcurrentActivityTaskExecutions: 4,
  shutdownGraceTime: '10s',
});
process.stderr.write(`bare-agent: polling ${taskQueue}\n`);
await worker.run();
await connection.close();
