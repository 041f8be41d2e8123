// What a relay session (session.ts) needs from the relay server, and what it shares with the
// other sessions: metrics, logs, limits, the hello check, forwarding and the UDP bridge.

import type { RelayEndpoint } from "../../worker/relay/frames.ts";
import type { EventLevel, Logger } from "../log.ts";
import type { AuthResult } from "./auth.ts";
import type { HelloResult, RelayMetrics } from "./metrics.ts";
import type { RelayRate } from "./rate-limit.ts";
import type { RelaySession } from "./session.ts";

/** Bytes queued for sending across every session, and the cap on them. */
export interface QueueTotal {
  bytes: number;
  readonly maxBytes: number;
}

/** The result of checking a CLIENT_HELLO: proof, then authorization. */
export type HelloCheck = AuthResult | { ok: false; reason: string; result: HelloResult };

/** What a session needs from the relay server. */
export interface SessionHost {
  readonly metrics: RelayMetrics;
  /** The relay's logger (`component: "relay"`), for events that strangers cannot multiply. */
  readonly log: Logger;
  /**
   * Logs a per-connection event under the log rate limit (`kind` splits the budget, e.g. by
   * reason): strangers decide how many of these happen.
   */
  logLimited(level: EventLevel, event: string, kind: string, fields: Record<string, unknown>): void;
  readonly clock: () => number;
  readonly rate: RelayRate;
  /** Frames, and bytes, queued per client before its packets are dropped. */
  readonly queueLimit: number;
  readonly queueBytes: number;
  /** Bytes queued for all clients together, and their cap. */
  readonly queueTotal: QueueTotal;
  readonly helloTimeoutMs: number;
  /** Bytes one client's frames may bring before the others get a turn (read-share.ts). */
  readonly readBudget: number;
  readonly relayPublicKey: Uint8Array;
  /** The WELCOME frame every client gets. */
  readonly welcome: Uint8Array;
  /** Checks the proof over `challenge`, then authorization. */
  verifyHello(
    nodeKey: Uint8Array,
    proof: Uint8Array,
    token: string,
    challenge: Uint8Array,
  ): Promise<HelloCheck>;
  /**
   * The session is authenticated and has its WELCOME: register it (closing an older one with
   * the same key) and send it any current HEALTH.
   */
  admit(session: RelaySession): void;
  /** A SEND frame (the whole message, which the host may rewrite in place as RECV). */
  forward(from: RelaySession, message: Buffer, destination: Uint8Array): void;
  /** A SEND_UDP frame. */
  sendUdp(from: RelaySession, endpoint: RelayEndpoint, packet: Uint8Array): void;
  /** The session is over (called once, as soon as the relay closes it or the socket ends). */
  release(session: RelaySession): void;
}
