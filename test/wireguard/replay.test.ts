// The replay filter: wireguard-go's replay_test.go (itself ported from the Linux kernel's
// selftest) case by case, edge cases around the window and u32 boundaries, and long seeded
// random sequences checked against a brute-force model (a Set of accepted counters).

import { describe, expect, it } from "vitest";
import { REJECT_AFTER_MESSAGES } from "../../worker/wireguard/constants.ts";
import { ReplayFilter, RING_BLOCKS, WINDOW_SIZE } from "../../worker/wireguard/replay.ts";
import { seededInts } from "../helpers/seeded.ts";

const TWO_32 = 1n << 32n;

/** Runs `counter` through the per-packet API, split into u32 halves as a DataView reads them. */
function viaHalves(f: ReplayFilter, counter: bigint): boolean {
  return f.validate(Number(counter & 0xffff_ffffn), Number(counter >> 32n));
}

describe("ReplayFilter constants", () => {
  it("matches wireguard-go: 128 blocks of 64 bits, window (128 - 1) * 64", () => {
    expect(RING_BLOCKS).toBe(128);
    expect(WINDOW_SIZE).toBe(8128);
    expect(REJECT_AFTER_MESSAGES).toBe(0xffff_ffff_ffff_dfffn);
  });
});

describe("wireguard-go replay_test.go", () => {
  // The sequence, with the limit as a parameter: wireguard-go's test uses its own
  // RejectAfterMessages (2^64 - 2^4 - 1); it is also run at the paper's value through both APIs.
  type Check = (f: ReplayFilter, n: bigint, limit: bigint) => boolean;
  const general: Check = (f, n, limit) => f.validateCounter(n, limit);
  const halves: Check = (f, n, limit) => {
    expect(limit).toBe(REJECT_AFTER_MESSAGES); // validate() has that limit built in
    return viaHalves(f, n);
  };
  const W = BigInt(WINDOW_SIZE);
  const T_LIM = W + 1n;

  function runMain(check: Check, limit: bigint): void {
    const f = new ReplayFilter();
    let testNumber = 0;
    const T = (n: bigint, expected: boolean) => {
      testNumber++;
      expect(check(f, n, limit), `test ${testNumber}: counter ${n}`).toBe(expected);
    };
    const R = limit;
    T(0n, true); /*  1 */
    T(1n, true); /*  2 */
    T(1n, false); /*  3 */
    T(9n, true); /*  4 */
    T(8n, true); /*  5 */
    T(7n, true); /*  6 */
    T(7n, false); /*  7 */
    T(T_LIM, true); /*  8 */
    T(T_LIM - 1n, true); /*  9 */
    T(T_LIM - 1n, false); /* 10 */
    T(T_LIM - 2n, true); /* 11 */
    T(2n, true); /* 12 */
    T(2n, false); /* 13 */
    T(T_LIM + 16n, true); /* 14 */
    T(3n, false); /* 15 */
    T(T_LIM + 16n, false); /* 16 */
    T(T_LIM * 4n, true); /* 17 */
    T(T_LIM * 4n - (T_LIM - 1n), true); /* 18 */
    T(10n, false); /* 19 */
    T(T_LIM * 4n - T_LIM, false); /* 20 */
    T(T_LIM * 4n - (T_LIM + 1n), false); /* 21 */
    T(T_LIM * 4n - (T_LIM - 2n), true); /* 22 */
    T(T_LIM * 4n + 1n - T_LIM, false); /* 23 */
    T(0n, false); /* 24 */
    T(R, false); /* 25 */
    T(R - 1n, true); /* 26 */
    T(R, false); /* 27 */
    T(R - 1n, false); /* 28 */
    T(R - 2n, true); /* 29 */
    T(R + 1n, false); /* 30 */
    T(R + 2n, false); /* 31 */
    T(R - 2n, false); /* 32 */
    T(R - 3n, true); /* 33 */
    T(0n, false); /* 34 */
  }

  function runBulk(check: Check, limit: bigint): void {
    const f = new ReplayFilter();
    const T = (n: bigint, expected: boolean) =>
      expect(check(f, n, limit), `counter ${n}`).toBe(expected);

    // Bulk test 1
    f.reset();
    for (let i = 1n; i <= W; i++) T(i, true);
    T(0n, true);
    T(0n, false);

    // Bulk test 2
    f.reset();
    for (let i = 2n; i <= W + 1n; i++) T(i, true);
    T(1n, true);
    T(0n, false);

    // Bulk test 3
    f.reset();
    for (let i = W + 1n; i > 0n; i--) T(i, true);

    // Bulk test 4
    f.reset();
    for (let i = W + 2n; i > 1n; i--) T(i, true);
    T(0n, false);

    // Bulk test 5
    f.reset();
    for (let i = W; i > 0n; i--) T(i, true);
    T(W + 1n, true);
    T(0n, false);

    // Bulk test 6
    f.reset();
    for (let i = W; i > 0n; i--) T(i, true);
    T(0n, true);
    T(W + 1n, true);
  }

  const GO_TEST_LIMIT = (1n << 64n) - (1n << 4n) - 1n;
  it("main sequence, wireguard-go's test limit, validateCounter", () =>
    runMain(general, GO_TEST_LIMIT));
  it("main sequence, REJECT_AFTER_MESSAGES, validateCounter", () =>
    runMain(general, REJECT_AFTER_MESSAGES));
  it("main sequence, REJECT_AFTER_MESSAGES, validate(lo, hi)", () =>
    runMain(halves, REJECT_AFTER_MESSAGES));
  it("bulk tests 1-6, validateCounter", () => runBulk(general, GO_TEST_LIMIT));
  it("bulk tests 1-6, validate(lo, hi)", () => runBulk(halves, REJECT_AFTER_MESSAGES));
});

