// A peer (wireguard-go's device/peer.go): its keys and configuration, session keypairs,
// handshake state, cookie generator, timers, staged packets and statistics.

import type { Endpoint } from "./bind.ts";
import { QUEUE_STAGED_SIZE } from "./constants.ts";
import type { CookieGenerator } from "./cookie.ts";
import { Keypairs } from "./keypair.ts";
import type { InitiatorHandshake } from "./noise.ts";
import type { PeerTimers } from "./timers.ts";

/** Per-peer statistics, as `wg show` reports them. */
export interface PeerStats {
  publicKey: Uint8Array;
  endpoint: string | undefined;
  /** Wall-clock ms of the last completed handshake; 0 = never. */
  lastHandshake: number;
  /** Bytes of UDP payload received and sent (transport and handshake messages). */
  rxBytes: number;
  txBytes: number;
  allowedIps: string[];
  persistentKeepalive: number;
}

/** A peer's state. The device owns and mutates it. */
export class Peer {
  readonly keypairs: Keypairs;
  endpoint: Endpoint | undefined;
  presharedKey: Uint8Array;
  /** DH(our static private, its static public), computed once. */
  staticShared: Uint8Array;
  /** The initiation in flight (ours), if any. */
  handshake: InitiatorHandshake | undefined;
  /** Monotonic ms of our last initiation sent (rate limit), or -Infinity. */
  lastInitiationSent = Number.NEGATIVE_INFINITY;
  /** The newest TAI64N we accepted from it (replay protection), and when (flood protection). */
  lastTimestamp: Uint8Array = new Uint8Array(12);
  lastInitiationReceived = Number.NEGATIVE_INFINITY;
  /** Set once the receive path saw our keypair older than 165 s (rekey once per keypair). */
  sentLastMinuteHandshake = false;
  /** Packets waiting for a session, oldest first, bounded. */
  readonly staged: Uint8Array[] = [];
  lastHandshakeWall = 0;
  rxBytes = 0;
  txBytes = 0;
  removed = false;
  timers!: PeerTimers;
  cookies!: CookieGenerator;

  constructor(
    readonly publicKey: Uint8Array,
    /** The public key as base64, its name in logs and maps. */
    readonly id: string,
    presharedKey: Uint8Array,
    staticShared: Uint8Array,
    release: (keypairIndex: number) => void,
  ) {
    this.presharedKey = presharedKey;
    this.staticShared = staticShared;
    this.keypairs = new Keypairs((keypair) => release(keypair.localIndex));
  }

  /** Queues a packet until a session exists; the oldest are dropped past the bound. */
  stage(packet: Uint8Array): number {
    this.staged.push(packet);
    let dropped = 0;
    while (this.staged.length > QUEUE_STAGED_SIZE) {
      this.staged.shift();
      dropped++;
    }
    return dropped;
  }
}
