// The home relay a node reports on its map stream (`update {homeRelay}`, DESIGN §3): peers send
// to the receiver's home relay, so an id the map does not list (made up, or a relay that was
// removed from the deployment) would send them to a relay nobody runs. Such a report is ignored:
// never stored, never fanned out; it is counted and logged with the node, once per stream.

import type { Logger } from "pino";

/** A map stream as the check sees it. */
export interface HomeRelayReporter {
  nodeId?: number;
  /** Reports of this stream ignored so far. */
  badHomeRelays?: number;
}

/** Checks reported home relays against the ids of the map's relays. */
export class HomeRelayCheck {
  private readonly ids: ReadonlySet<string>;
  private ignoredCount = 0;

  constructor(
    relayIds: readonly string[],
    private readonly log?: Logger,
  ) {
    this.ids = new Set(relayIds);
  }

  /** Reports ignored since the start (all streams). */
  get ignored(): number {
    return this.ignoredCount;
  }

  /**
   * The report of `stream` to apply: `homeRelay` when the map lists it, "" (none) or undefined
   * (not reported) as given; undefined for an id the map does not list (the stream's first such
   * is logged).
   */
  check(stream: HomeRelayReporter, homeRelay: string | undefined): string | undefined {
    if (homeRelay === undefined || homeRelay === "" || this.ids.has(homeRelay)) return homeRelay;
    this.ignoredCount++;
    stream.badHomeRelays = (stream.badHomeRelays ?? 0) + 1;
    if (stream.badHomeRelays === 1) {
      this.log?.warn(
        { node: stream.nodeId, homeRelay: homeRelay.slice(0, 64) },
        "update: home relay not in the map, ignored",
      );
    }
    return undefined;
  }
}
