// The options, counters, states and refusals of a ControlClient (client.ts).

import type { CryptoCore } from "../crypto/core.ts";
import type { X25519Provider } from "../crypto/x25519.ts";
import type { Clock } from "../wireguard/clock.ts";
import type { RandomBytes } from "../wireguard/cookie.ts";
import type { MapDiff } from "./map-diff.ts";
import type { MapState } from "./map-state.ts";
import type { Hostinfo, PeerSignalMessage } from "./messages.ts";
import type { ControlConnect } from "./socket.ts";

/** Options of a ControlClient. */
export interface ControlClientOptions {
  /** The map stream's URL: "wss://control.example.com/control". */
  url: string;
  /** This node's X25519 private key (WireGuard's): the hello proof uses it; it is never sent. */
  privateKey: Uint8Array;
  core: CryptoCore;
  x25519: X25519Provider;
  /** Opens a socket: browserControlSocket in a page or worker, nodeControlConnect() in Node. */
  connect: ControlConnect;
  /** What the node reports about its host at login. */
  hostinfo: Hostinfo;
  /** Register with this auth key (agents). */
  authKey?: string;
  /** Ask to be removed when the stream ends. */
  ephemeral?: boolean;
  /** Tags requested at registration. */
  tags?: string[];
  /**
   * The node's previous private key, when rotating: the login proves both keys and the
   * server keeps the node's id and addresses. Used on the first successful login only.
   */
  rotateFrom?: Uint8Array;
  clock?: Clock;
  random?: RandomBytes;
  /** First reconnect delay (default 1 s), doubling up to `backoffMaxMs` (default 60 s), jittered. */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** The server's keepalive interval (default 50 s): silence for 2.5 of them ends the stream. */
  keepaliveIntervalMs?: number;
  /** From connecting until the first map, `waiting` or refusal (default 30 s). */
  handshakeTimeoutMs?: number;
  /** After close 4409 (another stream of this node won): reconnect anyway (default false). */
  reconnectWhenReplaced?: boolean;
  /** Largest message accepted (default MAX_CONTROL_MESSAGE). */
  maxMessageBytes?: number;
  /** Each applied map or delta: what changed, and the state after it. */
  onMap(diff: MapDiff, state: MapState): void;
  /** The server waits for a person to approve this node at `approvalUrl`. */
  onWaiting?: (approvalUrl: string) => void;
  /**
   * A peer's WebRTC signal (docs/paths.md). Setting it lists the "signal" capability at login:
   * only then does the server pass signals to this node.
   */
  onSignal?: (message: PeerSignalMessage) => void;
  /** The server refused this node for good; the client has stopped. */
  onRefused?: (refusal: ControlRefusal) => void;
  /** The client's state changed. */
  onState?: (state: ControlClientState) => void;
}

/** Why the client stopped for good. */
export interface ControlRefusal {
  /**
   * The `refused` message's code, or "unauthenticated" (4401, or an upgrade answered 401),
   * "refused" (4403), "replaced" (4409), "forbidden" (upgrade 403), "not_found" (upgrade 404).
   */
  code: string;
  /** The `refused` message's sentence, or the close reason. */
  message: string;
  /** The close code that ended the stream (0 when the `refused` message came before it). */
  closeCode: number;
}

/** Where the client is. */
export type ControlClientState =
  | "new"
  | "connecting"
  | "waiting"
  | "ready"
  | "backoff"
  | "refused"
  | "closed";

/** Counters of a ControlClient; they only grow. */
export interface ControlClientStats {
  connectAttempts: number;
  /** Connections that opened (the server accepted the WebSocket). */
  opened: number;
  /** Logins that asked to resume ({session, seq}). */
  resumeRequests: number;
  /** Resumed logins answered with a delta (not a full map). */
  resumedWithDelta: number;
  fullMaps: number;
  deltas: number;
  keepalives: number;
  /** Deltas out of sequence or contradicting the map (each forces a full map). */
  sequenceErrors: number;
  /** Server messages the codec refused. */
  protocolErrors: number;
  keepaliveTimeouts: number;
  handshakeTimeouts: number;
  disconnects: number;
  updatesSent: number;
  /** WebRTC signals sent (ControlClient.signal). */
  signalsSent: number;
  /** Exceptions thrown by the caller's callbacks (caught, counted). */
  callbackErrors: number;
}

/** A ControlClientStats with every counter at zero. */
export function newControlClientStats(): ControlClientStats {
  return {
    connectAttempts: 0,
    opened: 0,
    resumeRequests: 0,
    resumedWithDelta: 0,
    fullMaps: 0,
    deltas: 0,
    keepalives: 0,
    sequenceErrors: 0,
    protocolErrors: 0,
    keepaliveTimeouts: 0,
    handshakeTimeouts: 0,
    disconnects: 0,
    updatesSent: 0,
    signalsSent: 0,
    callbackErrors: 0,
  };
}

/** Close code this client uses when the server went silent (handshake or keepalive). */
export const CLOSE_TIMEOUT = 4408;
