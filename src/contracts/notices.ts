/** The zod schema of an incident notice, shared by every channel that renders one (email, webhooks, Slack). */
import { z } from 'zod';
import type { IncidentNotice } from './playbook.js';

export const IncidentNoticeSchema = z.object({
  incidentId: z.string().min(1).max(600),
  host: z.string().min(1),
  rule: z.string().min(1),
  severity: z.string().min(1),
  verdict: z.enum(['benign', 'suspicious', 'malicious']),
  riskScore: z.number().min(0).max(100),
  techniques: z.array(
    z.object({
      id: z.string(),
      known: z.boolean(),
      name: z.string().optional(),
      tactics: z.array(z.string()),
    }),
  ),
  lineage: z.array(z.string()),
  reasons: z.array(z.string()),
  recommended: z.array(z.string()),
  eventCount: z.number().int().min(1),
  firstSeen: z.string(),
  commandLine: z.string().optional(),
  playbook: z.string(),
}) satisfies z.ZodType<IncidentNotice>;
