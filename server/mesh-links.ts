// A Node mesh node's two links to the service, made the same way by MeshNode (userspace) and
// TunNode (a host interface): the map stream's client (ControlClient over `ws`) and the relays
// (a RelaySet: the home relay chosen by the agents' STUN probe, each peer's home relay for
// sending to it, every connection pinned to the key the map gives). Kept in one place so that
// both kinds of node log in with the same host facts and pick their relays by the same rule.

import { hostname as osHostname } from "node:os";

import {
  ControlClient,
  type ControlClientState,
  type ControlRefusal,
} from "../worker/control/client.ts";
import type { MapState } from "../worker/control/map-state.ts";
import type { Hostinfo, PeerSignalMessage } from "../worker/control/messages.ts";
import type { ControlConnect } from "../worker/control/socket.ts";
import type { RelayInfo } from "../worker/control/types.ts";
import type { CryptoCore } from "../worker/crypto/index.ts";
import type { HomeReason } from "../worker/relay/home-choice.ts";
import { RelaySet, type RelaySetOptions } from "../worker/relay/relay-set.ts";
import type { RelayConnect } from "../worker/relay/socket.ts";
import type { Clock } from "../worker/wireguard/clock.ts";
import { stunRelayProbe } from "./agent/relay-probe.ts";
import { nodeControlConnect } from "./control/control-socket-node.ts";
import { nodeX25519 } from "./crypto/x25519-node.ts";
import { nodeRelayConnect } from "./relay/ws-node.ts";

// The relay rules every node follows (the browser engine's too): worker/mesh/mesh-plane.ts.
export { homeRelayOf as chooseRelay, sameRelay } from "../worker/mesh/mesh-plane.ts";

/** What a node's map stream client is made from. */
export interface NodeControlOptions {
  controlUrl: string;
  privateKey: Uint8Array;
  core: CryptoCore;
  authKey?: string;
  /** Reported at login (default: this machine's host name). */
  hostname?: string;
  /** Reported at login (default: process.platform). */
  os?: string;
  /** More host facts for the login (SSH host keys, SSH users). */
  hostinfoExtras?: Omit<Hostinfo, "hostname" | "os">;
  ephemeral?: boolean;
  tags?: string[];
  /** The node's previous private key: the login moves its id, name and addresses to this key. */
  rotateFrom?: Uint8Array;
  clock?: Clock;
  /** Opens the stream's socket (default: the `ws` package). */
  controlConnect?: ControlConnect;
  /** Each map or delta applied: the node brings itself to `state`. */
  onMap: (state: MapState) => void;
  onWaiting?: (approvalUrl: string) => void;
  onRefused?: (refusal: ControlRefusal) => void;
  onState?: (state: ControlClientState) => void;
  /** Peers' WebRTC signals (given: the login lists the "signal" capability). */
  onSignal?: (message: PeerSignalMessage) => void;
}

/** The map stream's client of a Node mesh node. */
export function nodeControlClient(options: NodeControlOptions): ControlClient {
  return new ControlClient({
    url: options.controlUrl,
    privateKey: options.privateKey,
    core: options.core,
    x25519: nodeX25519,
    connect: options.controlConnect ?? nodeControlConnect(),
    hostinfo: {
      hostname: options.hostname ?? osHostname(),
      os: options.os ?? process.platform,
      ...options.hostinfoExtras,
    },
    authKey: options.authKey,
    ephemeral: options.ephemeral,
    tags: options.tags,
    rotateFrom: options.rotateFrom,
    clock: options.clock,
    onMap: (_diff, state) => options.onMap(state),
    onWaiting: options.onWaiting,
    onRefused: options.onRefused,
    onState: options.onState,
    onSignal: options.onSignal,
  });
}

/** What a node's relays are made from (besides the map's relays, token and peers). */
export interface NodeRelayOptions {
  privateKey: Uint8Array;
  core: CryptoCore;
  /** Opens relay sockets (default: the `ws` package). */
  relayConnect?: RelayConnect;
  clock?: Clock;
  /** Reconnect backoff of each connection (RelayBind's defaults when absent). */
  relayBackoffBaseMs?: number;
  relayBackoffMaxMs?: number;
  /**
   * How the home relay is measured and left: RelaySet's defaults, except the probe, which is
   * the relay's STUN listener (server/agent/relay-probe.ts) unless one is given here.
   */
  relays?: Pick<
    RelaySetOptions,
    "probe" | "probeTimeoutMs" | "probeIntervalMs" | "failoverMs" | "idleMs"
  >;
  /** The home relay changed (not called for the first choice: read `home`). */
  onHome?: (relay: RelayInfo, reason: HomeReason) => void;
}

/** A node's relays: not connected until opened (update() it with the first map before). */
export function nodeRelaySet(options: NodeRelayOptions): RelaySet {
  return new RelaySet({
    probe: stunRelayProbe(),
    ...options.relays,
    privateKey: options.privateKey,
    core: options.core,
    x25519: nodeX25519,
    connect: options.relayConnect ?? nodeRelayConnect(),
    clock: options.clock,
    backoffBaseMs: options.relayBackoffBaseMs,
    backoffMaxMs: options.relayBackoffMaxMs,
    onHome: options.onHome,
  });
}
