/** The ATT&CK technique table shipped in data/attack (see data/attack/NOTICE.md for MITRE's licence). */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import type { TechniqueInfo } from '../../src/contracts/playbook.js';

const Row = z.object({
  id: z.string(),
  name: z.string(),
  tactics: z.array(z.string()),
  platforms: z.array(z.string()),
  is_subtechnique: z.boolean(),
});
export const ATTACK_VERSION = 'enterprise-18.1';

export interface AttackTable {
  version: string;
  size: number;
  lookup(id: string): TechniqueInfo;
}

export function loadAttackTable(path: string): AttackTable {
  const rows = z.array(Row).parse(JSON.parse(readFileSync(path, 'utf8')));
  const byId = new Map(rows.map((r) => [r.id, r]));
  return {
    version: ATTACK_VERSION,
    size: byId.size,
    lookup(id) {
      const r = byId.get(id);
      if (!r) return { id, known: false, tactics: [] };
      const parent = r.is_subtechnique ? byId.get(id.split('.')[0] ?? '') : undefined;
      return { id, known: true, name: parent ? `${parent.name}: ${r.name}` : r.name, tactics: r.tactics };
    },
  };
}
