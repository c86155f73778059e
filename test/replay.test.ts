/**
 * Replay: every recorded incident history in test/replay/*.json must replay against the current workflow
 * code, so a non-deterministic change fails CI (use `patched()` for intended changes). Each run also records
 * fresh histories of the playbooks' main paths and replays them, so the test never passes vacuously.
 * Record new fixtures with: VIGIL_RECORD_HISTORIES=1 npm test -- test/replay.test.ts
 */
import { randomUUID } from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import { historyFromJSON, historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { temporalStarter } from '../intake/incidents.js';
import { repoRoot } from '../src/paths.js';
import { normalized, reverseShell } from './helpers/events.js';
import { startTestSmtp, type TestSmtp } from './helpers/smtp.js';
import { startWorker, testClient, uniqueQueue, workerEnv } from './helpers/temporal.js';
import { decide, waitForApproval } from './helpers/approvals.js';
import { agentEnv, startTestAgent } from './helpers/agent.js';
import { releaseUpdate } from '../src/contracts/containment.js';

const DIR = join(repoRoot(), 'test', 'replay');
const bundle = () => ({ code: inject('workflowBundle') });

let client: Client;
let closeClient: () => Promise<void>;
let smtp: TestSmtp;
beforeAll(async () => {
  ({ client, close: closeClient } = await testClient());
  smtp = await startTestSmtp();
});
afterAll(async () => {
  await smtp.close();
  await closeClient();
});

/** Run the main paths of the playbooks and return their histories (name -> JSON). */
async function recordScenarios(): Promise<Map<string, string>> {
  const queue = uniqueQueue('replay');
  const worker = await startWorker(workerEnv(smtp.port, queue, { VIGIL_QUIET_PERIOD: '1s' }));
  // The production default for incident emails: through the rate-limited email channel's notifier.
  const channelQueue = uniqueQueue('replay-channel');
  const channelWorker = await startWorker(
    workerEnv(smtp.port, channelQueue, { VIGIL_QUIET_PERIOD: '1s', VIGIL_NOTIFY_EMAIL_VIA: 'notifier' }),
  );
  const channelStart = temporalStarter(client.connection, client.options.namespace, channelQueue, 5000);
  const start = temporalStarter(client.connection, client.options.namespace, queue, 5000);
  const out = new Map<string, string>();
  let agent: Awaited<ReturnType<typeof startTestAgent>> | undefined;
  let victim: ChildProcess | undefined;
  try {
    const scenarios = {
      'suspicious-process-malicious-notified-approved': [reverseShell(`replay-${randomUUID().slice(0, 6)}`)],
      // Since patches-upfront-v4 (the settings and the enrichment one local activity); recorded before it:
      // triage-benign-lookups-ahead.json (v3) and triage-benign-no-mail.json.
      'triage-benign-first-lookups': [
        normalized('generic', {
          time: '2026-11-26T09:00:00Z',
          host: `replay-${randomUUID().slice(0, 6)}`,
          rule: 'Package installed',
          severity: 'info',
        }),
      ],
    };
    for (const [name, events] of Object.entries(scenarios)) {
      for (const e of events) await start.start(e.incidentId, e.correlationKey, e.event);
      const id = events[0]?.incidentId ?? '';
      if (name.startsWith('suspicious-process'))
        await decide(client, await waitForApproval(client, id), { id: 'lead-1', role: 'lead' });
      await client.workflow.getHandle(id).result();
      out.set(name, historyToJSON(await client.workflow.getHandle(id).fetchHistory()));
    }
    // The incident email through the email channel's notifier (queued, then delivered by the notifier).
    const viaChannel = reverseShell(`replay-ch-${randomUUID().slice(0, 6)}`);
    await channelStart.start(viaChannel.incidentId, viaChannel.correlationKey, viaChannel.event);
    await decide(client, await waitForApproval(client, viaChannel.incidentId), {
      id: 'lead-1',
      role: 'lead',
    });
    await client.workflow.getHandle(viaChannel.incidentId).result();
    out.set(
      // Since local-enqueue-v1 (the hand-off to the notifier a local activity, under the second up-front
      // marker); the history recorded before it is suspicious-process-email-channel.json.
      'suspicious-process-email-channel-local-enqueue',
      historyToJSON(await client.workflow.getHandle(viaChannel.incidentId).fetchHistory()),
    );
    // The containment path: the host's agent suspends a real process at once, then (approved) isolates
    // the host in dry-run; the suspension's hold is released by an operator.
    const host = `replay-agent-${randomUUID().slice(0, 6)}`;
    agent = await startTestAgent(agentEnv(host, queue));
    victim = spawn('sleep', ['600'], { stdio: 'ignore' });
    const pid = victim.pid ?? 0;
    const ev = reverseShell(host, (d) => {
      d.output_fields['proc.pid'] = pid;
      d.output_fields['proc.exepath'] = readlinkSync(`/proc/${pid}/exe`);
    });
    await start.start(ev.incidentId, ev.correlationKey, ev.event);
    await decide(client, await waitForApproval(client, ev.incidentId), { id: 'lead-1', role: 'lead' });
    await client.workflow.getHandle(ev.incidentId).result();
    out.set(
      // Since patches-upfront-v5 (the decision and the slot taken ahead with the settings, the enrichment
      // and the route: one local activity); the histories recorded before it are
      // suspicious-process-contained-upfront-v4.json (v4: those three one local activity, the decision and
      // the slot another), suspicious-process-contained-upfront-v3.json (v3: the three side by side),
      // suspicious-process-contained-upfront-v2.json (v2), suspicious-process-contained-local-lookups.json
      // and suspicious-process-contained-by-agent.json.
      'suspicious-process-contained-upfront-v5',
      historyToJSON(await client.workflow.getHandle(ev.incidentId).fetchHistory()),
    );
    for await (const wf of client.workflow.list({
      query: `WorkflowType = 'containment' AND WorkflowId STARTS_WITH 'containment-${ev.incidentId}'`,
    })) {
      const h = client.workflow.getHandle(wf.workflowId);
      await h.executeUpdate(releaseUpdate, {
        args: [{ operator: 'lead-1', role: 'lead', reason: 'replay fixture' }],
      });
      await h.result();
      out.set('containment-released', historyToJSON(await h.fetchHistory()));
    }
  } finally {
    await agent?.stop();
    victim?.kill('SIGKILL');
    await worker.stop();
    await channelWorker.stop();
  }
  return out;
}

describe('replay', () => {
  it('replays fresh histories of every playbook path against the current code', async () => {
    const recorded = await recordScenarios();
    expect(recorded.size).toBeGreaterThanOrEqual(5);
    for (const [name, json] of recorded) {
      await Worker.runReplayHistory({ workflowBundle: bundle() }, historyFromJSON(JSON.parse(json)), name);
      // New paths only: a committed history is the record of an older version and must stay as it is.
      const file = join(DIR, `${name}.json`);
      if (process.env.VIGIL_RECORD_HISTORIES === '1' && !existsSync(file)) writeFileSync(file, json);
    }
  });

  it('replays every committed history in test/replay', async () => {
    const files = readdirSync(DIR).filter((f) => f.endsWith('.json'));
    expect(files.length).toBeGreaterThanOrEqual(2);
    for (const f of files) {
      const history = historyFromJSON(JSON.parse(readFileSync(join(DIR, f), 'utf8')));
      await Worker.runReplayHistory({ workflowBundle: bundle() }, history, f.replace(/\.json$/, ''));
    }
  });
});
