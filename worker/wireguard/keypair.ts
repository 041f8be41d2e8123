// Session keys (wireguard-go's device/keypair.go): each completed handshake yields a keypair;
// a peer holds up to three — previous, current, next — and moves between them by the rules
// of the paper §5.4.6 (see Keypairs).

import { ReplayFilter } from "./replay.ts";

/** One session: send and receive keys, counters, and the indices that name it on the wire. */
export class Keypair {
  /** Next counter to send with. Numbers are exact to 2^53, beyond any real session. */
  sendCounter = 0;
  readonly replay = new ReplayFilter();

  constructor(
    readonly sendKey: Uint8Array,
    readonly receiveKey: Uint8Array,
    /** Whether we initiated the handshake that made it (only initiators rekey by age). */
    readonly isInitiator: boolean,
    /** Monotonic ms when it was made. */
    readonly created: number,
    /** Our index: what the peer puts in the receiver field. */
    readonly localIndex: number,
    /** The peer's index: what we put in the receiver field. */
    readonly remoteIndex: number,
  ) {}

  /** Zeroes the keys. */
  wipe(): void {
    this.sendKey.fill(0);
    this.receiveKey.fill(0);
  }
}

/** Called when a keypair leaves a peer for good, so its index can be released. */
export type KeypairRelease = (keypair: Keypair) => void;

/** A peer's three keypair slots and the rules for moving between them. */
export class Keypairs {
  previous: Keypair | undefined;
  current: Keypair | undefined;
  next: Keypair | undefined;

  constructor(private readonly release: KeypairRelease) {}

  /**
   * Installs a fresh keypair. An initiator uses it at once (it has seen the response): the
   * old current (or an unconfirmed next) becomes previous. A responder keeps it as next
   * until the initiator's first packet confirms it.
   */
  install(keypair: Keypair): void {
    if (keypair.isInitiator) {
      if (this.next) {
        this.drop(this.previous);
        this.previous = this.next;
        this.next = undefined;
        this.drop(this.current);
      } else {
        this.drop(this.previous);
        this.previous = this.current;
      }
      this.current = keypair;
    } else {
      this.drop(this.next);
      this.next = keypair;
      this.drop(this.previous);
      this.previous = undefined;
    }
  }

  /** A packet authenticated with `keypair`: if it was next, it is confirmed and becomes current. */
  received(keypair: Keypair): boolean {
    if (keypair !== this.next) return false;
    this.drop(this.previous);
    this.previous = this.current;
    this.current = this.next;
    this.next = undefined;
    return true;
  }

  /** Drops every keypair (key material zeroed). */
  clear(): void {
    this.drop(this.previous);
    this.drop(this.current);
    this.drop(this.next);
    this.previous = this.current = this.next = undefined;
  }

  private drop(keypair: Keypair | undefined): void {
    if (!keypair) return;
    keypair.wipe();
    this.release(keypair);
  }
}
