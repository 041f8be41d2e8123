// Which relay is a node's home (issue 18, DESIGN §3): the pure decision RelaySet
// (relay-set.ts) makes from what it measured. Kept apart from sockets and timers so the rules
// are tested alone: start where the control server last heard the node (a restart keeps its
// peers' maps right), else at the lowest measured round trip; move only for a relay that is
// clearly better (at least 10 ms AND a third faster: measurements jitter, and every move costs
// the node's peers a map update and a new connection); leave at once a home that is gone from
// the list or down, for the next best.

/** A switch for latency needs at least this many milliseconds gained... */
export const SWITCH_MIN_GAIN_MS = 10;
/** ...and the candidate's round trip at most this fraction of the current one (a third faster). */
export const SWITCH_MAX_RATIO = 2 / 3;

/** What the choice knows of each listed relay. */
export interface HomeChoiceInput {
  /** The relay ids of the map, in the order it lists them. */
  listed: readonly string[];
  /** The home in use, if any. */
  current: string | undefined;
  /**
   * The last probe's answer per relay: a round trip in ms, or null when the probe found it
   * unreachable. Missing: not measured yet.
   */
  rtt: ReadonlyMap<string, number | null>;
  /** Relays the node failed over from (not connected long enough, refused): last resort only. */
  down: ReadonlySet<string>;
  /**
   * True while the current home was taken without a measurement (the first listed relay,
   * before any probe answered): the first measured choice then takes the fastest outright.
   */
  provisional?: boolean;
}

/** Why the choice is what it is. */
export type HomeReason = "kept" | "first" | "latency" | "failover";

/** The relay to be home and why; undefined only when nothing is listed. */
export interface HomeChoice {
  id: string;
  reason: HomeReason;
}

/** True when `candidateMs` is clearly better than `currentMs`: both thresholds of the issue. */
export function clearlyBetter(candidateMs: number, currentMs: number): boolean {
  return (
    currentMs - candidateMs >= SWITCH_MIN_GAIN_MS && candidateMs <= currentMs * SWITCH_MAX_RATIO
  );
}

/**
 * The listed relays best first: measured ones by round trip, then unmeasured ones, then ones
 * the probe found unreachable (each in listed order), and last the ones failed over from.
 */
export function rankRelays(input: Omit<HomeChoiceInput, "current" | "provisional">): string[] {
  const rank = (id: string): number => {
    if (input.down.has(id)) return 3;
    const rtt = input.rtt.get(id);
    if (rtt === undefined) return 1;
    return rtt === null ? 2 : 0;
  };
  const order = new Map(input.listed.map((id, i) => [id, i]));
  return [...input.listed].sort((a, b) => {
    const ra = rank(a);
    const rb = rank(b);
    if (ra !== rb) return ra - rb;
    if (ra === 0) {
      const d = (input.rtt.get(a) as number) - (input.rtt.get(b) as number);
      if (d !== 0) return d;
    }
    return (order.get(a) ?? 0) - (order.get(b) ?? 0);
  });
}

/**
 * The first home: the relay the control server last heard (`reported`) when the map still
 * lists it, else the best ranked (the first listed before any probe answered).
 */
export function firstHome(
  input: Omit<HomeChoiceInput, "current" | "provisional">,
  reported: string | undefined,
): HomeChoice | undefined {
  if (reported !== undefined && reported !== "" && input.listed.includes(reported)) {
    return { id: reported, reason: "first" };
  }
  const best = rankRelays(input)[0];
  return best === undefined ? undefined : { id: best, reason: "first" };
}

/**
 * The home from now on. A current home that is listed and not down is kept unless another
 * relay is clearly better (or, while provisional, simply measured faster); one that is gone or
 * down gives way to the best ranked other relay ("failover"), itself when there is none.
 */
export function chooseHome(input: HomeChoiceInput): HomeChoice | undefined {
  const ranked = rankRelays(input);
  const best = ranked[0];
  if (best === undefined) return undefined;
  const current = input.current;
  if (current === undefined) return { id: best, reason: "first" };
  if (!input.listed.includes(current) || input.down.has(current)) {
    const other = ranked.find((id) => id !== current) ?? best;
    return { id: other, reason: other === current ? "kept" : "failover" };
  }
  if (best === current) return { id: current, reason: "kept" };
  const bestMs = input.rtt.get(best);
  if (typeof bestMs !== "number") return { id: current, reason: "kept" };
  const currentMs = input.rtt.get(current);
  // Unmeasured or unanswered probes never move a home that is connected: the connection
  // itself is the better evidence (failover watches it), except for an unmeasured first pick.
  if (typeof currentMs !== "number") {
    return input.provisional ? { id: best, reason: "latency" } : { id: current, reason: "kept" };
  }
  if (input.provisional ? bestMs < currentMs : clearlyBetter(bestMs, currentMs)) {
    return { id: best, reason: "latency" };
  }
  return { id: current, reason: "kept" };
}
