/**
 * Our custom search attributes: registered on the namespace at start (cli/stack/namespace.ts)
 * and kept current by the incident workflow, so `vigil incidents` and the Temporal UI can filter.
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const SA = {
  host: defineSearchAttributeKey('VigilHost', SearchAttributeType.KEYWORD),
  severity: defineSearchAttributeKey('VigilSeverity', SearchAttributeType.KEYWORD),
  playbook: defineSearchAttributeKey('VigilPlaybook', SearchAttributeType.KEYWORD),
  technique: defineSearchAttributeKey('VigilTechnique', SearchAttributeType.KEYWORD_LIST),
  status: defineSearchAttributeKey('VigilStatus', SearchAttributeType.KEYWORD),
} as const;

/** name -> type, for registering them on a namespace or a dev server. */
export const SEARCH_ATTRIBUTE_DEFS: readonly { name: string; type: SearchAttributeType }[] = Object.values(
  SA,
).map((k) => ({ name: k.name, type: k.type }));
