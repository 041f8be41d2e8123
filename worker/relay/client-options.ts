// The options, counters and states of a RelayBind (worker/relay/client.ts).

import type { CryptoCore } from "../crypto/core.ts";
import type { X25519Provider } from "../crypto/x25519.ts";
import type { Endpoint } from "../wireguard/bind.ts";
import type { Clock } from "../wireguard/clock.ts";
import type { RandomBytes } from "../wireguard/cookie.ts";
import type { RelayConnect } from "./socket.ts";

/** Options of a RelayBind. */
export interface RelayBindOptions {
  /**
   * The relay's WebSocket URL, e.g. "wss://relay.example/relay". A fragment
   * `#key=<relay public key, base64>` pins the relay's static key (relay-url.ts).
   */
  url: string;
  /**
   * The relay's X25519 public key when known apart from the URL (e.g. the control server's
   * relay map): SERVER_HELLO with another key ends the bind before any proof is sent.
   */
  relayKey?: Uint8Array;
  /** This node's X25519 private key (the proof of possession uses it; it is never sent). */
  privateKey: Uint8Array;
  core: CryptoCore;
  x25519: X25519Provider;
  /** The control server's relay token; empty or absent when the relay needs none. */
  token?: string;
  /** Opens a socket: browserSocket in a page or worker, nodeRelayConnect() in Node. */
  connect: RelayConnect;
  clock?: Clock;
  random?: RandomBytes;
  /** First reconnect delay (default 250 ms), doubling up to `backoffMaxMs` (default 30 s). */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** Frames kept while disconnected (default 256); the oldest are dropped beyond it. */
  maxQueue?: number;
  /** Keepalive PING interval (default 15 s) and how long to wait for its PONG (default 10 s). */
  pingIntervalMs?: number;
  pingTimeoutMs?: number;
  /** How long a connection may take to reach WELCOME (default 10 s). */
  helloTimeoutMs?: number;
  /** Above this many buffered bytes, sends are dropped (default 4 MiB). */
  maxBufferedBytes?: number;
  /**
   * Several packets per WebSocket message both ways (FEATURES and BATCH, batch.ts) with a
   * relay that offers it (default true). False keeps one message per packet.
   */
  batching?: boolean;
  /** Called for each PEER_GONE: the peer's key (base64) and reason (0 gone, 1 not here). */
  onPeerGone?: (key: string, reason: number) => void;
  /**
   * Called for each UDP_ERROR: the relay's bridge refused, or saw bounced, datagrams to a stock
   * WireGuard host; `endpoint` is the bind's Endpoint for it ("ip:port"), `reason` one of
   * frames.ts UDP_REFUSED_* / UDP_UNREACHABLE (other values from a newer relay may come).
   */
  onUdpError?: (endpoint: Endpoint, reason: number) => void;
  /** Called with HEALTH text ("" = healthy again). */
  onHealth?: (text: string) => void;
  /**
   * Called at each WELCOME: the first one, and every one after a reconnect (open() resolves
   * only once, so this is how a holder learns the connection is back).
   */
  onReady?: () => void;
  /**
   * Called when the relay refuses us for good (close 4401, upgrade answered 404/401/403) or
   * shows an unpinned key.
   */
  onFatal?: (error: Error) => void;
  /**
   * Called once, at open(), when the relay is reached unencrypted over a network (ws:// to a
   * host that is not loopback). Default: console.warn.
   */
  onWarning?: (text: string) => void;
}

/** Counters of a RelayBind; they only grow. */
export interface RelayBindStats {
  connectAttempts: number;
  welcomes: number;
  disconnects: number;
  sent: number;
  sentBytes: number;
  received: number;
  receivedBytes: number;
  /** Frames queued while disconnected, and those dropped (oldest first) from a full queue. */
  queued: number;
  queueDropped: number;
  /** Sends refused: closed, too big, bad endpoint, or the socket's buffer over its bound. */
  sendDropped: number;
  peerGone: number;
  /** UDP_ERROR frames received. */
  udpErrors: number;
  invalidFrames: number;
  pings: number;
  pongs: number;
  keepaliveTimeouts: number;
  restarting: number;
  receiveErrors: number;
}

/** A RelayBindStats with every counter at zero. */
export function newRelayBindStats(): RelayBindStats {
  return {
    connectAttempts: 0,
    welcomes: 0,
    disconnects: 0,
    sent: 0,
    sentBytes: 0,
    received: 0,
    receivedBytes: 0,
    queued: 0,
    queueDropped: 0,
    sendDropped: 0,
    peerGone: 0,
    udpErrors: 0,
    invalidFrames: 0,
    pings: 0,
    pongs: 0,
    keepaliveTimeouts: 0,
    restarting: 0,
    receiveErrors: 0,
  };
}

/** Where the bind is; "failed" is final: refused for good, the reason in lastError. */
export type RelayBindState = "new" | "connecting" | "ready" | "waiting" | "failed" | "closed";
