// A reference RPA bot for Vigil's bot API: Node >= 20, nothing beyond Node itself (it does not import
// Vigil's code; it speaks the HTTP API like any bot would). `npm run build` puts it at
// dist/examples/rpa-bot/bot.js.
//
// It claims `collect-evidence` jobs of one queue, hashes the named file and reports its metadata,
// heartbeating while it works. Read-only and harmless: it never sends file contents, only a sha256 and
// metadata, and it refuses anything that is not a regular file, a symlink, or a path outside --allow.
//
//   VIGIL_RPA_URL=http://127.0.0.1:8088 VIGIL_RPA_TOKEN=vbot_... node dist/examples/rpa-bot/bot.js --queue evidence
//
// Every event is one JSON line on stdout (started, claimed, heartbeat, completed, failed, lost, refused, stopped).
import { createHash } from 'node:crypto';
import { constants as fsc } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';

const { values: opt } = parseArgs({
  options: {
    queue: { type: 'string' },
    lease: { type: 'string', default: '60' },
    poll: { type: 'string', default: '2000' },
    allow: { type: 'string', default: process.env.VIGIL_RPA_ALLOW ?? '/' },
    once: { type: 'boolean', default: false },
    // Testing aid: keep the job this long before reporting (a slow UI automation), heartbeating meanwhile.
    hold: { type: 'string', default: '0' },
  },
});
const BASE = (process.env.VIGIL_RPA_URL ?? 'http://127.0.0.1:8088').replace(/\/+$/, '');
const TOKEN = process.env.VIGIL_RPA_TOKEN ?? '';
if (!opt.queue || !TOKEN) {
  process.stderr.write(
    'usage: VIGIL_RPA_URL=... VIGIL_RPA_TOKEN=vbot_... bot.js --queue <queue> [--lease 60] [--allow /etc,/var/log] [--once]\n',
  );
  process.exit(64);
}
const QUEUE = encodeURIComponent(opt.queue);
const LEASE_S = Number(opt.lease);
const POLL_MS = Number(opt.poll);
const HOLD_MS = Number(opt.hold);
const ALLOW = opt.allow.split(',').map((p) => p.trim().replace(/\/+$/, '') || '/');
const NEVER = ['/proc', '/sys', '/dev']; // special files: reading them can hang or have side effects

interface Job {
  queue: string;
  jobId: string;
  jobType: string;
  input: { path: string; maxBytes?: number };
  leaseId: string;
  leaseExpiresAt: string;
  deadline: string;
  claim: number;
}
type Answer = { status: number; json: Record<string, unknown> };

/** A job this bot cannot do; `retryable` lets another claim (or another bot) try again. */
class JobFailure extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly retryable = false,
  ) {
    super(message);
  }
}

