/** Signals, updates and queries of the `containment` workflow (see ContainmentHold in response.ts). */
import { defineQuery, defineUpdate } from '@temporalio/workflow';
import type { ContainmentState, ExtendRequest, ReleaseRequest } from './response.js';

export const CONTAINMENT_WORKFLOW = 'containment';
export const containmentWorkflowId = (incidentId: string, action: string) =>
  `containment-${incidentId}-${action}`;
export const extendUpdate = defineUpdate<ContainmentState, [ExtendRequest]>('extend');
export const releaseUpdate = defineUpdate<ContainmentState, [ReleaseRequest]>('release');
export const containmentQuery = defineQuery<ContainmentState>('containment');
/** No extension beyond this from now, whoever asks: a forgotten isolation must still end. */
export const MAX_EXTENSION_MS = 7 * 24 * 3600_000;
