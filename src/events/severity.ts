/**
 * Severity levels without zod: workflow code imports this, and every module value the workflow imports
 * is re-evaluated for each new workflow in the sandbox (zod and its schemas cost ~10 ms of worker CPU per
 * incident; measured with npm run bench).
 */
export const SEVERITIES = ['info', 'low', 'medium', 'high', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];
export const SEVERITY_RANK: Record<Severity, number> = { info: 0, low: 1, medium: 2, high: 3, critical: 4 };
