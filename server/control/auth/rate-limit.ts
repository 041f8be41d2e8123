// Per-address token buckets for the sign-in and registration routes: a burst, then a steady
// rate. An address out of tokens gets 429 with Retry-After. The table is bounded: when it is
// full, buckets that have refilled completely (idle addresses) are dropped first, then the
// oldest, so a flood of source addresses costs bounded memory and cannot lock others out for
// longer than one refill.

/** Shape of one limit. */
export interface RateLimitOptions {
  /** Requests allowed at once. */
  burst: number;
  /** Tokens added per second. */
  perSecond: number;
  /** Most addresses tracked (default 10,000). */
  maxAddresses?: number;
}

/** The answer for one request. */
export type RateDecision = { ok: true } | { ok: false; retryAfterSeconds: number };

interface Bucket {
  tokens: number;
  at: number;
}

/** A token bucket per key (a source address). */
export class RateLimiter {
  readonly #burst: number;
  readonly #perMs: number;
  readonly #max: number;
  readonly #buckets = new Map<string, Bucket>();

  constructor(options: RateLimitOptions) {
    if (!(options.burst >= 1) || !(options.perSecond > 0)) {
      throw new RangeError("rate limit: burst must be >= 1 and perSecond > 0");
    }
    this.#burst = options.burst;
    this.#perMs = options.perSecond / 1000;
    this.#max = options.maxAddresses ?? 10_000;
  }

  /** Takes one token for `key` at time `now` (unix ms). */
  take(key: string, now: number): RateDecision {
    let bucket = this.#buckets.get(key);
    if (bucket === undefined) {
      this.#makeRoom(now);
      bucket = { tokens: this.#burst, at: now };
      this.#buckets.set(key, bucket);
    } else {
      bucket.tokens = Math.min(
        this.#burst,
        bucket.tokens + Math.max(0, now - bucket.at) * this.#perMs,
      );
      bucket.at = now;
    }
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return { ok: true };
    }
    return {
      ok: false,
      retryAfterSeconds: Math.max(1, Math.ceil((1 - bucket.tokens) / this.#perMs / 1000)),
    };
  }

  /** Addresses tracked now. */
  get size(): number {
    return this.#buckets.size;
  }

  #makeRoom(now: number): void {
    if (this.#buckets.size < this.#max) return;
    const fullAfterMs = this.#burst / this.#perMs;
    for (const [key, bucket] of this.#buckets) {
      if (now - bucket.at >= fullAfterMs) this.#buckets.delete(key);
    }
    // Map iteration is insertion order: the first key is the oldest bucket.
    while (this.#buckets.size >= this.#max) {
      const oldest = this.#buckets.keys().next().value;
      if (oldest === undefined) break;
      this.#buckets.delete(oldest);
    }
  }
}
