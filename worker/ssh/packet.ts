// The SSH binary packet protocol (RFC 4253 §6) for the "none" cipher (before the first
// NEWKEYS) and every PacketCipher (cipher.ts).
//
// Padding follows OpenSSH's packet.c: padlen = block_size - ((len - aadlen) % block_size),
// where len counts packet_length ‖ padding_length ‖ payload and aadlen is 4 for AEAD (and
// EtM) modes, whose length field is not part of the encrypted block stream, else 0. So with
// "none" the whole packet including its 4-byte length is a multiple of 8, while with
// chacha20-poly1305@openssh.com packet_length itself is.

import type { PacketCipher } from "./cipher.ts";
import { SshProtocolError } from "./wire.ts";

/** Largest packet_length accepted (OpenSSH's PACKET_MAX_SIZE). */
export const PACKET_MAX_SIZE = 256 * 1024;
/** Least padding allowed (RFC 4253 §6). */
export const MIN_PADDING = 4;

const LENGTH_BYTES = 4;
const MIN_BLOCK = 8;
const U32_WRAP = 0x100000000;

/**
 * Frames `payload` as packet_length ‖ padding_length ‖ payload ‖ random padding, with
 * 4..255 bytes of padding from `random`. The length that must be a multiple of
 * max(8, blockSize) is the whole packet, or with `aead` (the length field is AAD, as for
 * chacha20-poly1305@openssh.com) packet_length alone.
 */
export function buildPacket(
  payload: Uint8Array,
  blockSize: number,
  random: (n: number) => Uint8Array,
  aead = false,
): Uint8Array {
  const block = Math.max(MIN_BLOCK, blockSize);
  if (!Number.isInteger(block) || block > 128) {
    throw new RangeError(`packet: bad block size ${blockSize}`);
  }
  const unpadded = (aead ? 0 : LENGTH_BYTES) + 1 + payload.length;
  let padding = block - (unpadded % block);
  if (padding < MIN_PADDING) padding += block;
  const packetLength = 1 + payload.length + padding;
  if (packetLength > PACKET_MAX_SIZE) {
    throw new RangeError(`packet: payload of ${payload.length} bytes is too large`);
  }
  const out = new Uint8Array(LENGTH_BYTES + packetLength);
  new DataView(out.buffer).setUint32(0, packetLength, false);
  out[LENGTH_BYTES] = padding;
  out.set(payload, LENGTH_BYTES + 1);
  const pad = random(padding);
  if (pad.length !== padding) throw new RangeError("packet: random returned the wrong length");
  out.set(pad, LENGTH_BYTES + 1 + payload.length);
  return out;
}

/** Frames and encrypts outgoing payloads, tracking the send sequence number. */
export class PacketWriter {
  private seq: number;
  private cipher: PacketCipher | null = null;

  /** `random` supplies padding bytes; `sequence` is the first sequence number (0). */
  constructor(
    private readonly random: (n: number) => Uint8Array,
    sequence = 0,
  ) {
    this.seq = checkSequence(sequence);
  }

  /** The sequence number of the next packet. */
  get sequence(): number {
    return this.seq;
  }

  /** Switches to a cipher (after sending NEWKEYS); null is "none". */
  setCipher(cipher: PacketCipher | null): void {
    this.cipher = cipher;
  }

  /** Sets the sequence number to 0 (strict kex, after NEWKEYS). */
  resetSequence(): void {
    this.seq = 0;
  }

  /** The bytes to send for `payload`. */
  write(payload: Uint8Array): Uint8Array {
    const seq = this.seq;
    this.seq = (seq + 1) % U32_WRAP;
    const cipher = this.cipher;
    if (cipher === null) return buildPacket(payload, MIN_BLOCK, this.random);
    return cipher.seal(
      seq,
      buildPacket(payload, cipher.blockSize, this.random, cipher.lengthIsAad),
    );
  }
}

/**
 * Reassembles incoming packets from bytes fed as they arrive. `next` returns one payload at
 * a time (null when more bytes are needed), so a caller that receives NEWKEYS can switch
 * the cipher before the following packet is decrypted. Every violation throws
 * SshProtocolError, and after one the reader keeps throwing it.
 */
export class PacketReader {
  private buf = new Uint8Array(0);
  private start = 0;
  private end = 0;
  private seq: number;
  private cipher: PacketCipher | null = null;
  /** packet_length of the packet being assembled, once its length is known. */
  private pending = -1;
  private failure: SshProtocolError | null = null;

