/**
 * `vigil setup`: prepare a Temporal server or cluster for Vigil (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE):
 * the namespace with an explicit retention and our search attributes. Idempotent; `vigil up` does the
 * same for the embedded server. docker-compose runs it once before the workers start.
 */
import { Connection } from '@temporalio/client';
import { z } from 'zod';
import { parseEnv, TemporalConfig } from '../../src/config.js';
import { SEARCH_ATTRIBUTE_DEFS } from '../../src/search-attributes.js';
import { ensureNamespace } from '../stack/namespace.js';
import { printJson } from '../output.js';

export const SetupConfig = TemporalConfig.extend({
  VIGIL_RETENTION_DAYS: z.coerce.number().int().min(1).max(3650).default(30),
});

export async function setup(opts: { json: boolean }): Promise<void> {
  const cfg = parseEnv(SetupConfig, process.env, 'vigil setup');
  const deadline = Date.now() + 120_000;
  let connection: Connection | undefined;
  // A cluster that is still starting (docker-compose) refuses connections for a while.
  while (!connection) {
    try {
      connection = await Connection.connect({ address: cfg.TEMPORAL_ADDRESS, connectTimeout: 5000 });
      await connection.workflowService.getSystemInfo({});
    } catch (e) {
      await connection?.close().catch(() => undefined);
      connection = undefined;
      if (Date.now() > deadline)
        throw new Error(`Temporal at ${cfg.TEMPORAL_ADDRESS} is not reachable: ${(e as Error).message}`);
      process.stderr.write(`vigil setup: waiting for Temporal at ${cfg.TEMPORAL_ADDRESS}...\n`);
      await new Promise((r) => setTimeout(r, 2000));
    }
  }
  try {
    await ensureNamespace(connection, cfg.TEMPORAL_NAMESPACE, cfg.VIGIL_RETENTION_DAYS);
  } finally {
    await connection.close();
  }
  const result = {
    address: cfg.TEMPORAL_ADDRESS,
    namespace: cfg.TEMPORAL_NAMESPACE,
    retentionDays: cfg.VIGIL_RETENTION_DAYS,
    searchAttributes: SEARCH_ATTRIBUTE_DEFS.map((d) => d.name),
  };
  if (opts.json) printJson(result);
  else
    process.stdout.write(
      `namespace ${result.namespace} ready on ${result.address}: retention ${result.retentionDays} days, search attributes ${result.searchAttributes.join(', ')}\n`,
    );
}
