import type { z } from 'zod';
import type { DetectionEvent } from '../detection-event.js';

export interface AdapterContext {
  /** Deterministic event id computed by the intake from the source name and the raw bytes. */
  id: string;
  receivedAt: string;
}

export type AdapterResult = { ok: true; event: DetectionEvent } | { ok: false; issues: string[] };

/** A source adapter turns one parsed JSON document of its format into a DetectionEvent. */
export interface SourceAdapter {
  readonly name: string;
  readonly description: string;
  parse(raw: unknown, ctx: AdapterContext): AdapterResult;
}

/** Render zod issues as `path: message` lines a sender can act on. */
export function formatIssues(error: z.ZodError): string[] {
  return error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`);
}
