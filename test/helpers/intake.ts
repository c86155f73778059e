/** A real intake (the production server code) listening on loopback, against the run's Temporal server. */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import { loadIntakeConfig } from '../../intake/config.js';
import { DeadLetterStore } from '../../intake/dead-letter.js';
import { temporalStarter } from '../../intake/incidents.js';
import { createIntakeMetrics } from '../../intake/metrics.js';
import { OsqueryNodeStore } from '../../intake/osquery-nodes.js';
import { buildIntake } from '../../intake/server.js';

export const TEST_KEY = { id: 'test-sender', secret: 't'.repeat(48) };
export const ADMIN_TOKEN = 'test-admin-token';

export async function startIntake(client: Client, taskQueue: string, env: Record<string, string> = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-intake-'));
  const config = loadIntakeConfig({
    VIGIL_INTAKE_KEYS: JSON.stringify([{ ...TEST_KEY, hosts: ['*'] }]),
    VIGIL_ADMIN_TOKEN_SHA256: createHash('sha256').update(ADMIN_TOKEN).digest('hex'),
    VIGIL_METRICS_PUBLIC: 'true',
    VIGIL_RATE_LIMIT: '1000000',
    VIGIL_RATE_BURST: '1000000',
    ...env,
  });
  const deadLetters = new DeadLetterStore(join(dir, 'intake.db'));
  const nodes = new OsqueryNodeStore(join(dir, 'intake.db'));
  const app = buildIntake({
    config,
    deadLetters,
    nodes,
    metrics: createIntakeMetrics(() => deadLetters.counts().pending),
    starter: temporalStarter(
      client.connection,
      client.options.namespace,
      taskQueue,
      config.VIGIL_TEMPORAL_TIMEOUT,
    ),
    ready: async () => true,
  });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  return {
    url,
    deadLetters,
    nodes,
    async metric(name: string, labels: Record<string, string>): Promise<number> {
      const text = await (await fetch(`${url}/metrics`)).text();
      let total = 0;
      for (const line of text.split('\n')) {
        if (!line.startsWith(`${name}{`)) continue;
        if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`)))
          total += Number(line.split(' ').pop());
      }
      return total;
    },
    async close() {
      await app.close();
      deadLetters.close();
      nodes.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
