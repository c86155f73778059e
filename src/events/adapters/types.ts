import type { z } from 'zod';
import type { DetectionEvent } from '../detection-event.js';

export interface AdapterContext {
  /** Deterministic id computed by the intake from the source name and the raw bytes of the document. */
  id: string;
  receivedAt: string;
}

/** The id of the `index`-th event of a document: the document's id for the first, `<id>.<index>` after. */
export function eventIdAt(ctx: AdapterContext, index: number): string {
  return index === 0 ? ctx.id : `${ctx.id}.${index}`;
}

/**
 * A document may hold several detections (osquery batches) or none (an osquery initial result set,
 * which is state, not an alert): `events` may be empty, and `skipped` then says why.
 */
export type AdapterResult =
  | { ok: true; events: DetectionEvent[]; skipped?: { count: number; reason: string } }
  | { ok: false; issues: string[] };

/** A source adapter turns one parsed JSON document of its format into DetectionEvents, or says why not. */
export interface SourceAdapter {
  readonly name: string;
  readonly description: string;
  parse(raw: unknown, ctx: AdapterContext): AdapterResult;
}

/** Render zod issues as `path: message` lines a sender can act on. */
export function formatIssues(error: z.ZodError): string[] {
  return error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`);
}