  /** `sequence` is the sequence number of the first packet (0). */
  constructor(sequence = 0) {
    this.seq = checkSequence(sequence);
  }

  /** The sequence number of the next packet. */
  get sequence(): number {
    return this.seq;
  }

  /** Bytes received and not yet returned as packets. */
  get buffered(): number {
    return this.end - this.start;
  }

  /** Switches to a cipher (after receiving NEWKEYS); null is "none". */
  setCipher(cipher: PacketCipher | null): void {
    if (this.pending >= 0) throw new RangeError("packet: cipher changed mid-packet");
    this.cipher = cipher;
  }

  /** Sets the sequence number to 0 (strict kex, after NEWKEYS). */
  resetSequence(): void {
    this.seq = 0;
  }

  /** Appends received bytes. */
  push(bytes: Uint8Array): void {
    if (this.failure !== null) throw this.failure;
    const live = this.end - this.start;
    if (this.end + bytes.length > this.buf.length) {
      if (live + bytes.length <= this.buf.length) {
        this.buf.copyWithin(0, this.start, this.end);
      } else {
        const grown = new Uint8Array(Math.max(4096, live + bytes.length, this.buf.length * 2));
        grown.set(this.buf.subarray(this.start, this.end));
        this.buf = grown;
      }
      this.start = 0;
      this.end = live;
    }
    this.buf.set(bytes, this.end);
    this.end += bytes.length;
  }

  /** The next payload, or null until its packet has fully arrived. */
  next(): Uint8Array | null {
    if (this.failure !== null) throw this.failure;
    const have = this.end - this.start;
    const cipher = this.cipher;
    const aad = cipher?.lengthIsAad ?? false;
    const block = Math.max(MIN_BLOCK, cipher?.blockSize ?? MIN_BLOCK);
    if (this.pending < 0) {
      const headBytes = cipher?.headBytes ?? LENGTH_BYTES;
      if (have < headBytes) return null;
      const head = this.buf.subarray(this.start, this.start + headBytes);
      const length =
        cipher === null
          ? new DataView(head.buffer, head.byteOffset, LENGTH_BYTES).getUint32(0, false)
          : cipher.decryptLength(this.seq, head);
      if (length < 1 + MIN_PADDING || length > PACKET_MAX_SIZE) {
        throw this.fail(`bad packet length ${length} (allowed 5..${PACKET_MAX_SIZE})`);
      }
      if (((aad ? 0 : LENGTH_BYTES) + length) % block !== 0) {
        throw this.fail(
          `packet length ${length} is not a multiple of the block size ${block}` +
            (aad ? "" : " (with the length field)"),
        );
      }
      this.pending = length;
    }
    const length = this.pending;
    const total = LENGTH_BYTES + length + (cipher?.macBytes ?? 0);
    if (have < total) return null;
    const packet = this.buf.subarray(this.start, this.start + total);
    let body: Uint8Array;
    if (cipher === null) {
      body = packet.subarray(LENGTH_BYTES);
    } else {
      const opened = cipher.open(this.seq, packet);
      if (opened === null) {
        throw this.fail(
          `message authentication failed (bad tag or MAC, ${cipher.name}) on packet ${this.seq}`,
        );
      }
      body = opened;
    }
    const padding = body[0]!;
    if (padding < MIN_PADDING) {
      throw this.fail(`too little padding: ${padding} bytes (at least ${MIN_PADDING})`);
    }
    if (padding >= length) {
      throw this.fail(`padding length ${padding} exceeds packet length ${length} - 1`);
    }
    const payload = body.slice(1, length - padding);
    this.start += total;
    if (this.start === this.end) {
      this.start = 0;
      this.end = 0;
    }
    this.pending = -1;
    this.seq = (this.seq + 1) % U32_WRAP;
    return payload;
  }

  private fail(message: string): SshProtocolError {
    this.failure = new SshProtocolError(`packet ${this.seq}: ${message}`, "packet");
    return this.failure;
  }
}

function checkSequence(seq: number): number {
  if (!Number.isInteger(seq) || seq < 0 || seq >= U32_WRAP) {
    throw new RangeError(`packet: sequence number ${seq} out of range 0..2^32-1`);
  }
  return seq;
}
