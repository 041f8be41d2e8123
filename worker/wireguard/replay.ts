// The anti-replay window for received transport messages: RFC 6479's sliding bitmap, as in
// wireguard-go's replay.Filter. The bitmap is a ring of 64-bit blocks; moving the window forward
// clears whole blocks instead of shifting bits, so each packet costs O(1) (amortized over the
// blocks it skips, at most the ring's size).
//
// The hot path, validate(lo, hi), takes the 64-bit counter as two u32 halves, the way a
// DataView reads it from the packet, and keeps the ring in a Uint32Array (two words per block).
// A BigUint64Array with bigint counters was measured ~20x slower per packet (bigint arithmetic
// allocates), so bigint appears only in validateCounter(), the general entry point for tests
// and callers with an arbitrary limit.

import { REJECT_AFTER_MESSAGES } from "./constants.ts";

/** log2 of the bits in one ring block. */
const BLOCK_BIT_LOG = 6;
/** Bits per ring block (64), as in wireguard-go's `block uint64`. */
const BLOCK_BITS = 1 << BLOCK_BIT_LOG;
/** Blocks in the ring (128); a power of two so `& RING_MASK` replaces a modulo. */
export const RING_BLOCKS = 1 << 7;
/** Index mask for the ring. */
const RING_MASK = RING_BLOCKS - 1;
/**
 * Counters this far behind the highest one seen are still judged individually (8128). One
 * block is kept as slack: it is the block being cleared as the window moves into it.
 */
export const WINDOW_SIZE = (RING_BLOCKS - 1) * BLOCK_BITS;

const TWO_32 = 0x1_0000_0000;

// REJECT_AFTER_MESSAGES split into u32 halves, so validate() can compare without bigint.
const REJECT_LO = Number(REJECT_AFTER_MESSAGES & 0xffff_ffffn);
const REJECT_HI = Number(REJECT_AFTER_MESSAGES >> 32n);
const TWO_64 = 1n << 64n;

/**
 * A replay filter for one receiving keypair (RFC 6479, wireguard-go's replay.Filter).
 * A new filter is empty and ready to use. Not safe to share between keypairs.
 */
export class ReplayFilter {
  // Two u32 words per 64-bit block: bits 0..31 of a block in word 2b, bits 32..63 in 2b+1.
  // Bit n of the counter space is therefore bit (n & 31) of word (n >>> 5) & 255.
  private readonly ring = new Uint32Array(RING_BLOCKS * 2);
  // The highest counter accepted so far, as u32 halves.
  private lastLo = 0;
  private lastHi = 0;

  /** Empties the filter, as for a fresh keypair. */
  reset(): void {
    this.lastLo = 0;
    this.lastHi = 0;
    // wireguard-go clears only block 0 (later blocks are cleared as the window reaches them);
    // clearing all 1 KiB is equally correct, happens once per keypair, and is easier to trust.
    this.ring.fill(0);
  }

  /**
   * The per-packet check: is the counter `hi * 2^32 + lo` new, inside the window, and below
   * REJECT_AFTER_MESSAGES? If so it is recorded and true returned; a duplicate, a counter
   * more than WINDOW_SIZE behind the highest seen, or an over-limit counter returns false.
   *
   * `lo` and `hi` are the little-endian u64 counter of a transport message as two u32s:
   * `view.getUint32(8, true)` and `view.getUint32(12, true)` (MESSAGE_TRANSPORT_OFFSET_COUNTER).
   * Call it only after the message has authenticated, so forged counters cannot move the
   * window. It allocates nothing.
   */
  validate(lo: number, hi: number): boolean {
    lo >>>= 0;
    hi >>>= 0;
    if (hi === REJECT_HI && lo >= REJECT_LO) return false;
    return this.check(lo, hi);
  }

  /**
   * wireguard-go's ValidateCounter: like validate(), with any limit (counters >= `limit` are
   * rejected). Numbers must be non-negative integers no larger than 2^53 - 1; bigints may be
   * up to 2^64 (a limit of 2^64 means no limit). Uses bigint, so not for the per-packet path.
   */
  validateCounter(counter: bigint | number, limit: bigint | number): boolean {
    const c = toBigCounter(counter, "counter");
    const l = toBigCounter(limit, "limit");
    if (c >= l || c >= TWO_64) return false;
    return this.check(Number(c & 0xffff_ffffn), Number(c >> 32n));
  }

  /** Moves the window if needed, then tests and sets the counter's bit. */
  private check(lo: number, hi: number): boolean {
    const lastLo = this.lastLo;
    const lastHi = this.lastHi;
    if (hi > lastHi || (hi === lastHi && lo > lastLo)) {
      // Ahead of the window: clear the blocks between the last counter's block and this one
      // (all of them if it jumped a whole ring or more), then make this the last counter.
      // Block numbers are 58 bits: the low 32 (u32) plus the high 26 (hi >>> 6).
      const currentLo = ((lastLo >>> BLOCK_BIT_LOG) | (lastHi << 26)) >>> 0;
      const blockLo = ((lo >>> BLOCK_BIT_LOG) | (hi << 26)) >>> 0;
      // Exact while the distance is small; when the high parts differ by 2 or more it is
      // ≥ 2^32 and may round, which cannot matter since it is capped at the ring size.
      let diff = ((hi >>> 6) - (lastHi >>> 6)) * TWO_32 + (blockLo - currentLo);
      if (diff > RING_BLOCKS) diff = RING_BLOCKS;
      const ring = this.ring;
      for (let i = 1; i <= diff; i++) {
        const word = ((currentLo + i) & RING_MASK) << 1;
        ring[word] = 0;
        ring[word + 1] = 0;
      }
      this.lastLo = lo;
      this.lastHi = hi;
    } else if ((lastHi - hi) * TWO_32 + (lastLo - lo) > WINDOW_SIZE) {
      // Behind the window: too old to judge, so refused.
      return false;
    }
    // Word (lo >>> 5) & 255 is block (counter >>> 6) & 127, half (counter >>> 5) & 1.
    const word = (lo >>> 5) & (RING_BLOCKS * 2 - 1);
    const bit = 1 << (lo & 31);
    const old = this.ring[word]!;
    if ((old & bit) !== 0) return false;
    this.ring[word] = old | bit;
    return true;
  }
}

/** A counter or limit as a bigint, refusing values that cannot be a u64 counter exactly. */
function toBigCounter(value: bigint | number, name: string): bigint {
  if (typeof value === "bigint") {
    if (value < 0n) throw new RangeError(`${name} must not be negative`);
    return value;
  }
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`${name} must be a non-negative safe integer (use a bigint above 2^53)`);
  }
  return BigInt(value);
}
