// When the relay client tries again: exponential backoff with "equal jitter" after a lost
// connection, or the schedule a RESTARTING frame announced (spread over up to a second so a
// restarted relay does not get every client in the same millisecond).

import type { RandomBytes } from "../wireguard/cookie.ts";

/** Where the reconnect schedule is: failed attempts in a row, and any announced restart. */
export interface BackoffState {
  attempt: number;
  /** RESTARTING's window: come back from `at` and keep trying until `until` (ms). */
  restart: { at: number; until: number } | undefined;
}

/** Backoff limits: the first ceiling, doubling up to the maximum. */
export interface BackoffLimits {
  baseMs: number;
  maxMs: number;
}

/** A uniform number in [0, 1) from the random source. */
export function uniformFraction(random: RandomBytes): number {
  const r = random(2);
  return ((r[0]! << 8) | r[1]!) / 65536;
}

/** The delay before the next attempt at `now`; advances `state` (attempt count, restart). */
export function reconnectDelay(
  state: BackoffState,
  now: number,
  limits: BackoffLimits,
  fraction: () => number,
): number {
  const restart = state.restart;
  let delay: number;
  if (restart !== undefined && now < restart.at) {
    // The relay told us when to come back; spread the herd over up to a second of it.
    const spread = Math.min(1000, (restart.until - restart.at) / 2);
    delay = restart.at - now + spread * fraction();
    state.attempt = 0;
  } else {
    if (restart !== undefined && now >= restart.until) state.restart = undefined;
    const ceiling = Math.min(limits.maxMs, limits.baseMs * 2 ** Math.min(state.attempt, 30));
    state.attempt++;
    delay = ceiling / 2 + (ceiling / 2) * fraction(); // "equal jitter": [ceiling/2, ceiling)
    if (state.restart !== undefined) delay = Math.min(delay, state.restart.until - now);
  }
  return Math.max(0, delay);
}
