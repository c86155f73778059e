/** Small value coercions shared by adapters. Sources disagree on how they spell "missing". */

export function present(v: unknown): v is string | number | boolean {
  if (v === null || v === undefined) return false;
  if (typeof v === 'string') {
    const t = v.trim();
    return t !== '' && t !== '<NA>' && t !== 'N/A' && t !== '-';
  }
  return typeof v === 'number' || typeof v === 'boolean';
}

export function str(v: unknown): string | undefined {
  return present(v) ? String(v) : undefined;
}

/** An integer from a number or a decimal string; anything else is absent. */
export function int(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  if (typeof v === 'string' && /^-?\d{1,15}$/.test(v.trim())) return Number(v.trim());
  return undefined;
}

export function port(v: unknown): number | undefined {
  const n = int(v);
  return n !== undefined && n >= 0 && n <= 65535 ? n : undefined;
}

const TECHNIQUE = /^T\d{4}(\.\d{3})?$/;
export function techniqueIds(values: readonly unknown[]): string[] {
  const out = new Set<string>();
  for (const v of values) {
    if (typeof v === 'string' && TECHNIQUE.test(v.trim().toUpperCase())) out.add(v.trim().toUpperCase());
  }
  return [...out];
}

/** Drop keys whose value is undefined so the object stays minimal and JSON-stable. */
export function compact<T extends Record<string, unknown>>(o: T): T {
  for (const k of Object.keys(o)) if (o[k] === undefined) delete o[k];
  return o;
}
