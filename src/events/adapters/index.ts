/** The registry of source adapters. Adding a source: one file plus one line here. */
import { ecsAdapter } from './ecs.js';
import { falcoAdapter } from './falco.js';
import { genericAdapter } from './generic.js';
import { ocsfAdapter } from './ocsf.js';
import { osqueryAdapter } from './osquery.js';
import type { SourceAdapter } from './types.js';

export const ADAPTERS: ReadonlyMap<string, SourceAdapter> = new Map(
  [falcoAdapter, genericAdapter, osqueryAdapter, ocsfAdapter, ecsAdapter].map((a) => [a.name, a]),
);

export function adapterFor(source: string): SourceAdapter | undefined {
  return ADAPTERS.get(source);
}

export type { AdapterContext, AdapterResult, SourceAdapter } from './types.js';
