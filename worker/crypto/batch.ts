// AeadBatch: the data path's zero-copy interface. Packets are written straight into wasm
// memory, sealed or opened many per call, and read back from output buffers that live as
// long as the batch. Nonces are WireGuard's (4 zero bytes ‖ 64-bit little-endian counter);
// additional data is empty, as in WireGuard transport messages.

import { checkInteger, checkLength } from "./bytes.ts";
import type { WasmHeap } from "./heap.ts";
import type { CoreExports } from "./wasm.ts";

const KEY = 32;
const TAG = 16;
const DESC_WORDS = 8; // 32-byte descriptors, see assembly/aead.ts
const D_KEY = 0,
  D_SRC = 1,
  D_LEN = 2,
  D_DST = 3,
  D_CTR_LO = 4,
  D_CTR_HI = 5,
  D_STATUS = 6;
const MAX_PACKET = 65535;
const TWO_32 = 0x1_0000_0000;

/** Sizes of an AeadBatch. */
export interface AeadBatchOptions {
  /** Packets per call. */
  capacity: number;
  /** Largest plaintext of one packet, in bytes (at most 65535). */
  maxPacket: number;
  /** How many keys the batch holds at once (default 1). */
  keySlots?: number;
  /** Bytes left free in front of each output, for a header the caller writes (default 0). */
  headroom?: number;
}

/** A reusable set of packet buffers in wasm memory with one-call seal and open. */
export class AeadBatch {
  readonly capacity: number;
  readonly maxPacket: number;
  readonly keySlots: number;
  readonly headroom: number;
  private readonly inStride: number;
  private readonly outStride: number;
  private readonly base: number;
  private readonly size: number;
  private readonly descPtr: number;
  private readonly keyPtr: number;
  private readonly inPtr: number;
  private readonly outPtr: number;
  private descView: Uint32Array;
  private inputs: Uint8Array[] = [];
  private outputs: Uint8Array[] = [];
  private disposed = false;

  constructor(
    private readonly wasm: CoreExports,
    private readonly heap: WasmHeap,
    options: AeadBatchOptions,
  ) {
    checkInteger("createAeadBatch", "capacity", options.capacity, 1, 4096);
    checkInteger("createAeadBatch", "maxPacket", options.maxPacket, 0, MAX_PACKET);
    checkInteger("createAeadBatch", "keySlots", options.keySlots ?? 1, 1, 4096);
    checkInteger("createAeadBatch", "headroom", options.headroom ?? 0, 0, 256);
    this.capacity = options.capacity;
    this.maxPacket = options.maxPacket;
    this.keySlots = options.keySlots ?? 1;
    this.headroom = options.headroom ?? 0;
    this.inStride = align16(this.maxPacket + TAG);
    this.outStride = align16(this.headroom + this.maxPacket + TAG);
    const descBytes = this.capacity * DESC_WORDS * 4;
    this.size = descBytes + this.keySlots * KEY + this.capacity * (this.inStride + this.outStride);
    this.base = heap.alloc(this.size);
    this.descPtr = this.base;
    this.keyPtr = this.descPtr + descBytes;
    this.inPtr = this.keyPtr + this.keySlots * KEY;
    this.outPtr = this.inPtr + this.capacity * this.inStride;
    this.descView = this.buildViews();
  }

  /** Copies a 32-byte key into slot `slot`. */
  setKey(slot: number, key: Uint8Array): void {
    this.checkLive();
    checkInteger("AeadBatch.setKey", "slot", slot, 0, this.keySlots - 1);
    checkLength("AeadBatch.setKey", "key", key, KEY);
    this.heap.u8.set(key, this.keyPtr + slot * KEY);
  }

  /** Wipes the key in slot `slot`. */
  clearKey(slot: number): void {
    this.checkLive();
    checkInteger("AeadBatch.clearKey", "slot", slot, 0, this.keySlots - 1);
    this.heap.u8.fill(0, this.keyPtr + slot * KEY, this.keyPtr + (slot + 1) * KEY);
  }

  /** Packet i's input buffer in wasm memory: maxPacket + 16 bytes. */
  input(i: number): Uint8Array {
    this.refresh();
    return this.inputs[this.index(i)]!;
  }

  /** Packet i's output buffer: headroom, then the sealed bytes or the plaintext. */
  output(i: number): Uint8Array {
    this.refresh();
    return this.outputs[this.index(i)]!;
  }

