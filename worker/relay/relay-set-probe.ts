// How RelaySet (relay-set.ts) measures a relay when no better probe answers: a PING on the
// connection it already holds there, else a short-lived RelayBind (hello with the mesh's
// token, one PING, close). A second connection with the node's key would replace the first
// one (the relay keeps the newest, closing the older with 4409), which is why a relay that
// already has a connection is only ever measured through it.

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
    return await withTimeout(clock, work, timeoutMs, null);
  } catch {
    return null;
  } finally {
    if (bind !== undefined) live?.delete(bind);
    await bind?.close();
  }
}
