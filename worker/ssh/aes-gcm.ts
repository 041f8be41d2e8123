// aes128-gcm@openssh.com and aes256-gcm@openssh.com: AES-GCM in the SSH binary packet
// protocol as RFC 5647 describes it and as OpenSSH implements it (OpenSSH's PROTOCOL §1.6,
// cipher.c with EVP_CTRL_GCM_IV_GEN).
//
// OpenSSH departs from RFC 5647 in one way that matters on the wire: the algorithm name
// fixes the MAC (the GCM tag), so no separate MAC is negotiated. The rest is RFC 5647:
//   - packet_length is sent in clear and is the GCM additional authenticated data, so it is
//     not counted in the block alignment (lengthIsAad);
//   - the 12-byte nonce is a 4-byte fixed field ‖ an 8-byte big-endian invocation counter,
//     both from the key exchange's IV, and the counter increments by one after every packet
//     of this direction (RFC 5647 §7.1). It is not the sequence number: the two only agree
//     by accident, so this class keeps its own counter.
//
// AES and GHASH come from @noble/ciphers (synchronous, pure JavaScript).

import { gcm } from "@noble/ciphers/aes.js";
import type { PacketCipher } from "./cipher.ts";

const LENGTH_BYTES = 4;
const TAG_BYTES = 16;
const IV_BYTES = 12;
/** Where the 8-byte invocation counter starts inside the 12-byte IV. */
const COUNTER_AT = 4;

/** The key length, in bytes, of each AES-GCM name. */
const KEY_BYTES: Readonly<Record<string, number>> = {
  "aes128-gcm@openssh.com": 16,
  "aes256-gcm@openssh.com": 32,
};

/** aes128-gcm@openssh.com or aes256-gcm@openssh.com for one direction of a connection. */
export class AesGcmOpenssh implements PacketCipher {
  readonly blockSize = 16;
  readonly lengthIsAad = true;
  readonly macBytes = TAG_BYTES;
  readonly headBytes = LENGTH_BYTES;

  private readonly key: Uint8Array;
  /** fixed ‖ invocation counter: the nonce of the next packet. */
  private readonly iv: Uint8Array;

  /**
   * `name` is the negotiated algorithm; `key` is its 16 or 32 bytes and `iv` the 12 bytes
   * the key exchange derived for this direction. Throws RangeError on a wrong name or length.
   */
  constructor(
    readonly name: string,
    key: Uint8Array,
    iv: Uint8Array,
  ) {
    const keyBytes = KEY_BYTES[name];
    if (keyBytes === undefined) {
      throw new RangeError(`aes-gcm: unknown cipher name "${name}"`);
    }
    if (key.length !== keyBytes) {
      throw new RangeError(`${name}: key must be ${keyBytes} bytes, got ${key.length}`);
    }
    if (iv.length !== IV_BYTES) {
      throw new RangeError(`${name}: IV must be ${IV_BYTES} bytes, got ${iv.length}`);
    }
    this.key = key.slice();
    this.iv = iv.slice();
  }

  /** packet_length, which travels in clear (authenticated later as the AAD). */
  decryptLength(_seq: number, head: Uint8Array): number {
    if (head.length < LENGTH_BYTES) {
      throw new RangeError(`${this.name}: length needs 4 bytes, got ${head.length}`);
    }
    return new DataView(head.buffer, head.byteOffset, LENGTH_BYTES).getUint32(0, false);
  }

  /**
   * Checks the tag of length ‖ ciphertext ‖ tag and returns the plaintext after the length,
   * or null when the tag is wrong or the packet is malformed. The invocation counter only
   * moves on success, so a rejected packet does not desynchronise a caller that (against
   * advice) keeps the connection.
   */
  open(_seq: number, packet: Uint8Array): Uint8Array | null {
    const bodyLength = packet.length - LENGTH_BYTES - TAG_BYTES;
    if (bodyLength < 0 || bodyLength % this.blockSize !== 0) return null;
    let plain: Uint8Array;
    try {
      plain = gcm(this.key, this.iv, packet.subarray(0, LENGTH_BYTES)).decrypt(
        packet.subarray(LENGTH_BYTES),
      );
    } catch {
      // noble throws on a bad tag; hostile bytes must only ever yield null.
      return null;
    }
    this.nextNonce();
    return plain;
  }

  /** Encrypts length ‖ padding_length ‖ payload ‖ padding to length ‖ ciphertext ‖ tag. */
  seal(_seq: number, plainPacket: Uint8Array): Uint8Array {
    const bodyLength = plainPacket.length - LENGTH_BYTES;
    if (bodyLength < 0 || bodyLength % this.blockSize !== 0) {
      throw new RangeError(
        `${this.name}: packet body of ${bodyLength} bytes is not a multiple of ${this.blockSize}`,
      );
    }
    const head = plainPacket.subarray(0, LENGTH_BYTES);
    const sealed = gcm(this.key, this.iv, head).encrypt(plainPacket.subarray(LENGTH_BYTES));
    this.nextNonce();
    const out = new Uint8Array(LENGTH_BYTES + sealed.length);
    out.set(head);
    out.set(sealed, LENGTH_BYTES);
    return out;
  }

  /** Increments the 64-bit big-endian invocation counter, wrapping as OpenSSL does. */
  private nextNonce(): void {
    for (let i = IV_BYTES - 1; i >= COUNTER_AT; i--) {
      const byte = (this.iv[i]! + 1) & 0xff;
      this.iv[i] = byte;
      if (byte !== 0) return;
    }
  }
}
