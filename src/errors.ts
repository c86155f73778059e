/**
 * The closed set of failure types. Code branches on `type`, never on message text.
 * Activities throw these through `ApplicationFailure` (see activities/lib/failures.ts);
 * workflows read `failure.type` to tell an expected outcome from a bug.
 */
export const ErrorType = {
  InvalidInput: 'InvalidInput',
  UpstreamRejected: 'UpstreamRejected',
  RateLimited: 'RateLimited',
  Unavailable: 'Unavailable',
  NotFound: 'NotFound',
  Misconfigured: 'Misconfigured',
  AlreadyDecided: 'AlreadyDecided',
  Unauthenticated: 'Unauthenticated',
  Forbidden: 'Forbidden',
} as const;
export type ErrorType = (typeof ErrorType)[keyof typeof ErrorType];

/** Which failures a retry cannot fix. */
export const NON_RETRYABLE: readonly ErrorType[] = [
  ErrorType.InvalidInput,
  ErrorType.UpstreamRejected,
  ErrorType.NotFound,
  ErrorType.Misconfigured,
  ErrorType.AlreadyDecided,
  ErrorType.Unauthenticated,
  ErrorType.Forbidden,
];

/** A configuration problem found at start-up; `key` names the setting so the operator can fix it. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    readonly problems: { key: string; message: string }[],
    readonly context = 'configuration',
  ) {
    super(`invalid ${context}:\n${problems.map((p) => `  - ${p.key}: ${p.message}`).join('\n')}`);
  }
}
