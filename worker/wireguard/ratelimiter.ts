// The per-source rate limiter for handshake messages (wireguard-go's ratelimiter package).
// Under load the device answers initiations only from sources that are within their budget,
// so one flooding address cannot starve everyone else of handshakes. Each source has a token
// bucket: PACKETS_PER_SECOND steady, PACKETS_BURSTABLE at once.
//
// Differences from wireguard-go, and why:
// - Garbage collection runs lazily inside allow() at most once per GARBAGE_COLLECT_TIME_MS,
//   instead of on a ticker goroutine, so there is no timer to start or stop.
// - The table is capped (maxSources); at the cap the least recently seen source is dropped.
//   wireguard-go's table grows without bound for a second; in a tab memory is tighter. The
//   dropped source is the one idle longest, whose bucket was the fullest, so forgetting it
//   changes little: it comes back with an almost full bucket.
// - A packet is allowed when tokens >= cost, not > cost: wireguard-go relies on some
//   nanoseconds passing between packets for its fifth burst packet, while a millisecond clock
//   (or a FakeClock) may report no time passing at all.

import type { Clock } from "./clock.ts";

/** Steady rate each source is allowed. */
export const PACKETS_PER_SECOND = 20;
/** Packets a source may send at once after being quiet. */
export const PACKETS_BURSTABLE = 5;
/**
 * A source unseen for longer than this is forgotten. Nothing is lost: after a second idle its
 * bucket would have refilled to full anyway, which is what a new entry starts near.
 */
export const GARBAGE_COLLECT_TIME_MS = 1_000;
/** Default cap on the number of sources tracked at once. */
export const DEFAULT_MAX_SOURCES = 65_536;

/** Tokens are milliseconds of credit: one packet costs 1000 / PACKETS_PER_SECOND of them. */
const PACKET_COST = 1000 / PACKETS_PER_SECOND;
const MAX_TOKENS = PACKET_COST * PACKETS_BURSTABLE;

interface Entry {
  lastTime: number;
  tokens: number;
}

/** Options for a RateLimiter. */
export interface RateLimiterOptions {
  /** Most sources tracked at once (default DEFAULT_MAX_SOURCES). */
  readonly maxSources?: number;
}

/** A token bucket per source address. */
export class RateLimiter {
  // Map iteration order is insertion order; allow() re-inserts a source on every call, so the
  // first key is always the least recently seen one (cheap LRU for eviction and GC).
  private readonly table = new Map<string, Entry>();
  private readonly clock: Clock;
  private readonly maxSources: number;
  private lastCollect: number;

  /** `clock` supplies monotonic time (Clock.now()). */
  constructor(clock: Clock, options: RateLimiterOptions = {}) {
    const maxSources = options.maxSources ?? DEFAULT_MAX_SOURCES;
    if (!Number.isInteger(maxSources) || maxSources < 1) {
      throw new RangeError("maxSources must be a positive integer");
    }
    this.clock = clock;
    this.maxSources = maxSources;
    this.lastCollect = clock.now();
  }

  /** Sources currently tracked. */
  get size(): number {
    return this.table.size;
  }

  /**
   * Charges one packet to `source` (the sender's IP address, without the port: an endpoint's
   * `host`) and returns whether it is within its budget. An IPv4-mapped IPv6 address
   * ("::ffff:192.0.2.1") counts as its IPv4 address, as wireguard-go's To4() makes it.
   */
  allow(source: string): boolean {
    const now = this.clock.now();
    if (now - this.lastCollect >= GARBAGE_COLLECT_TIME_MS) this.collect(now);
    const key = normalizeSource(source);
    const entry = this.table.get(key);

    if (entry === undefined) {
      if (this.table.size >= this.maxSources) this.evictOldest();
      // A new source is charged for this packet straight away.
      this.table.set(key, { lastTime: now, tokens: MAX_TOKENS - PACKET_COST });
      return true;
    }

    // Move to the back of the insertion order: most recently seen.
    this.table.delete(key);
    this.table.set(key, entry);

    // Refill by the time elapsed (never negative, should a clock misbehave), up to the cap.
    entry.tokens = Math.min(MAX_TOKENS, entry.tokens + Math.max(0, now - entry.lastTime));
    entry.lastTime = now;
    if (entry.tokens >= PACKET_COST) {
      entry.tokens -= PACKET_COST;
      return true;
    }
    return false;
  }

  /** Forgets every source. */
  clear(): void {
    this.table.clear();
  }

  /** Drops sources idle longer than GARBAGE_COLLECT_TIME_MS. */
  private collect(now: number): void {
    this.lastCollect = now;
    // Oldest first: stop at the first source that is still fresh, since all after it are too.
    for (const [key, entry] of this.table) {
      if (now - entry.lastTime <= GARBAGE_COLLECT_TIME_MS) break;
      this.table.delete(key);
    }
  }

  private evictOldest(): void {
    const oldest = this.table.keys().next();
    if (oldest.done !== true) this.table.delete(oldest.value);
  }
}

const MAPPED_IPV4 = /^::ffff:(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})$/i;

/** The key a source is tracked under: IPv4-mapped IPv6 folded to plain IPv4. */
function normalizeSource(source: string): string {
  // A cheap first-character test keeps the regex off the common IPv4 path.
  if (source.charCodeAt(0) !== 58 /* ":" */) return source;
  const m = MAPPED_IPV4.exec(source);
  return m?.[1] ?? source;
}
