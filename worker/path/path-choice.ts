// The rules of path choice (docs/paths.md), kept apart from the Bind that applies them so they
// can be tested alone: which direct endpoint to use (if any), and when to probe a peer next.

/** What PathBind knows about one UDP endpoint of a peer. */
export interface CandidateState {
  /** The endpoint's key ("ip:port"). */
  key: string;
  /** Monotonic time of the last authenticated pong from it; -Infinity when never. */
  lastPong: number;
  /** Smoothed round trip (ms), null before the first pong. */
  rttMs: number | null;
  /** A WebRTC data channel (channel-bind.ts) rather than a UDP endpoint: the channel timings. */
  channel?: boolean;
}

/** Timings of path choice and probing. */
export interface PathTimings {
  /** A direct endpoint is used while its last pong is at most this old (ms). */
  trustMs: number;
  /** Probe interval while no direct endpoint is confirmed (ms). */
  probeMs: number;
  /** Probe interval while a direct endpoint is in use (ms): keeps it confirmed. */
  directProbeMs: number;
  /** The longest interval for a peer that never answers on any direct endpoint (ms). */
  maxBackoffMs: number;
  /** Rounds without an answer before the interval starts to double. */
  backoffAfter: number;
  /** The trust window of a data channel (ms): shorter, as a page's path must switch in <= 3 s. */
  channelTrustMs: number;
  /** Probe interval while a data channel is in use (ms): three probes per trust window. */
  channelProbeMs: number;
  /**
   * A data channel whose last pong is older than this (ms: a probe overdue) is in doubt: packets
   * go over it and, copied, through the relay until a pong comes (WireGuard drops the duplicate
   * as a replay), so a cut costs about this long rather than the whole trust window.
   */
  channelDoubtMs: number;
}

/**
 * Defaults: the trust window is one direct interval (5 s) plus slack for the round trip, so a
 * working path never lapses; a lost pong moves packets to the relay until the re-probe answers.
 */
export const DEFAULT_TIMINGS: PathTimings = {
  trustMs: 6500,
  probeMs: 2000,
  directProbeMs: 5000,
  maxBackoffMs: 30_000,
  backoffAfter: 3,
  channelTrustMs: 2200,
  channelProbeMs: 700,
  channelDoubtMs: 1000,
};

/** True when `candidate` answered recently enough to carry traffic. */
export function trusted(candidate: CandidateState, now: number, timings: PathTimings): boolean {
  return (
    now - candidate.lastPong <=
    (candidate.channel === true ? timings.channelTrustMs : timings.trustMs)
  );
}

/**
 * "Clearly better": a switch between two working direct endpoints costs little but flapping
 * between two similar ones helps nobody, so the newcomer must save at least 30% and 5 ms.
 */
export function clearlyBetter(candidate: number, current: number): boolean {
  return candidate < current * 0.7 && current - candidate >= 5;
}

/**
 * The direct endpoint to use: the current one while it is trusted, unless another trusted one
 * is clearly faster; else the fastest trusted one; undefined when none is trusted (the relay).
 */
export function chooseDirect<C extends CandidateState>(
  candidates: Iterable<C>,
  current: C | undefined,
  now: number,
  timings: PathTimings,
): C | undefined {
  let fastest: C | undefined;
  for (const c of candidates) {
    if (!trusted(c, now, timings)) continue;
    if (fastest === undefined || (c.rttMs ?? Infinity) < (fastest.rttMs ?? Infinity)) fastest = c;
  }
  if (current === undefined || !trusted(current, now, timings)) return fastest;
  if (fastest !== undefined && fastest !== current) {
    const a = fastest.rttMs;
    const b = current.rttMs;
    if (a !== null && b !== null && clearlyBetter(a, b)) return fastest;
  }
  return current;
}

/**
 * The delay before a peer's next probe round: `direct` when a direct endpoint is in use
 * (`channel` when that endpoint is a data channel, probed more often).
 */
export function nextProbeDelay(
  direct: boolean,
  unansweredRounds: number,
  timings: PathTimings,
  channel = false,
): number {
  if (direct) return channel ? timings.channelProbeMs : timings.directProbeMs;
  const doublings = Math.max(0, unansweredRounds - timings.backoffAfter);
  return Math.min(timings.maxBackoffMs, timings.probeMs * 2 ** Math.min(doublings, 16));
}

/** Folds a new round-trip sample into the smoothed value (RFC 6298's alpha of 1/8). */
export function smoothRtt(previous: number | null, sample: number): number {
  return previous === null ? sample : previous + (sample - previous) / 8;
}
