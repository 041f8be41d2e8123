// TAI64N: layout against the shared handshake vector and the epoch, whitening, ordering, and
// that timestamps from an advancing clock never go backwards.

import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { FakeClock } from "../../worker/wireguard/clock.ts";
import { HANDSHAKE_INITIATION_RATE_MS } from "../../worker/wireguard/constants.ts";
import {
  TAI64_BASE,
  TAI64N_SIZE,
  tai64nAfter,
  tai64nDecode,
  tai64nEncode,
  tai64nNow,
  tai64nToUnixMs,
  WHITENER_MASK,
} from "../../worker/wireguard/tai64n.ts";
import { seededInts } from "../helpers/seeded.ts";

const hex = (s: string) => Uint8Array.from(Buffer.from(s, "hex"));
const toHex = (b: Uint8Array) => Buffer.from(b).toString("hex");

/** A FakeClock whose wall clock reads exactly `wallMs` now. */
function clockAt(wallMs: number): FakeClock {
  return new FakeClock(0, wallMs);
}

describe("TAI64N layout", () => {
  it("has wireguard-go's constants", () => {
    expect(TAI64N_SIZE).toBe(12);
    expect(TAI64_BASE).toBe((1n << 62n) + 10n);
    expect(WHITENER_MASK).toBe(0xffffff);
  });

  it("decodes the shared handshake vector's timestamp", () => {
    const vectors = JSON.parse(
      readFileSync(new URL("../vectors/wireguard-handshake.json", import.meta.url), {
        encoding: "utf8",
      }),
    ) as { cases: { timestamp_tai64n: string }[] };
    expect(vectors.cases.length).toBeGreaterThan(0);
    for (const c of vectors.cases) {
      const t = hex(c.timestamp_tai64n);
      expect(t.length).toBe(TAI64N_SIZE);
      // 0x4000000069248100 + 10: 2025-11-24T16:00:00Z, and 123456789 ns (0x075bcd15).
      const { unixSeconds, nanoseconds } = tai64nDecode(t);
      expect(unixSeconds).toBe(1_764_000_000);
      expect(new Date(unixSeconds * 1000).toISOString()).toBe("2025-11-24T16:00:00.000Z");
      expect(nanoseconds).toBe(123_456_789);
      expect(tai64nToUnixMs(t)).toBeCloseTo(1_764_000_000_123.457, 3);
      expect(toHex(tai64nEncode(unixSeconds, nanoseconds))).toBe(c.timestamp_tai64n);
      // The vector's nanoseconds are a fixed pattern, not whitened; whitened they would be:
      expect(nanoseconds & ~WHITENER_MASK).toBe(0x0700_0000);
    }
  });

  it("encodes the epoch as the base label", () => {
    expect(toHex(tai64nEncode(0, 0))).toBe("400000000000000a00000000");
    expect(toHex(tai64nEncode(1, 999_999_999))).toBe("400000000000000b3b9ac9ff");
    // Seconds past 2^32 carry into the high word.
    expect(toHex(tai64nEncode(2 ** 32 - 10, 0))).toBe("400000010000000000000000");
    expect(toHex(tai64nEncode(-11, 0))).toBe("3fffffffffffffff00000000");
  });

  it("round-trips seeded values, including before the epoch", () => {
    const int = seededInts(7);
    for (let i = 0; i < 2000; i++) {
      const seconds = (int(2 ** 31) - 2 ** 30) * (1 + int(3000));
      const nanos = int(1_000_000_000);
      expect(tai64nDecode(tai64nEncode(seconds, nanos))).toEqual({
        unixSeconds: seconds,
        nanoseconds: nanos,
      });
    }
  });

  it("refuses bad lengths and fields", () => {
    expect(() => tai64nDecode(new Uint8Array(11))).toThrow(RangeError);
    expect(() => tai64nAfter(new Uint8Array(12), new Uint8Array(13))).toThrow(RangeError);
    expect(() => tai64nEncode(0, 1_000_000_000)).toThrow(RangeError);
    expect(() => tai64nEncode(0, -1)).toThrow(RangeError);
    expect(() => tai64nEncode(0.5, 0)).toThrow(RangeError);
    expect(() => tai64nDecode(hex("ffffffffffffffff00000000"))).toThrow(RangeError);
  });

  it("decodes from a subarray at an offset", () => {
    const buf = new Uint8Array(20);
    buf.set(tai64nEncode(1_700_000_000, 5 << 24), 5);
    expect(tai64nDecode(buf.subarray(5, 17))).toEqual({
      unixSeconds: 1_700_000_000,
      nanoseconds: 5 << 24,
    });
  });
});

