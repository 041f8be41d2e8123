// The chacha20-poly1305@openssh.com cipher (OpenSSH's PROTOCOL.chacha20poly1305), on the
// wasm ChaCha20 and Poly1305 of worker/crypto.
//
// The 64-byte key is K_2 (first 32 bytes, packet payload) ‖ K_1 (last 32, packet length).
// The nonce is the packet sequence number as a 64-bit big-endian value, used with the
// original ChaCha20 (64-bit block counter in state words 12-13, 64-bit nonce in words
// 14-15). The wasm core is the RFC 8439 variant (32-bit counter in word 12, 96-bit nonce in
// words 13-15), so with block counters below 2^32 the original cipher with nonce N and
// counter c is the RFC 8439 one with nonce12 = 4 zero bytes (counter high word) ‖ N and
// counter c.
//
// The length is encrypted with K_1 at block 0; the payload with K_2 from block 1; the
// Poly1305 key is the first 32 bytes of K_2's block 0; the tag covers the encrypted length
// and the encrypted payload.

import type { CryptoCore } from "../crypto/index.ts";
import type { PacketCipher } from "./cipher.ts";

const KEY_BYTES = 64;
const LENGTH_BYTES = 4;
const TAG_BYTES = 16;
const POLY_KEY_ZEROS = new Uint8Array(32);

/** The nonce12 for the RFC 8439 core that gives the original ChaCha20 with nonce = seq. */
function nonceFor(seq: number): Uint8Array {
  if (!Number.isInteger(seq) || seq < 0 || seq > 0xffffffff) {
    throw new RangeError(`chacha20-poly1305: sequence number ${seq} out of range 0..2^32-1`);
  }
  const nonce = new Uint8Array(12);
  // Bytes 0..3: counter high word (0). Bytes 4..11: seq as a 64-bit big-endian value.
  new DataView(nonce.buffer).setUint32(8, seq, false);
  return nonce;
}

/** chacha20-poly1305@openssh.com for one direction of a connection. */
export class ChachaPolyOpenssh implements PacketCipher {
  /** Bytes of the authentication tag after each packet. */
  static readonly TAG_BYTES = TAG_BYTES;
  /** Bytes of the encrypted packet length at the start of each packet. */
  static readonly LENGTH_BYTES = LENGTH_BYTES;

  readonly name = "chacha20-poly1305@openssh.com";
  readonly blockSize = 8;
  readonly lengthIsAad = true;
  readonly macBytes = TAG_BYTES;
  readonly headBytes = LENGTH_BYTES;

  private readonly mainKey: Uint8Array;
  private readonly headerKey: Uint8Array;

  /** `key64` is the 64 bytes of key material the key exchange derived for this direction. */
  constructor(
    private readonly core: CryptoCore,
    key64: Uint8Array,
  ) {
    if (key64.length !== KEY_BYTES) {
      throw new RangeError(
        `chacha20-poly1305: key must be ${KEY_BYTES} bytes, got ${key64.length}`,
      );
    }
    this.mainKey = key64.slice(0, 32);
    this.headerKey = key64.slice(32, 64);
  }

  /** Decrypts the 4-byte packet length of packet `seq` (not yet authenticated). */
  decryptLength(seq: number, encLength4: Uint8Array): number {
    if (encLength4.length < LENGTH_BYTES) {
      throw new RangeError(`chacha20-poly1305: length needs 4 bytes, got ${encLength4.length}`);
    }
    const plain = this.core.chacha20(
      this.headerKey,
      nonceFor(seq),
      0,
      encLength4.subarray(0, LENGTH_BYTES),
    );
    return new DataView(plain.buffer, plain.byteOffset, LENGTH_BYTES).getUint32(0, false);
  }

  /**
   * Authenticates and decrypts packet `seq` = encrypted length ‖ encrypted payload ‖ tag.
   * Returns the plaintext after the length (padding-length ‖ payload ‖ padding), or null
   * when the tag does not match or the packet is shorter than length plus tag. The caller
   * checks that the decrypted length agrees with the packet it framed.
   */
  open(seq: number, packet: Uint8Array): Uint8Array | null {
    if (packet.length < LENGTH_BYTES + TAG_BYTES) return null;
    const nonce = nonceFor(seq);
    const bodyEnd = packet.length - TAG_BYTES;
    const expected = this.tag(nonce, packet.subarray(0, bodyEnd));
    let diff = 0;
    for (let i = 0; i < TAG_BYTES; i++) diff |= expected[i]! ^ packet[bodyEnd + i]!;
    if (diff !== 0) return null;
    return this.core.chacha20(this.mainKey, nonce, 1, packet.subarray(LENGTH_BYTES, bodyEnd));
  }

  /**
   * Encrypts packet `seq` = length ‖ padding-length ‖ payload ‖ padding and returns
   * encrypted length ‖ encrypted rest ‖ 16-byte tag.
   */
  seal(seq: number, plainPacket: Uint8Array): Uint8Array {
    if (plainPacket.length < LENGTH_BYTES) {
      throw new RangeError(`chacha20-poly1305: packet needs at least 4 bytes`);
    }
    const nonce = nonceFor(seq);
    const bodyEnd = plainPacket.length;
    const out = new Uint8Array(bodyEnd + TAG_BYTES);
    out.set(this.core.chacha20(this.headerKey, nonce, 0, plainPacket.subarray(0, LENGTH_BYTES)));
    out.set(
      this.core.chacha20(this.mainKey, nonce, 1, plainPacket.subarray(LENGTH_BYTES)),
      LENGTH_BYTES,
    );
    out.set(this.tag(nonce, out.subarray(0, bodyEnd)), bodyEnd);
    return out;
  }

  private tag(nonce: Uint8Array, authenticated: Uint8Array): Uint8Array {
    const polyKey = this.core.chacha20(this.mainKey, nonce, 0, POLY_KEY_ZEROS);
    const tag = this.core.poly1305(polyKey, authenticated);
    polyKey.fill(0);
    return tag;
  }
}