  /**
   * Describes packet i for the next call: its key slot, nonce counter and input length
   * (plaintext length to seal; ciphertext-plus-tag length to open).
   */
  setPacket(i: number, keySlot: number, counter: bigint | number, length: number): void {
    this.refresh();
    // Per-packet hot path: plain comparisons first; the descriptive checks only on failure.
    if (!(i >= 0 && i < this.capacity && Number.isInteger(i))) this.index(i);
    if (!(keySlot >= 0 && keySlot < this.keySlots && Number.isInteger(keySlot))) {
      checkInteger("AeadBatch.setPacket", "keySlot", keySlot, 0, this.keySlots - 1);
    }
    if (!(length >= 0 && length <= this.maxPacket + TAG && Number.isInteger(length))) {
      checkInteger("AeadBatch.setPacket", "length", length, 0, this.maxPacket + TAG);
    }
    this.checkLive();
    const at = i * DESC_WORDS;
    const d = this.descView;
    d[at + D_KEY] = this.keyPtr + keySlot * KEY;
    d[at + D_LEN] = length;
    if (
      typeof counter === "number" &&
      counter >= 0 &&
      counter < TWO_32 &&
      Number.isInteger(counter)
    ) {
      d[at + D_CTR_LO] = counter;
      d[at + D_CTR_HI] = 0;
    } else if (typeof counter === "bigint") {
      if (counter < 0n || counter >= 1n << 64n) {
        throw new RangeError("AeadBatch.setPacket: counter out of 64-bit range (0 to 2^64 - 1)");
      }
      d[at + D_CTR_LO] = Number(counter & 0xffffffffn);
      d[at + D_CTR_HI] = Number(counter >> 32n);
    } else {
      if (typeof counter !== "number" || !Number.isSafeInteger(counter) || counter < 0) {
        throw new RangeError(
          `AeadBatch.setPacket: counter must be an integer from 0 to 2^53 - 1 (a bigint up to 2^64 - 1), got ${String(counter)}`,
        );
      }
      d[at + D_CTR_LO] = counter >>> 0;
      d[at + D_CTR_HI] = Math.floor(counter / TWO_32);
    }
    d[at + D_STATUS] = 0;
  }

  /** Seals packets 0..count-1: output(i) gets ciphertext ‖ tag after the headroom. */
  seal(count: number): void {
    this.prepareCall("seal", count, this.maxPacket);
    this.wasm.sealBatch(this.descPtr, count);
  }

  /**
   * Opens packets 0..count-1; returns how many failed authentication (see ok(i)). A failed
   * packet's output holds zeroes where its plaintext would have gone, never plaintext.
   */
  open(count: number): number {
    this.prepareCall("open", count, this.maxPacket + TAG);
    return this.wasm.openBatch(this.descPtr, count);
  }

  /** Whether packet i was sealed, or opened authentically, by the last call. */
  ok(i: number): boolean {
    this.refresh();
    return this.descView[this.index(i) * DESC_WORDS + D_STATUS] === 1;
  }

  /** The input length last given to setPacket for packet i. */
  packetLength(i: number): number {
    this.refresh();
    return this.descView[this.index(i) * DESC_WORDS + D_LEN]!;
  }

  /** The bytes the last call produced for packet i (a view: copy it to keep it). */
  result(i: number, kind: "seal" | "open"): Uint8Array {
    this.refresh();
    const at = this.index(i) * DESC_WORDS;
    const length = this.descView[at + D_LEN]!;
    const produced = kind === "seal" ? length + TAG : Math.max(length - TAG, 0);
    return this.outputs[i]!.subarray(this.headroom, this.headroom + produced);
  }

  /** Wipes keys and buffers and returns the memory. The batch cannot be used afterwards. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.heap.release(this.base, this.size);
    this.inputs = [];
    this.outputs = [];
  }

  private prepareCall(kind: string, count: number, maxLength: number): void {
    this.checkLive();
    checkInteger(`AeadBatch.${kind}`, "count", count, 0, this.capacity);
    this.refresh();
    const d = this.descView;
    for (let i = 0; i < count; i++) {
      const at = i * DESC_WORDS;
      if (d[at + D_KEY] === 0)
        throw new RangeError(`AeadBatch.${kind}: packet ${i} was not set up with setPacket`);
      if (d[at + D_LEN]! > maxLength) {
        throw new RangeError(
          `AeadBatch.${kind}: packet ${i} is ${d[at + D_LEN]} bytes, over ${maxLength}`,
        );
      }
      d[at + D_SRC] = this.inPtr + i * this.inStride;
      d[at + D_DST] = this.outPtr + i * this.outStride + this.headroom;
    }
  }

  private index(i: number): number {
    this.checkLive();
    checkInteger("AeadBatch", "packet index", i, 0, this.capacity - 1);
    return i;
  }

  private checkLive(): void {
    if (this.disposed) throw new Error("AeadBatch: used after dispose()");
  }

  // Views go stale when the memory grows (its ArrayBuffer is replaced), so rebuild them then.
  // (wasm memory.grow always detaches the old buffer, so a zero length is the whole test.)
  private refresh(): void {
    if (this.descView.byteLength === 0) {
      this.descView = this.buildViews();
    }
  }

  private buildViews(): Uint32Array {
    const buffer = this.heap.buffer;
    this.inputs = [];
    this.outputs = [];
    for (let i = 0; i < this.capacity; i++) {
      this.inputs.push(
        new Uint8Array(buffer, this.inPtr + i * this.inStride, this.maxPacket + TAG),
      );
      this.outputs.push(
        new Uint8Array(
          buffer,
          this.outPtr + i * this.outStride,
          this.headroom + this.maxPacket + TAG,
        ),
      );
    }
    return new Uint32Array(buffer, this.descPtr, this.capacity * DESC_WORDS);
  }
}

function align16(n: number): number {
  return (n + 15) & ~15;
}