const say = (event: string, fields: Record<string, unknown> = {}) =>
  process.stdout.write(`${JSON.stringify({ event, at: new Date().toISOString(), ...fields })}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const errorText = (e: unknown) => (e instanceof Error ? e.message : String(e));

/** One API call: 15 s timeout; network errors and 429/503 are retried a few times with backoff. */
async function api(method: 'GET' | 'POST', path: string, body?: unknown): Promise<Answer> {
  for (let attempt = 1; ; attempt++) {
    try {
      const res = await fetch(`${BASE}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${TOKEN}`,
          ...(body ? { 'content-type': 'application/json' } : {}),
        },
        body: body ? JSON.stringify(body) : undefined,
        signal: AbortSignal.timeout(15_000),
      });
      if ((res.status === 429 || res.status === 503) && attempt < 5) {
        await sleep(Math.min(30, Number(res.headers.get('retry-after')) || attempt) * 1000);
        continue;
      }
      const text = await res.text();
      return { status: res.status, json: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
    } catch (e) {
      if (attempt >= 5) throw e;
      await sleep(attempt * 1000);
    }
  }
}

const inside = (p: string, root: string) => root === '/' || p === root || p.startsWith(`${root}/`);
const OPEN_ERRORS: Record<string, string> = {
  ENOENT: 'not-found',
  EACCES: 'permission-denied',
  ELOOP: 'symlink-refused',
};

/** collect-evidence: hash a regular file and report its metadata. */
async function collectEvidence({ path, maxBytes }: Job['input']) {
  if (!ALLOW.some((r) => inside(path, r)) || NEVER.some((r) => inside(path, r)))
    throw new JobFailure('path-not-allowed', `this bot may not read ${path}`);
  let fh: FileHandle;
  try {
    // No symlinks, no blocking on FIFOs; everything below reads through this one descriptor (no TOCTOU).
    fh = await open(path, fsc.O_RDONLY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? '';
    throw new JobFailure(OPEN_ERRORS[code] ?? 'open-failed', `${path}: ${code || errorText(e)}`);
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new JobFailure('not-a-regular-file', `${path} is not a regular file`);
    if (maxBytes !== undefined && st.size > maxBytes)
      throw new JobFailure('too-large', `${path} has ${st.size} bytes (limit ${maxBytes})`);
    const hash = createHash('sha256');
    for await (const chunk of fh.createReadStream({ autoClose: false, start: 0 }))
      hash.update(chunk as Buffer);
    return {
      host: hostname(),
      path,
      sha256: hash.digest('hex'),
      size: st.size,
      mode: `0${(st.mode & 0o7777).toString(8).padStart(3, '0')}`,
      uid: st.uid,
      gid: st.gid,
      inode: st.ino,
      mtime: st.mtime.toISOString(),
      ctime: st.ctime.toISOString(),
      collectedAt: new Date().toISOString(),
    };
  } finally {
    await fh.close();
  }
}

let current: Job | undefined; // the job being worked on, so a stop signal can hand it back
let stopping = false;

async function work(job: Job): Promise<void> {
  const jobPath = `/v1/rpa/queues/${QUEUE}/jobs/${encodeURIComponent(job.jobId)}`;
  let lost = false;
  // Heartbeat at a third of the lease: one missed beat still leaves the lease alive.
  const beat = setInterval(
    () =>
      void api('POST', `${jobPath}/heartbeat`, { leaseId: job.leaseId, progress: 'hashing' }).then(
        (r) => {
          if (r.status === 200) say('heartbeat', { jobId: job.jobId, leaseExpiresAt: r.json.leaseExpiresAt });
          else if (r.status !== 503) {
            lost = true; // the lease is gone (expired, cancelled): stop; another bot may have the job now
            say('lost', { jobId: job.jobId, status: r.status, error: r.json.error });
          }
        },
        () => undefined,
      ),
    Math.max(500, (LEASE_S * 1000) / 3),
  );
  try {
    let result: Awaited<ReturnType<typeof collectEvidence>>;
    try {
      if (job.jobType !== 'collect-evidence')
        throw new JobFailure('unsupported-job-type', 'this bot does collect-evidence only', true);
      result = await collectEvidence(job.input);
      if (HOLD_MS > 0) await sleep(HOLD_MS);
    } catch (e) {
      if (lost) return;
      const f = e instanceof JobFailure ? e : new JobFailure('bot-error', errorText(e), true);
      const r = await api('POST', `${jobPath}/fail`, {
        leaseId: job.leaseId,
        code: f.code,
        message: f.message,
        retryable: f.retryable,
      });
      say('failed', {
        jobId: job.jobId,
        code: f.code,
        status: r.status,
        answer: r.json.status ?? r.json.error,
      });
      return;
    }
    if (lost) return;
    const r = await api('POST', `${jobPath}/complete`, { leaseId: job.leaseId, result });
    if (r.status === 200)
      say('completed', { jobId: job.jobId, sha256: result.sha256, delivered: r.json.delivered });
    else say('refused', { jobId: job.jobId, status: r.status, ...r.json });
  } finally {
    clearInterval(beat);
  }
}

async function stop(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  if (current) {
    // Give the job back at once instead of letting its lease run out.
    await api('POST', `/v1/rpa/queues/${QUEUE}/jobs/${encodeURIComponent(current.jobId)}/fail`, {
      leaseId: current.leaseId,
      code: 'bot-stopping',
      message: `the bot received ${signal}`,
      retryable: true,
    }).catch(() => undefined);
  }
  say('stopped', { signal });
  process.exit(0);
}
process.on('SIGINT', () => void stop('SIGINT'));
process.on('SIGTERM', () => void stop('SIGTERM'));

say('started', { queue: opt.queue, url: BASE, lease: LEASE_S, allow: ALLOW });
while (!stopping) {
  let r: Answer;
  try {
    r = await api('GET', `/v1/rpa/queues/${QUEUE}/jobs/next?lease=${LEASE_S}&types=collect-evidence`);
  } catch (e) {
    say('error', { message: errorText(e) });
    await sleep(POLL_MS);
    continue;
  }
  if (r.status === 401 || r.status === 403) {
    say('refused', { status: r.status, ...r.json });
    process.exit(2);
  }
  if (r.status !== 200) {
    await sleep(POLL_MS);
    continue;
  }
  current = r.json as unknown as Job;
  say('claimed', {
    jobId: current.jobId,
    leaseId: current.leaseId,
    claim: current.claim,
    input: current.input,
  });
  await work(current);
  current = undefined;
  if (opt.once) break;
}
say('stopped', { reason: 'done' });