describe("tai64nNow", () => {
  it("whitens nanoseconds down to a multiple of 2^24", () => {
    const base = Date.UTC(2026, 0, 1);
    for (const ms of [0, 1, 16, 17, 33, 34, 500, 989, 990, 999]) {
      const t = tai64nNow(clockAt(base + ms));
      const { unixSeconds, nanoseconds } = tai64nDecode(t);
      expect(unixSeconds).toBe(base / 1000);
      expect(nanoseconds % 2 ** 24).toBe(0);
      expect(nanoseconds).toBe(Math.floor((ms * 1e6) / 2 ** 24) * 2 ** 24);
      expect(nanoseconds).toBeLessThanOrEqual(ms * 1e6);
      expect(ms * 1e6 - nanoseconds).toBeLessThan(2 ** 24);
    }
  });

  it("handles fractional wall milliseconds without reaching a full second", () => {
    const { unixSeconds, nanoseconds } = tai64nDecode(tai64nNow(clockAt(1_000_999.9999999)));
    expect(unixSeconds).toBe(1000);
    expect(nanoseconds).toBeLessThan(1e9);
  });

  it("never goes backwards as a FakeClock advances in small steps", () => {
    const clock = new FakeClock();
    let prev = tai64nNow(clock);
    let increases = 0;
    for (let i = 0; i < 5000; i++) {
      clock.advance(1 + (i % 3));
      const t = tai64nNow(clock);
      expect(tai64nAfter(prev, t)).toBe(false);
      if (tai64nAfter(t, prev)) increases++;
      prev = t;
    }
    // 5000 steps of ~2 ms cross ~600 whitening buckets of ~16.8 ms.
    expect(increases).toBeGreaterThan(500);
  });

  it("strictly increases between initiations HANDSHAKE_INITIATION_RATE apart", () => {
    // The whitening granularity (16.78 ms) is below the 20 ms rate, so a responder never
    // refuses a legitimate, rate-limited re-initiation as a replay.
    expect(2 ** 24 / 1e6).toBeLessThan(HANDSHAKE_INITIATION_RATE_MS);
    const clock = new FakeClock(0, Date.UTC(2026, 0, 1) + 3);
    let prev = tai64nNow(clock);
    for (let i = 0; i < 10_000; i++) {
      clock.advance(HANDSHAKE_INITIATION_RATE_MS);
      const t = tai64nNow(clock);
      expect(tai64nAfter(t, prev)).toBe(true);
      prev = t;
    }
  });

  it("tai64nToUnixMs is within the whitening of the wall clock", () => {
    const clock = new FakeClock();
    for (let i = 0; i < 100; i++) {
      clock.advance(37);
      const ms = tai64nToUnixMs(tai64nNow(clock));
      expect(ms).toBeLessThanOrEqual(clock.wallNow());
      expect(clock.wallNow() - ms).toBeLessThan(2 ** 24 / 1e6);
    }
  });
});

describe("tai64nAfter", () => {
  it("is strict, and compares seconds before nanoseconds", () => {
    const a = tai64nEncode(100, 5);
    expect(tai64nAfter(a, a)).toBe(false);
    expect(tai64nAfter(a, tai64nEncode(100, 5))).toBe(false);
    expect(tai64nAfter(tai64nEncode(100, 6), a)).toBe(true);
    expect(tai64nAfter(a, tai64nEncode(100, 6))).toBe(false);
    expect(tai64nAfter(tai64nEncode(101, 0), tai64nEncode(100, 999_999_999))).toBe(true);
    expect(tai64nAfter(tai64nEncode(2 ** 32, 0), tai64nEncode(2 ** 32 - 1, 0))).toBe(true);
    expect(tai64nAfter(tai64nEncode(0, 0), tai64nEncode(-1, 999_999_999))).toBe(true);
  });

  it("agrees with numeric order on seeded timestamps", () => {
    const int = seededInts(11);
    for (let i = 0; i < 5000; i++) {
      // Small ranges so equal fields happen often.
      const s1 = int(4) * (1 + int(2 ** 20));
      const s2 = int(4) * (1 + int(2 ** 20));
      const n1 = int(3) * 2 ** 24;
      const n2 = int(3) * 2 ** 24;
      const want = s1 > s2 || (s1 === s2 && n1 > n2);
      expect(tai64nAfter(tai64nEncode(s1, n1), tai64nEncode(s2, n2))).toBe(want);
    }
  });
});
