// TAI64N timestamps, as carried (encrypted) in a handshake initiation: the responder keeps the
// greatest one seen per peer and refuses any initiation not strictly after it, which stops a
// captured initiation from being replayed. Layout (wireguard-go's tai64n package): 12 bytes,
// a big-endian u64 of seconds, label 2^62 + 10 + Unix seconds (0x400000000000000a at the
// epoch), then a big-endian u32 of nanoseconds.
//
// Like wireguard-go, the nanoseconds are whitened: rounded down to a multiple of 2^24 ns
// (~16.8 ms), so a timestamp does not reveal the sender's clock precisely. That granularity is
// finer than HANDSHAKE_INITIATION_RATE_MS (20 ms), so initiations the rate limit lets through
// still carry strictly increasing timestamps.

import type { Clock } from "./clock.ts";

/** Bytes in a TAI64N timestamp. */
export const TAI64N_SIZE = 12;

/** Added to Unix seconds to form the TAI64 label: 2^62 + 10 (wireguard-go's `base`). */
export const TAI64_BASE: bigint = 0x400000000000000an;

/** Low nanosecond bits cleared by whitening (wireguard-go's whitenerMask, 2^24 - 1). */
export const WHITENER_MASK = 0x1000000 - 1;

const TWO_32 = 0x1_0000_0000;
// The high u32 of TAI64_BASE; its low u32 is 10.
const BASE_HI = 0x4000_0000;
const BASE_LO = 10;

/**
 * Encodes `unixSeconds` (an integer, may be negative) and `nanoseconds` (0 to 999999999) as a
 * TAI64N timestamp, without whitening. For tests and vectors; handshakes use tai64nNow().
 */
export function tai64nEncode(unixSeconds: number, nanoseconds: number): Uint8Array {
  if (!Number.isSafeInteger(unixSeconds)) throw new RangeError("seconds must be an integer");
  if (!Number.isInteger(nanoseconds) || nanoseconds < 0 || nanoseconds > 999_999_999) {
    throw new RangeError("nanoseconds must be an integer in [0, 1e9)");
  }
  // Split 10 + seconds into u32 halves; floor division keeps negative seconds correct.
  const total = unixSeconds + BASE_LO;
  const carry = Math.floor(total / TWO_32);
  const out = new Uint8Array(TAI64N_SIZE);
  const view = new DataView(out.buffer);
  view.setUint32(0, BASE_HI + carry);
  view.setUint32(4, total - carry * TWO_32);
  view.setUint32(8, nanoseconds);
  return out;
}

/** The current wall-clock time from `clock` as a whitened TAI64N timestamp. */
export function tai64nNow(clock: Clock): Uint8Array {
  const ms = clock.wallNow();
  const seconds = Math.floor(ms / 1000);
  // Millisecond clocks give whole milliseconds; min() guards a fractional ms rounding up to 1e9.
  const nanos = Math.min(999_999_999, Math.floor((ms - seconds * 1000) * 1e6));
  return tai64nEncode(seconds, (nanos & ~WHITENER_MASK) >>> 0);
}

/** The two fields of a timestamp: Unix seconds and nanoseconds. */
export interface Tai64nFields {
  /** Seconds since the Unix epoch (label minus 2^62 + 10). */
  readonly unixSeconds: number;
  /** Nanoseconds within the second. */
  readonly nanoseconds: number;
}

/**
 * Decodes a timestamp's fields. Throws a RangeError for a wrong length or a label whose
 * seconds are not exact as a number (outside ±2^53 of the epoch; no real clock is there).
 */
export function tai64nDecode(t: Uint8Array): Tai64nFields {
  if (t.length !== TAI64N_SIZE) throw new RangeError(`TAI64N is ${TAI64N_SIZE} bytes`);
  const view = new DataView(t.buffer, t.byteOffset, TAI64N_SIZE);
  // Both terms are exact, so the sum is exact whenever the true value is a safe integer.
  const unixSeconds = (view.getUint32(0) - BASE_HI) * TWO_32 + (view.getUint32(4) - BASE_LO);
  if (!Number.isSafeInteger(unixSeconds)) throw new RangeError("TAI64N label out of range");
  return { unixSeconds, nanoseconds: view.getUint32(8) };
}

/** The timestamp as milliseconds since the Unix epoch (fractional below a millisecond). */
export function tai64nToUnixMs(t: Uint8Array): number {
  const { unixSeconds, nanoseconds } = tai64nDecode(t);
  return unixSeconds * 1000 + nanoseconds / 1e6;
}

/**
 * True if `a` is strictly later than `b`: a byte-wise big-endian comparison, as wireguard-go's
 * Timestamp.After. Both must be TAI64N_SIZE bytes (a RangeError otherwise), because comparing
 * a short array would quietly accept or refuse a handshake on a malformed value.
 */
export function tai64nAfter(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== TAI64N_SIZE || b.length !== TAI64N_SIZE) {
    throw new RangeError(`TAI64N is ${TAI64N_SIZE} bytes`);
  }
  for (let i = 0; i < TAI64N_SIZE; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x !== y) return x > y;
  }
  return false;
}
