import { z } from 'zod';
import { Bool, CsvList, Duration, parseEnv, Port, type Env } from '../../src/config.js';

const Email = z.email();

export const NotifyConfig = z
  .object({
    SMTP_HOST: z.string().min(1),
    SMTP_PORT: Port.default(587),
    /** starttls: upgrade and require TLS; tls: implicit TLS (465); none: plain (local dev mailbox only). */
    SMTP_SECURITY: z.enum(['starttls', 'tls', 'none']).default('starttls'),
    SMTP_USER: z.string().min(1).optional(),
    SMTP_PASSWORD: z.string().min(1).optional(),
    SMTP_TLS_REJECT_UNAUTHORIZED: Bool.default(true),
    SMTP_TIMEOUT: Duration.default(10_000),
    VIGIL_MAIL_FROM: Email,
    VIGIL_MAIL_TO: CsvList.pipe(z.array(Email).min(1, 'name at least one recipient')),
    /** The next group an unanswered approval escalates to (the ladder's second step); defaults to VIGIL_MAIL_TO. */
    VIGIL_ESCALATION_TO: CsvList.pipe(z.array(Email)).optional(),
  })
  .superRefine((c, ctx) => {
    if (!!c.SMTP_USER !== !!c.SMTP_PASSWORD) {
      ctx.addIssue({
        code: 'custom',
        path: [c.SMTP_USER ? 'SMTP_PASSWORD' : 'SMTP_USER'],
        message: 'set SMTP_USER and SMTP_PASSWORD together',
      });
    }
  });
export type NotifyConfig = z.infer<typeof NotifyConfig>;

export function loadNotifyConfig(env: Env): NotifyConfig {
  return parseEnv(NotifyConfig, env, 'email notification configuration');
}
