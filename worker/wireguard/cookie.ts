// Cookies and the handshake MACs (the WireGuard paper §5.4.4 and §5.4.7; wireguard-go's
// device/cookie.go). Every handshake message carries mac1, keyed by the receiver's public key,
// so only a sender who knows it gets a responder to do any DH at all. Under load a responder
// also demands mac2, keyed by a cookie it hands out in an encrypted cookie reply; the cookie
// binds the sender's IP address and port and changes every two minutes.

import type { CryptoCore } from "../crypto/core.ts";
import type { Clock } from "./clock.ts";
import { COOKIE_REFRESH_TIME_MS } from "./constants.ts";
import {
  COOKIE_REPLY,
  COOKIE_REPLY_SIZE,
  MAC_SIZE,
  MESSAGE_COOKIE_REPLY,
  macSpans,
  newMessage,
  writeU32,
  XNONCE_SIZE,
} from "./messages.ts";

const encoder = new TextEncoder();
const LABEL_MAC1 = encoder.encode("mac1----");
const LABEL_COOKIE = encoder.encode("cookie--");

/** Random bytes; injectable so tests can reproduce known answers. */
export type RandomBytes = (n: number) => Uint8Array;

/** Cryptographically random bytes from the platform. */
export const platformRandom: RandomBytes = (n) =>
  globalThis.crypto.getRandomValues(new Uint8Array(n));

function labelled(core: CryptoCore, label: Uint8Array, publicKey: Uint8Array): Uint8Array {
  const input = new Uint8Array(label.length + publicKey.length);
  input.set(label);
  input.set(publicKey, label.length);
  return core.blake2s(input);
}

/** Compares two MACs in time that does not depend on where they differ. */
function macEquals(a: Uint8Array, b: Uint8Array): boolean {
  let diff = a.length ^ b.length;
  for (let i = 0; i < a.length && i < b.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

function macField(message: Uint8Array, which: 1 | 2): Uint8Array {
  const at = message.length - (which === 1 ? 2 : 1) * MAC_SIZE;
  return message.subarray(at, at + MAC_SIZE);
}

/** The responder's side: checks mac1 and mac2 of messages to us and makes cookie replies. */
export class CookieChecker {
  private readonly mac1Key: Uint8Array;
  private readonly cookieKey: Uint8Array;
  private secret: Uint8Array = new Uint8Array(32);
  private secretSetAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly core: CryptoCore,
    localPublicKey: Uint8Array,
    private readonly clock: Clock,
    private readonly random: RandomBytes = platformRandom,
  ) {
    this.mac1Key = labelled(core, LABEL_MAC1, localPublicKey);
    this.cookieKey = labelled(core, LABEL_COOKIE, localPublicKey);
  }

  /** Whether the message's mac1 is right: the sender knows our public key. */
  checkMac1(message: Uint8Array): boolean {
    const expected = this.core.blake2s(macSpans(message).beforeMac1, MAC_SIZE, this.mac1Key);
    return macEquals(expected, macField(message, 1));
  }

  /** Whether the message's mac2 carries the cookie we would give `source` now. */
  checkMac2(message: Uint8Array, source: Uint8Array): boolean {
    if (this.clock.now() - this.secretSetAt > COOKIE_REFRESH_TIME_MS) return false;
    const cookie = this.core.blake2s(source, MAC_SIZE, this.secret);
    const expected = this.core.blake2s(macSpans(message).beforeMac2, MAC_SIZE, cookie);
    return macEquals(expected, macField(message, 2));
  }

  /**
   * A cookie reply to `message` (whose mac1 the caller checked), for its sender at `source`
   * (the address bytes then the big-endian port) under the sender's index `receiverIndex`.
   */
  createReply(message: Uint8Array, receiverIndex: number, source: Uint8Array): Uint8Array {
    if (this.clock.now() - this.secretSetAt > COOKIE_REFRESH_TIME_MS) {
      this.secret = this.random(32);
      this.secretSetAt = this.clock.now();
    }
    const cookie = this.core.blake2s(source, MAC_SIZE, this.secret);
    const reply = newMessage(MESSAGE_COOKIE_REPLY, COOKIE_REPLY_SIZE);
    writeU32(reply, COOKIE_REPLY.receiver, receiverIndex);
    const nonce = this.random(XNONCE_SIZE);
    reply.set(nonce, COOKIE_REPLY.nonce);
    reply.set(
      this.core.xaeadSeal(this.cookieKey, nonce, cookie, macField(message, 1)),
      COOKIE_REPLY.encryptedCookie,
    );
    return reply;
  }
}

/** The initiator's side, one per peer: fills in mac1 and mac2, and takes cookie replies. */
export class CookieGenerator {
  private readonly mac1Key: Uint8Array;
  private readonly cookieKey: Uint8Array;
  private cookie: Uint8Array | undefined;
  private cookieSetAt = 0;
  private lastMac1: Uint8Array | undefined;

  constructor(
    private readonly core: CryptoCore,
    remotePublicKey: Uint8Array,
    private readonly clock: Clock,
  ) {
    this.mac1Key = labelled(core, LABEL_MAC1, remotePublicKey);
    this.cookieKey = labelled(core, LABEL_COOKIE, remotePublicKey);
  }

  /** Writes mac1, and mac2 when we hold a fresh cookie (zeroes otherwise), into `message`. */
  addMacs(message: Uint8Array): void {
    const { beforeMac1, beforeMac2 } = macSpans(message);
    const mac1 = this.core.blake2s(beforeMac1, MAC_SIZE, this.mac1Key);
    macField(message, 1).set(mac1);
    this.lastMac1 = mac1;
    const fresh = this.cookie && this.clock.now() - this.cookieSetAt <= COOKIE_REFRESH_TIME_MS;
    macField(message, 2).set(
      fresh ? this.core.blake2s(beforeMac2, MAC_SIZE, this.cookie) : new Uint8Array(MAC_SIZE),
    );
  }

  /** Takes a cookie reply to the last message we sent; false when it is not for it. */
  consumeReply(reply: Uint8Array): boolean {
    if (!this.lastMac1) return false;
    const nonce = reply.subarray(COOKIE_REPLY.nonce, COOKIE_REPLY.nonce + XNONCE_SIZE);
    const sealed = reply.subarray(COOKIE_REPLY.encryptedCookie, COOKIE_REPLY_SIZE);
    const cookie = this.core.xaeadOpen(this.cookieKey, nonce, sealed, this.lastMac1);
    if (!cookie) return false;
    this.cookie = cookie;
    this.cookieSetAt = this.clock.now();
    this.lastMac1 = undefined;
    return true;
  }
}