describe("ReplayFilter edges", () => {
  it("accepts exactly WINDOW_SIZE behind the highest counter, refuses one more", () => {
    const f = new ReplayFilter();
    expect(f.validate(20_000, 0)).toBe(true);
    expect(f.validate(20_000 - WINDOW_SIZE, 0)).toBe(true);
    expect(f.validate(20_000 - WINDOW_SIZE - 1, 0)).toBe(false);
  });

  it("moves across the u32 boundary of the counter", () => {
    const f = new ReplayFilter();
    const base = TWO_32 - 10n;
    expect(viaHalves(f, base)).toBe(true);
    expect(viaHalves(f, TWO_32 + 5n)).toBe(true);
    expect(viaHalves(f, TWO_32 + 5n)).toBe(false);
    expect(viaHalves(f, base)).toBe(false);
    expect(viaHalves(f, TWO_32 - 100n)).toBe(true);
    expect(viaHalves(f, TWO_32)).toBe(true);
    expect(viaHalves(f, TWO_32 + 5n - BigInt(WINDOW_SIZE) - 1n)).toBe(false);
    expect(viaHalves(f, TWO_32 + 5n - BigInt(WINDOW_SIZE))).toBe(true);
  });

  it("a jump of more than a ring clears everything, including at huge counters", () => {
    const f = new ReplayFilter();
    for (let i = 0; i < 100; i++) expect(f.validate(i, 0)).toBe(true);
    // Same ring slots, 2^40 later: must be fresh, not remembered.
    const far = 1n << 40n;
    for (let i = 0n; i < 100n; i++) expect(viaHalves(f, far + i)).toBe(true);
    for (let i = 0n; i < 100n; i++) expect(viaHalves(f, far + i)).toBe(false);
    expect(f.validate(5, 0)).toBe(false); // far behind now
    const huge = REJECT_AFTER_MESSAGES - 1n;
    expect(viaHalves(f, huge)).toBe(true);
    expect(viaHalves(f, huge)).toBe(false);
    expect(viaHalves(f, huge - 64n * 127n)).toBe(true);
  });

  it("validate() refuses REJECT_AFTER_MESSAGES and above without touching the window", () => {
    const f = new ReplayFilter();
    expect(viaHalves(f, REJECT_AFTER_MESSAGES)).toBe(false);
    expect(f.validate(0xffff_ffff, 0xffff_ffff)).toBe(false);
    expect(f.validate(0, 0)).toBe(true);
    expect(f.validate(1, 0)).toBe(true);
  });

  it("takes signed int32 halves as their unsigned values", () => {
    const f = new ReplayFilter();
    expect(f.validate(-1, 0)).toBe(true); // 0xffffffff
    expect(f.validate(0xffff_ffff, 0)).toBe(false);
  });

  it("reset() forgets everything", () => {
    const f = new ReplayFilter();
    for (let i = 0; i < 10_000; i += 7) f.validate(i, 3);
    f.reset();
    expect(f.validate(0, 0)).toBe(true);
    for (let i = 1; i < 300; i++) expect(f.validate(i, 0)).toBe(true);
  });

  it("validateCounter takes numbers and bigints and refuses bad ones", () => {
    const f = new ReplayFilter();
    expect(f.validateCounter(5, REJECT_AFTER_MESSAGES)).toBe(true);
    expect(f.validateCounter(5n, 100)).toBe(false);
    expect(f.validateCounter(6, 6)).toBe(false);
    expect(f.validateCounter(1n << 64n, 1n << 64n)).toBe(false);
    expect(f.validateCounter((1n << 64n) - 1n, 1n << 64n)).toBe(true);
    expect(() => f.validateCounter(-1, 10)).toThrow(RangeError);
    expect(() => f.validateCounter(1.5, 10)).toThrow(RangeError);
    expect(() => f.validateCounter(2 ** 60, REJECT_AFTER_MESSAGES)).toThrow(RangeError);
    expect(() => f.validateCounter(-1n, 10)).toThrow(RangeError);
  });
});

