// aes128-ctr and aes256-ctr (RFC 4344 §4) with hmac-sha2-256 / hmac-sha2-512 (RFC 6668),
// either as RFC 4253 §6.4 encrypt-and-MAC or as OpenSSH's encrypt-then-MAC variants
// (*-etm@openssh.com, OpenSSH's PROTOCOL §1.7).
//
// CTR keystream: RFC 4344 §4 makes the IV a 128-bit big-endian counter that runs on for the
// life of the keys, one increment per 16-byte block, across packet boundaries. Every packet
// is a whole number of blocks, so this class only has to remember how far the counter got.
//
// Encrypt-and-MAC: the whole packet, packet_length included, is encrypted, and
//   mac = HMAC(mac_key, uint32 seq ‖ packet_length ‖ padding_length ‖ payload ‖ padding)
// covers the plaintext. The reader must decrypt the first block to learn the length
// (headBytes 16); that block's plaintext is kept for open(), since decrypting it again would
// consume keystream twice.
//
// EtM: packet_length stays in clear, the rest is encrypted, and
//   mac = HMAC(mac_key, uint32 seq ‖ packet_length ‖ ciphertext)
// is checked before anything is decrypted, so forged packets never reach AES.

import { ctr } from "@noble/ciphers/aes.js";
import { hmac } from "@noble/hashes/hmac.js";
import { sha256, sha512 } from "@noble/hashes/sha2.js";
import type { CHash } from "@noble/hashes/utils.js";
import type { PacketCipher } from "./cipher.ts";

const BLOCK = 16;
const LENGTH_BYTES = 4;

/** AES key length, in bytes, of each CTR cipher name. */
const CIPHER_KEY_BYTES: Readonly<Record<string, number>> = {
  "aes128-ctr": 16,
  "aes256-ctr": 32,
};

/** Hash, key length (= output length, RFC 6668 §2) and EtM flag of each MAC name. */
const MAC_SPECS: Readonly<
  Record<string, { readonly hash: CHash; readonly keyBytes: number; readonly etm: boolean }>
> = {
  "hmac-sha2-256": { hash: sha256, keyBytes: 32, etm: false },
  "hmac-sha2-512": { hash: sha512, keyBytes: 64, etm: false },
  "hmac-sha2-256-etm@openssh.com": { hash: sha256, keyBytes: 32, etm: true },
  "hmac-sha2-512-etm@openssh.com": { hash: sha512, keyBytes: 64, etm: true },
};

type Hmac = ReturnType<typeof hmac.create>;

/** aes{128,256}-ctr with an HMAC-SHA2 MAC, for one direction of a connection. */
export class AesCtrHmac implements PacketCipher {
  /** "cipher+mac", e.g. "aes128-ctr+hmac-sha2-256-etm@openssh.com". */
  readonly name: string;
  readonly blockSize = BLOCK;
  readonly lengthIsAad: boolean;
  readonly macBytes: number;
  readonly headBytes: number;

  private readonly key: Uint8Array;
  /** The counter block of the next keystream block. */
  private readonly counter: Uint8Array;
  /** HMAC keyed with the MAC key; cloned per packet so the key pads are hashed once. */
  private readonly keyedMac: Hmac;
  private readonly etm: boolean;
  /** Encrypt-and-MAC: the first block decrypted by decryptLength, awaiting open. */
  private firstBlock: Uint8Array | null = null;
  private firstBlockSeq = -1;

  /**
   * `key` and `iv` (16 bytes) are the cipher's, `macKey` the MAC's, as derived by the key
   * exchange for this direction. Throws RangeError on an unknown name or a wrong length.
   */
  constructor(
    cipherName: string,
    key: Uint8Array,
    iv: Uint8Array,
    macName: string,
    macKey: Uint8Array,
  ) {
    const keyBytes = CIPHER_KEY_BYTES[cipherName];
    if (keyBytes === undefined) {
      throw new RangeError(`aes-ctr: unknown cipher name "${cipherName}"`);
    }
    const mac = MAC_SPECS[macName];
    if (mac === undefined) throw new RangeError(`aes-ctr: unknown MAC name "${macName}"`);
    if (key.length !== keyBytes) {
      throw new RangeError(`${cipherName}: key must be ${keyBytes} bytes, got ${key.length}`);
    }
    if (iv.length !== BLOCK) {
      throw new RangeError(`${cipherName}: IV must be ${BLOCK} bytes, got ${iv.length}`);
    }
    if (macKey.length !== mac.keyBytes) {
      throw new RangeError(
        `${macName}: MAC key must be ${mac.keyBytes} bytes, got ${macKey.length}`,
      );
    }
    this.name = `${cipherName}+${macName}`;
    this.key = key.slice();
    this.counter = iv.slice();
    this.keyedMac = hmac.create(mac.hash, macKey);
    this.etm = mac.etm;
    this.lengthIsAad = mac.etm;
    this.macBytes = mac.hash.outputLen;
    this.headBytes = mac.etm ? LENGTH_BYTES : BLOCK;
  }

