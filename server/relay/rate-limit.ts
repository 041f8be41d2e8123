// A token bucket over received bytes, one per client. The relay charges every message it
// reads; when the bucket goes into debt it pauses reading that client's socket for as long as
// the refill takes, so a fast sender is slowed by TCP backpressure, not dropped.

/** Rate-limit settings of every client. */
export interface RelayRate {
  /** Sustained bytes per second a client may send; Infinity for no limit. */
  bytesPerSecond: number;
  /** Bytes a client may send at once above the sustained rate. */
  burstBytes: number;
}

/** A token bucket that may go into debt: take() always succeeds and says how long to wait. */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly rate: RelayRate,
    now: number,
  ) {
    this.tokens = rate.burstBytes;
    this.last = now;
  }

  /**
   * Charges `bytes` at time `now` (ms) and returns how many milliseconds to wait until the
   * bucket is out of debt: 0 when the client may keep sending.
   */
  take(bytes: number, now: number): number {
    if (this.rate.bytesPerSecond === Number.POSITIVE_INFINITY) return 0;
    const elapsed = Math.max(0, now - this.last);
    this.last = now;
    this.tokens = Math.min(
      this.rate.burstBytes,
      this.tokens + (elapsed * this.rate.bytesPerSecond) / 1000,
    );
    this.tokens -= bytes;
    if (this.tokens >= 0) return 0;
    return Math.max(1, Math.ceil((-this.tokens * 1000) / this.rate.bytesPerSecond));
  }
}
