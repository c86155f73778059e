/**
 * Make a namespace ready for Vigil on any Temporal (dev server or cluster): registered with an explicit
 * retention (the dev server's default is 24 h) and with our search attributes.
 */
import { Connection } from '@temporalio/client';
import { SearchAttributeType } from '@temporalio/common';
import { msToTs } from '@temporalio/common/lib/time.js';
import { SEARCH_ATTRIBUTE_DEFS } from '../../src/search-attributes.js';

// Enum values of temporal.api.enums.v1.IndexedValueType.
const INDEXED: Record<SearchAttributeType, number> = {
  [SearchAttributeType.TEXT]: 1,
  [SearchAttributeType.KEYWORD]: 2,
  [SearchAttributeType.INT]: 3,
  [SearchAttributeType.DOUBLE]: 4,
  [SearchAttributeType.BOOL]: 5,
  [SearchAttributeType.DATETIME]: 6,
  [SearchAttributeType.KEYWORD_LIST]: 7,
};

const GRPC_NOT_FOUND = 5;

function grpcCode(e: unknown): number | undefined {
  return typeof e === 'object' && e !== null && 'code' in e ? Number(e.code) : undefined;
}

export async function ensureNamespace(
  connection: Connection,
  namespace: string,
  retentionDays: number,
): Promise<void> {
  const retention = msToTs(retentionDays * 86_400_000);
  try {
    const d = await connection.workflowService.describeNamespace({ namespace });
    const current = Number(d.config?.workflowExecutionRetentionTtl?.seconds ?? 0);
    if (current < retentionDays * 86_400) {
      await connection.workflowService.updateNamespace({
        namespace,
        config: { workflowExecutionRetentionTtl: retention },
      });
    }
  } catch (e) {
    if (grpcCode(e) !== GRPC_NOT_FOUND) throw e;
    await connection.workflowService.registerNamespace({
      namespace,
      description: 'Vigil incidents and playbooks',
      workflowExecutionRetentionPeriod: retention,
    });
  }
  // A newly registered namespace reaches every service only after the namespace cache refreshes (~10 s).
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      const existing = await connection.operatorService.listSearchAttributes({ namespace });
      const missing = SEARCH_ATTRIBUTE_DEFS.filter((d) => !(d.name in (existing.customAttributes ?? {})));
      if (missing.length) {
        await connection.operatorService.addSearchAttributes({
          namespace,
          searchAttributes: Object.fromEntries(missing.map((d) => [d.name, INDEXED[d.type]])),
        });
      }
      return;
    } catch (e) {
      if (grpcCode(e) !== GRPC_NOT_FOUND || Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}