  /**
   * packet_length of packet `seq`: read in clear for EtM, else decrypted from the first
   * block (which advances the keystream, hence exactly once per packet).
   */
  decryptLength(seq: number, head: Uint8Array): number {
    if (head.length < this.headBytes) {
      throw new RangeError(
        `${this.name}: length needs ${this.headBytes} bytes, got ${head.length}`,
      );
    }
    let clear = head;
    if (!this.etm) {
      clear = this.crypt(head.subarray(0, BLOCK));
      this.firstBlock = clear;
      this.firstBlockSeq = seq;
    }
    return new DataView(clear.buffer, clear.byteOffset, LENGTH_BYTES).getUint32(0, false);
  }

  /**
   * Checks the MAC of packet `seq` (4 + packet_length bytes as received, then the MAC) and
   * returns padding_length ‖ payload ‖ padding, or null on a bad MAC or malformed size.
   */
  open(seq: number, packet: Uint8Array): Uint8Array | null {
    this.checkSeq(seq);
    const end = packet.length - this.macBytes;
    if (end < BLOCK || (end - (this.etm ? LENGTH_BYTES : 0)) % BLOCK !== 0) return null;
    const received = packet.subarray(end);
    if (this.etm) {
      if (!sameBytes(this.mac(seq, packet.subarray(0, end)), received)) return null;
      return this.crypt(packet.subarray(LENGTH_BYTES, end));
    }
    const first = this.firstBlock;
    if (first === null || this.firstBlockSeq !== seq) {
      throw new RangeError(`${this.name}: open(${seq}) without decryptLength for that packet`);
    }
    this.firstBlock = null;
    const plain = new Uint8Array(end);
    plain.set(first);
    plain.set(this.crypt(packet.subarray(BLOCK, end)), BLOCK);
    if (!sameBytes(this.mac(seq, plain), received)) return null;
    return plain.subarray(LENGTH_BYTES);
  }

  /** Encrypts packet_length ‖ padding_length ‖ payload ‖ padding and appends the MAC. */
  seal(seq: number, plainPacket: Uint8Array): Uint8Array {
    this.checkSeq(seq);
    const end = plainPacket.length;
    const encryptedFrom = this.etm ? LENGTH_BYTES : 0;
    if (end < BLOCK || (end - encryptedFrom) % BLOCK !== 0) {
      throw new RangeError(
        `${this.name}: ${end - encryptedFrom} encrypted bytes are not a positive multiple of ${BLOCK}`,
      );
    }
    const out = new Uint8Array(end + this.macBytes);
    out.set(plainPacket.subarray(0, encryptedFrom));
    out.set(this.crypt(plainPacket.subarray(encryptedFrom)), encryptedFrom);
    const macInput = this.etm ? out.subarray(0, end) : plainPacket;
    out.set(this.mac(seq, macInput), end);
    return out;
  }

  /** Checked before any keystream is used, so a bad call leaves the counter alone. */
  private checkSeq(seq: number): void {
    if (!Number.isInteger(seq) || seq < 0 || seq > 0xffffffff) {
      throw new RangeError(`${this.name}: sequence number ${seq} out of range 0..2^32-1`);
    }
  }

  /** XORs whole blocks with the next keystream and moves the counter past them. */
  private crypt(data: Uint8Array): Uint8Array {
    const result = ctr(this.key, this.counter).encrypt(data);
    addToCounter(this.counter, data.length / BLOCK);
    return result;
  }

  /** HMAC(mac_key, uint32 seq ‖ data). */
  private mac(seq: number, data: Uint8Array): Uint8Array {
    const seqBytes = new Uint8Array(4);
    new DataView(seqBytes.buffer).setUint32(0, seq, false);
    return this.keyedMac.clone().update(seqBytes).update(data).digest();
  }
}

/** Adds `blocks` to a 128-bit big-endian counter, modulo 2^128 (as OpenSSL's ctr128). */
function addToCounter(counter: Uint8Array, blocks: number): void {
  let carry = blocks;
  for (let i = BLOCK - 1; i >= 0 && carry > 0; i--) {
    const sum = counter[i]! + (carry % 256);
    counter[i] = sum & 0xff;
    carry = Math.floor(carry / 256) + (sum >> 8);
  }
}

/** Equality of two MACs in time that depends only on their length. */
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}
