// The options of RelaySet (relay-set.ts): the node's key and platform pieces, and the timings
// of its home relay choice (probes, failover) and of its connections to peers' home relays.

import type { RelayInfo } from "../control/types.ts";
import type { CryptoCore } from "../crypto/core.ts";
import type { X25519Provider } from "../crypto/x25519.ts";
import type { Clock } from "../wireguard/clock.ts";
import type { HomeReason } from "./home-choice.ts";
import type { RelayConnect } from "./socket.ts";

/** What a RelaySet is made of. */
export interface RelaySetOptions {
  /** The node's X25519 private key (proved to every relay, never sent). */
  privateKey: Uint8Array;
  core: CryptoCore;
  x25519: X25519Provider;
  connect: RelayConnect;
  clock?: Clock;
  /** Reconnect backoff of each connection (RelayBind's defaults when absent). */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** A connection other than the home's closes after this long without a send (60 s). */
  idleMs?: number;
  /**
   * Measures a relay's round trip in ms (the agent's STUN probe). Undefined, or no probe,
   * lets the set measure it itself: a PING over its connection there, else over a short-lived
   * one (hello with the token, PING, close).
   */
  probe?: (relay: RelayInfo) => Promise<number | undefined>;
  /** How long one probe may take (default 5 s); a relay that never answers costs this. */
  probeTimeoutMs?: number;
  /** Every relay is probed again after this long, jittered by ±25% (default 60 s). */
  probeIntervalMs?: number;
  /** The home not connected for this long: the next best relay becomes home (default 3 s). */
  failoverMs?: number;
  /**
   * The home changed (latency, failover, the map dropped it). Not called for the first
   * choice: read `home` after open() for that one.
   */
  onHome?: (relay: RelayInfo, reason: HomeReason) => void;
}
