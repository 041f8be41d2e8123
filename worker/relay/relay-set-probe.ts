// How RelaySet (relay-set.ts) measures its relays: the caller's probe (the agent's STUN) first;
// when that gives nothing, a PING on the
// connection it already holds there, else a short-lived RelayBind (hello with the mesh's
// token, one PING, close). A second connection with the node's key would replace the first
// one (the relay keeps the newest, closing the older with 4409), which is why a relay that
// already has a connection is only ever measured through it, and why a probe's own connection
// ends as soon as the set opens one there (the probe then goes on over the set's).

import type { RelayInfo } from "../control/types.ts";
import type { Clock, TimerHandle } from "../wireguard/clock.ts";
import { RelayBind } from "./client.ts";
import type { RelayBindOptions } from "./client-options.ts";

/** Resolves with `work`'s value, or `fallback` once `ms` passed first; never rejects. */
export function withTimeout<T, F>(
  clock: Clock,
  work: Promise<T>,
  ms: number,
  fallback: F,
): Promise<T | F> {
  let timer: TimerHandle | undefined;
  const late = new Promise<F>((resolve) => {
    timer = clock.setTimer(ms, () => resolve(fallback));
  });
  return Promise.race([work.catch(() => fallback), late]).finally(() => timer?.cancel());
}

/** The round trip of one PING on an existing connection, once it is open; null if it fails. */
export async function pingOver(bind: RelayBind, opened: Promise<void>): Promise<number | null> {
  try {
    await opened;
    return await bind.ping();
  } catch {
    return null;
  }
}

/**
 * The round trip of one PING on a connection made for it and closed after, within
 * `timeoutMs` (hello included); null when the relay does not welcome and answer in time.
 */
export async function pingFresh(
  options: RelayBindOptions,
  clock: Clock,
  timeoutMs: number,
  /** Holds the probe's connection while it lives, so its owner can close it early. */
  live?: Set<RelayBind>,
  /** Settles when the probe is to stop at once (null), its connection closed. */
  abandon?: Promise<unknown>,
): Promise<number | null> {
  let bind: RelayBind | undefined;
  try {
    bind = new RelayBind({ ...options, clock, helloTimeoutMs: timeoutMs, onWarning: () => {} });
    const probe = bind;
    live?.add(probe);
    const work = (async () => {
      await probe.open(() => {});
      return probe.ping();
    })();
    const bounded = withTimeout(clock, work, timeoutMs, null);
    return await (abandon === undefined
      ? bounded
      : Promise.race([bounded, abandon.then(() => null)]));
  } catch {
    return null;
  } finally {
    if (bind !== undefined) live?.delete(bind);
    await bind?.close();
  }
}

/** What RelayProber needs of its set. */
export interface RelayProberOptions {
  clock: Clock;
  /** Every relay again after this long, jittered by ±25%. */
  intervalMs: number;
  /** How long one probe may take. */
  timeoutMs: number;
  /** The caller's probe (STUN); undefined from it lets the prober PING the relay. */
  probe?: (relay: RelayInfo) => Promise<number | undefined>;
  /** The set's connection to relay `id`, if it holds one. */
  connectionOf: (id: string) => { bind: RelayBind; opened: Promise<void> } | undefined;
  /** Options for a short-lived connection to `relay`. */
  bindOptions: (relay: RelayInfo) => RelayBindOptions;
  /** A probe's answer: a round trip in ms, or null when the relay did not answer. */
  onResult: (relay: RelayInfo, rttMs: number | null) => void;
}

/**
 * Probes relays on a jittered interval, at most one probe in flight per relay, each bounded
 * by the timeout. Answers that come after close() are dropped.
 */
export class RelayProber {
  private readonly probing = new Set<string>();
  private readonly nextProbe = new Map<string, number>();
  /** Short-lived probe connections in flight (closed with the prober). */
  private readonly binds = new Set<RelayBind>();
  /** Relay id -> ends the probe's own connection there (see connectionOpened). */
  private readonly fresh = new Map<string, () => void>();
  private closed = false;

  constructor(private readonly options: RelayProberOptions) {}

  /** Starts the probes of `relays` that are due (all of them the first time). */
  runDue(relays: readonly RelayInfo[]): void {
    if (this.closed) return;
    const now = this.options.clock.now();
    const listed = new Set(relays.map((relay) => relay.id));
    for (const id of this.nextProbe.keys()) if (!listed.has(id)) this.nextProbe.delete(id);
    for (const relay of relays) {
      const due = this.nextProbe.get(relay.id) ?? now;
      if (due > now || this.probing.has(relay.id)) continue;
      const jitter = 0.75 + Math.random() * 0.5;
      this.nextProbe.set(relay.id, now + this.options.intervalMs * jitter);
      void this.probe(relay);
    }
  }

  /**
   * The set opened its own connection to relay `id`. A probe's connection there in flight
   * ends now: the relay keeps one connection per key, and the probe's would otherwise close
   * the set's (4409) or be closed by it and count the relay unreachable. That probe then
   * measures over the set's connection, within what is left of its timeout.
   */
  connectionOpened(id: string): void {
    this.fresh.get(id)?.();
  }

  /** Stops probing and closes the probes' own connections. */
  async close(): Promise<void> {
    this.closed = true;
    const binds = [...this.binds];
    this.binds.clear();
    await Promise.all(binds.map((bind) => bind.close()));
  }

  private async probe(relay: RelayInfo): Promise<void> {
    const { clock, timeoutMs } = this.options;
    this.probing.add(relay.id);
    try {
      let rtt: number | null | undefined;
      const custom = this.options.probe;
      if (custom !== undefined) rtt = await withTimeout(clock, custom(relay), timeoutMs, undefined);
      if (rtt === undefined && !this.closed) {
        const started = clock.now();
        let conn = this.options.connectionOf(relay.id);
        if (conn === undefined) {
          let handOver = () => {};
          const handedOver = new Promise<void>((resolve) => {
            handOver = resolve;
          });
          this.fresh.set(relay.id, handOver);
          try {
            rtt = await pingFresh(
              { ...this.options.bindOptions(relay), onFatal: undefined },
              clock,
              timeoutMs,
              this.binds,
              handedOver,
            );
          } finally {
            this.fresh.delete(relay.id);
          }
          // Handed over (or the set connected meanwhile): its connection answers instead.
          if (rtt === null && !this.closed) conn = this.options.connectionOf(relay.id);
        }
        const left = timeoutMs - (clock.now() - started);
        if (conn !== undefined && left > 0) {
          rtt = await withTimeout(clock, pingOver(conn.bind, conn.opened), left, null);
        }
      }
      if (!this.closed) this.options.onResult(relay, rtt ?? null);
    } finally {
      this.probing.delete(relay.id);
    }
  }
}
