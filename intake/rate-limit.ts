/** Per-sender token buckets: a sender over its rate gets 429 with the seconds until it may send again. */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly ratePerSecond: number,
    private readonly burst: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Take `n` tokens for `sender`; on refusal, the seconds to wait (at least 1). */
  take(sender: string, n = 1): { ok: true } | { ok: false; retryAfterSeconds: number } {
    const t = this.now();
    const b = this.buckets.get(sender) ?? { tokens: this.burst, at: t };
    b.tokens = Math.min(this.burst, b.tokens + ((t - b.at) / 1000) * this.ratePerSecond);
    b.at = t;
    this.buckets.set(sender, b);
    if (n <= b.tokens) {
      b.tokens -= n;
      return { ok: true };
    }
    const need = Math.min(n, this.burst) - b.tokens;
    return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil(need / this.ratePerSecond)) };
  }
}