describe("ReplayFilter against a brute-force model", () => {
  /** The specification: accepted iff below the limit, new, and not too far behind the max. */
  class Model {
    private seen = new Set<bigint>();
    private last = 0n;
    check(c: bigint): boolean {
      if (c >= REJECT_AFTER_MESSAGES) return false;
      if (c <= this.last && this.last - c > BigInt(WINDOW_SIZE)) return false;
      if (this.seen.has(c)) return false;
      this.seen.add(c);
      if (c > this.last) this.last = c;
      return true;
    }
  }

  /** Counters like a real, messy link: mostly ascending, with reordering, duplicates, jumps. */
  function* counters(
    seed: number,
    count: number,
    start: bigint,
    jumps: boolean,
  ): Generator<bigint> {
    const int = seededInts(seed);
    let next = start;
    const recent: bigint[] = [];
    for (let i = 0; i < count; i++) {
      const kind = int(100);
      let c: bigint;
      if (kind < 55) c = next++;
      else if (kind < 70)
        c = next - 1n - BigInt(int(200)); // reordered a little
      else if (kind < 78)
        c = next - BigInt(WINDOW_SIZE - 64 + int(200)); // at the window's edge
      else if (kind < 88)
        c = recent[int(recent.length || 1)] ?? next; // duplicate
      else if (kind < 98 && !jumps) c = next++;
      else if (kind < 95)
        c = next += BigInt(1 + int(64 * 130)); // skip up to past a ring
      else if (kind < 98)
        c = next += BigInt(int(2 ** 31)) * BigInt(1 + int(4)); // far ahead
      else c = BigInt(int(1 << 20)); // ancient
      if (c < 0n) c = 0n;
      recent.push(c);
      if (recent.length > 64) recent.shift();
      yield c;
    }
  }

  // Near the limit the jumps are left out, or the first one would end the run past it.
  const starts: [string, bigint, boolean][] = [
    ["from 0", 0n, true],
    ["across 2^32", TWO_32 - 20_000n, true],
    ["through the limit", REJECT_AFTER_MESSAGES - 40_000n, false],
  ];
  for (const [name, start, jumps] of starts) {
    for (const seed of [1, 2]) {
      it(`100k operations ${name}, seed ${seed}, both APIs`, () => {
        const model = new Model();
        const fast = new ReplayFilter();
        const general = new ReplayFilter();
        let accepted = 0;
        let n = 0;
        for (const c of counters(seed, 100_000, start, jumps)) {
          const want = model.check(c);
          const gotFast = viaHalves(fast, c);
          const gotGeneral = general.validateCounter(c, REJECT_AFTER_MESSAGES);
          if (gotFast !== want || gotGeneral !== want) {
            expect.fail(
              `op ${n}, counter ${c}: model ${want}, validate ${gotFast}, ` +
                `validateCounter ${gotGeneral}`,
            );
          }
          if (want) accepted++;
          n++;
        }
        // The mix must exercise both answers substantially.
        expect(accepted).toBeGreaterThan(10_000);
        expect(n - accepted).toBeGreaterThan(10_000);
      });
    }
  }
});
