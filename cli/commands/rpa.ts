/**
 * `vigil rpa`: bots and their jobs. Bots are created through the intake's admin API (the token is shown
 * once and stored hashed); `dispatch` hands one job to a queue as an operator would (the rpaJob workflow)
 * and waits for its outcome; `jobs` lists a queue's jobs (no task tokens).
 */
import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { checkRpaInput, RpaJobType, RpaQueueName } from '../../src/contracts/rpa.js';
import { RPA_JOB_WORKFLOW, type RpaJobView } from '../../src/contracts/rpa-queue.js';
import { codecFromEnv, dataConverterFor } from '../../src/codec/config.js';
import type { RpaJobRequest } from '../../playbooks/rpa-job.js';
import { printJson, table, UsageError } from '../output.js';
import { readStack } from '../state.js';

const USAGE = `vigil rpa bot add <name> --queues q1,q2 | bot list | bot disable <name>
vigil rpa jobs <queue> [--json]
vigil rpa dispatch <queue> <job type> '<input JSON>' [--deadline 10m] [--json]`;

async function admin(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown) {
  const { state, creds } = readStack();
  const res = await fetch(`${state.intake.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${creds.adminToken}`,
      ...(body ? { 'content-type': 'application/json' } : {}),
    },
    body: body ? JSON.stringify(body) : undefined,
    signal: AbortSignal.timeout(15_000),
  });
  return { status: res.status, json: (await res.json().catch(() => ({}))) as Record<string, unknown> };
}

export async function rpa(opts: {
  args: string[];
  queues?: string;
  deadline?: string;
  json: boolean;
}): Promise<number> {
  const [what, action, ...rest] = opts.args;
  if (what === 'bot') return bot(action, rest[0], opts);
  if (what === 'jobs') return jobs(action, opts.json);
  if (what === 'dispatch') return dispatch(action, rest[0], rest[1], opts);
  throw new UsageError(USAGE);
}

async function bot(
  action: string | undefined,
  name: string | undefined,
  opts: { queues?: string; json: boolean },
) {
  switch (action ?? 'list') {
    case 'list': {
      const { status, json } = await admin('GET', '/v1/admin/rpa/bots');
      if (status !== 200) throw new UsageError(`could not list bots (HTTP ${status})`);
      const bots = (json.bots ?? []) as {
        name: string;
        queues: string[];
        createdAt: string;
        disabled: boolean;
      }[];
      if (opts.json) return (printJson(bots), 0);
      process.stdout.write(
        `${table(
          bots.map((b) => ({
            name: b.name,
            queues: b.queues.join(','),
            created: b.createdAt,
            disabled: String(b.disabled),
          })),
          ['name', 'queues', 'created', 'disabled'],
        )}\n`,
      );
      return 0;
    }
    case 'add': {
      if (!name || !opts.queues) throw new UsageError('vigil rpa bot add <name> --queues q1,q2');
      const queues = opts.queues
        .split(',')
        .map((q) => q.trim())
        .filter(Boolean);
      const { status, json } = await admin('POST', '/v1/admin/rpa/bots', { name, queues });
      if (status !== 200)
        throw new UsageError(`not created (HTTP ${status}): ${JSON.stringify(json.issues ?? json.error)}`);
      if (opts.json) return (printJson(json), 0);
      process.stdout.write(
        `bot ${name} may work on ${queues.join(', ')}. Token (shown once; give it to the bot as VIGIL_RPA_TOKEN):\n${String(json.token)}\n`,
      );
      return 0;
    }
    case 'disable': {
      if (!name) throw new UsageError('vigil rpa bot disable <name>');
      const { status } = await admin('DELETE', `/v1/admin/rpa/bots/${encodeURIComponent(name)}`);
      process.stdout.write(status === 200 ? `disabled ${name}\n` : `no bot ${name}\n`);
      return status === 200 ? 0 : 1;
    }
    default:
      throw new UsageError(USAGE);
  }
}

async function jobs(queue: string | undefined, json: boolean) {
  if (!queue) throw new UsageError('vigil rpa jobs <queue> [--json]');
  const { status, json: body } = await admin('GET', `/v1/admin/rpa/queues/${encodeURIComponent(queue)}/jobs`);
  if (status !== 200) throw new UsageError(`could not read queue ${queue} (HTTP ${status})`);
  const list = (body.jobs ?? []) as RpaJobView[];
  if (json) return (printJson(list), 0);
  process.stdout.write(
    `${table(
      list.map((j) => ({
        job: j.jobId,
        type: j.jobType,
        state: j.state,
        bot: j.lease?.bot ?? (j.outcome && 'bot' in j.outcome ? j.outcome.bot : undefined) ?? '',
        claims: `${j.claims}/${j.maxClaims}`,
        deadline: j.deadline,
        last: j.trail.at(-1)?.what ?? '',
      })),
      ['job', 'type', 'state', 'bot', 'claims', 'deadline', 'last'],
    )}\n`,
  );
  return 0;
}

async function dispatch(
  queue: string | undefined,
  jobType: string | undefined,
  inputText: string | undefined,
  opts: { deadline?: string; json: boolean },
) {
  if (!queue || !jobType || !inputText) throw new UsageError(USAGE);
  if (!RpaQueueName.safeParse(queue).success) throw new UsageError(`"${queue}" is not a queue name`);
  const type = RpaJobType.safeParse(jobType);
  if (!type.success) throw new UsageError(`job type: one of ${RpaJobType.options.join(', ')}`);
  let input: unknown;
  try {
    input = JSON.parse(inputText);
  } catch {
    throw new UsageError('the input must be JSON, e.g. \'{"path":"/etc/hostname"}\'');
  }
  const checked = checkRpaInput(type.data, input);
  if (!checked.ok) throw new UsageError(`invalid input:\n  ${checked.issues.join('\n  ')}`);
  const { state, creds } = readStack();
  const connection = await Connection.connect({ address: state.temporal.address, connectTimeout: 5000 });
  const codec = codecFromEnv({
    VIGIL_PAYLOAD_KEYS: process.env.VIGIL_PAYLOAD_KEYS ?? creds.payloadKeys,
    VIGIL_PAYLOAD_KEY_ID: process.env.VIGIL_PAYLOAD_KEY_ID,
  });
  try {
    const client = new Client({
      connection,
      namespace: state.temporal.namespace,
      dataConverter: dataConverterFor(codec),
    });
    const req: RpaJobRequest = {
      queue,
      jobType: type.data,
      input: checked.value,
      deadline: opts.deadline ?? '10m',
    };
    const wf = await client.workflow.start(RPA_JOB_WORKFLOW, {
      taskQueue: state.taskQueue,
      workflowId: `rpa-job-${randomUUID()}`,
      args: [req],
    });
    if (!opts.json)
      process.stderr.write(`handed to queue ${queue} (workflow ${wf.workflowId}); waiting for a bot...\n`);
    const outcome = (await wf.result()) as { status: string };
    if (opts.json) printJson({ workflowId: wf.workflowId, ...outcome });
    else process.stdout.write(`${JSON.stringify(outcome, null, 2)}\n`);
    return outcome.status === 'completed' ? 0 : 1;
  } finally {
    await connection.close();
  }
}
