/**
 * `vigil whatif <incident> [--playbooks <dir|git ref>] [--json]`: run a recorded incident against another
 * version of the playbooks (default: the current build), side effects answered from the record, and print
 * the decision diff. The history comes from the audit log when it holds the incident (offline, verified
 * format), else from Temporal. The run happens on a private, in-memory Temporal dev server, so nothing it
 * does can reach the real incident, its containment or its approvals.
 */
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils.js';
import type { PayloadCodec } from '@temporalio/common';
import { NativeConnection } from '@temporalio/worker';
import { codecFromEnv } from '../../src/codec/config.js';
import { statusQuery, type IncidentStatus } from '../../src/contracts/incident.js';
import { repoRoot } from '../../src/paths.js';
import { loadPolicyConfig } from '../../activities/policy/config.js';
import { PolicyEngine } from '../../activities/policy/engine.js';
import { createPolicyActivities } from '../../activities/policy/index.js';
import { AuditLog } from '../../activities/audit/log.js';
import { ensureNamespace } from '../stack/namespace.js';
import { findTemporalBinary, startDevServer } from '../stack/temporal.js';
import { printJson, UsageError } from '../output.js';
import { readStack } from '../state.js';
import { auditLogPath } from './audit.js';
import { bundleFor, diffRuns, readRecording, runWhatIf, type PlaybookSource } from '../whatif/engine.js';

type History = Parameters<typeof readRecording>[0];

function codecs(payloadKeys?: string): PayloadCodec[] {
  const c = codecFromEnv({
    VIGIL_PAYLOAD_KEYS: process.env.VIGIL_PAYLOAD_KEYS ?? payloadKeys,
    VIGIL_PAYLOAD_KEY_ID: process.env.VIGIL_PAYLOAD_KEY_ID,
  });
  return c ? [c] : [];
}

/** The incident's latest recorded run: from the audit log, else from Temporal (with its live status). */
async function loadRecorded(
  id: string,
): Promise<{ history: History; from: string; status?: IncidentStatus; codecs: PayloadCodec[] }> {
  const logPath = auditLogPath();
  if (existsSync(logPath)) {
    const log = AuditLog.open({ logPath, mode: 'reader' });
    try {
      const h = log
        .entriesOf(id)
        .filter((e) => e.kind === 'history')
        .pop();
      if (h && typeof h.payload.data === 'string') {
        const json = gunzipSync(Buffer.from(h.payload.data, 'base64')).toString('utf8');
        return {
          history: historyFromJSON(JSON.parse(json)),
          from: `audit log ${logPath} (entry ${h.seq})`,
          codecs: codecs(),
        };
      }
    } finally {
      log.close();
    }
  }
  const { state, creds } = readStack();
  const connection = await Connection.connect({ address: state.temporal.address, connectTimeout: 5000 });
  try {
    const client = new Client({ connection, namespace: state.temporal.namespace });
    const handle = client.workflow.getHandle(id);
    const desc = await handle.describe().catch(() => {
      throw new UsageError(`no incident ${id} in the audit log or in Temporal`);
    });
    const c = codecs(creds.payloadKeys);
    const status =
      desc.status.name === 'RUNNING'
        ? await new Client({
            connection,
            namespace: state.temporal.namespace,
            dataConverter: c.length ? { payloadCodecs: c } : undefined,
          }).workflow
            .getHandle(id)
            .query(statusQuery)
        : undefined;
    return {
      history: await handle.fetchHistory(),
      from: `Temporal ${state.temporal.address}`,
      ...(status ? { status } : {}),
      codecs: c,
    };
  } finally {
    await connection.close();
  }
}

function sourceOf(arg?: string): PlaybookSource {
  if (!arg) return {};
  if (existsSync(arg) && statSync(arg).isDirectory()) return { dir: arg };
  return { gitRef: arg };
}

export async function whatif(opts: {
  incident?: string;
  playbooks?: string;
  json: boolean;
}): Promise<number> {
  if (!opts.incident) throw new UsageError('vigil whatif <incident> [--playbooks <dir|git ref>] [--json]');
  const loaded = await loadRecorded(opts.incident);
  const recording = await readRecording(loaded.history, loaded.codecs);
  const old = loaded.status ?? recording.result;
  if (!old)
    throw new UsageError(`the recorded run of ${opts.incident} did not complete; nothing to compare with`);
  const bundle = await bundleFor(sourceOf(opts.playbooks)).catch((e: unknown) => {
    throw new UsageError(
      `cannot build the playbooks ${opts.playbooks ?? ''}: ${e instanceof Error ? e.message : String(e)}`,
    );
  });
  const policy = createPolicyActivities(
    PolicyEngine.load(loadPolicyConfig(process.env, repoRoot()).VIGIL_POLICY_DIR),
  );
  const dir = mkdtempSync(join(tmpdir(), 'vigil-whatif-server-'));
  const server = await startDevServer({
    bin: await findTemporalBinary(() => undefined),
    dbFile: join(dir, 'whatif.db'),
    headless: true,
    namespaces: ['whatif'],
    logFile: join(dir, 'temporal.log'),
  });
  try {
    const connection = await Connection.connect({ address: server.address });
    await ensureNamespace(connection, 'whatif', 1);
    const native = await NativeConnection.connect({ address: server.address });
    try {
      const run = await runWhatIf({
        connection: native,
        client: new Client({ connection, namespace: 'whatif' }),
        recording,
        bundleCode: bundle.code,
        live: { decideActions: (i: never) => policy.decideActions(i) },
      });
      const diff = diffRuns(old, run);
      if (opts.json) {
        printJson({
          incidentId: opts.incident,
          recordedFrom: loaded.from,
          playbooks: bundle.label,
          diff,
          unknown: run.unknown,
          recomputed: run.recomputed,
          unansweredApprovals: run.unansweredApprovals,
          now: run.status,
        });
        return 0;
      }
      const lines = [
        `What-if ${opts.incident}: recorded run from ${loaded.from}`,
        `  old: ${old.playbook ? `${old.playbook.name}@${old.playbook.version}` : '-'}${old.playbook?.build ? ` build ${old.playbook.build}` : ''}`,
        `  now: ${bundle.label}`,
        '',
        ...(diff.length
          ? diff.map((d) => `  ${d.text}`)
          : ['  no difference: the other version takes the same decisions and actions']),
      ];
      if (run.unknown.length)
        lines.push(
          '',
          '  Unknown (the old run never reached these steps, so there is no recorded answer):',
          ...run.unknown.map((u) => `    ${u.type} ${u.subject}`),
        );
      if (run.recomputed.length)
        lines.push(
          '',
          `  Recomputed read-only (the question changed): ${run.recomputed.length} policy decision(s)`,
        );
      process.stdout.write(`${lines.join('\n')}\n`);
      return 0;
    } finally {
      await native.close();
      await connection.close();
    }
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
