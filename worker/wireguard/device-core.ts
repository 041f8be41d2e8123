// What the device's parts (handshake.ts, timers, transport) share: the device implements
// this, and the parts see only this much of it.

import type { Bind, Endpoint } from "./bind.ts";
import type { Clock } from "./clock.ts";
import type { CookieChecker } from "./cookie.ts";
import type { IndexTable } from "./index-table.ts";
import type { Keypair } from "./keypair.ts";
import type { KeyPair, NoiseCrypto } from "./noise.ts";
import type { Peer } from "./peer.ts";
import type { RateLimiter } from "./ratelimiter.ts";

/** What a local index names: a handshake in flight (no keypair yet) or a session. */
export interface IndexEntry {
  peer: Peer;
  keypair?: Keypair;
}

/** Why the device dropped or answered something; counted in Device.counters. */
export type DeviceEvent =
  | "invalidMessage"
  | "badMac1"
  | "cookieReplySent"
  | "cookieReplyReceived"
  | "badCookieReply"
  | "rateLimited"
  | "badInitiation"
  | "badResponse"
  | "staleTimestamp"
  | "initiationFlood"
  | "unknownReceiver"
  | "expiredKeypair"
  | "authenticationFailed"
  | "replayed"
  | "noRoute"
  | "tooBig"
  | "noEndpoint"
  | "stagedDropped"
  | "badInnerPacket"
  | "sourceNotAllowed"
  | "handshakeError";

/** The device as its parts see it. */
export interface DeviceCore {
  readonly clock: Clock;
  readonly noise: NoiseCrypto;
  readonly staticKey: KeyPair;
  readonly bind: Bind;
  readonly indices: IndexTable<IndexEntry>;
  readonly cookieChecker: CookieChecker;
  readonly rateLimiter: RateLimiter;
  /** Counters at or beyond this may not be sent (REJECT_AFTER_MESSAGES, as a number). */
  readonly rejectAfterMessages: number;
  newEphemeral(): Promise<KeyPair>;
  peerByKey(publicKey: Uint8Array): Peer | undefined;
  /** Sends a handshake message to the peer's endpoint and counts its bytes. */
  sendTo(peer: Peer, message: Uint8Array): void;
  /** The address and big-endian port of an endpoint, as cookies bind them. */
  sourceBytes(from: Endpoint): Uint8Array;
  underLoad(): boolean;
  count(event: DeviceEvent): void;
  /** Sends what the peer has staged if it has a usable session; true if anything went. */
  flushStaged(peer: Peer): boolean;
  sendKeepalive(peer: Peer): void;
}
