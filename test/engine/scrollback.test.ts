// The scrollback ring of live sessions (worker/engine/scrollback.ts): it keeps exactly the
// last `capacity` bytes whatever the sizes written (checked against a plain model over seeded
// writes), grows with the output instead of allocating its capacity up front, refuses
// capacities that are not sane, and starts a replay at a line start once it dropped bytes.

import { describe, expect, it } from "vitest";
import { SCROLLBACK_BYTES } from "../../worker/api.ts";
import { MAX_SCROLLBACK_CAPACITY, ScrollbackRing } from "../../worker/engine/scrollback.ts";
import { seededBytes, seededInts } from "../helpers/seeded.ts";

/** The model: everything written, of which the last `capacity` bytes count. */
class Model {
  private parts: Uint8Array[] = [];
  private total = 0;
  constructor(private readonly capacity: number) {}
  write(data: Uint8Array): void {
    this.parts.push(data.slice());
    this.total += data.length;
    // Keep the model small: drop whole parts that are out of the window.
    while (this.parts.length > 1 && this.total - this.parts[0]!.length >= this.capacity) {
      this.total -= this.parts.shift()!.length;
    }
  }
  tail(): Uint8Array {
    const all = new Uint8Array(this.total);
    let at = 0;
    for (const p of this.parts) {
      all.set(p, at);
      at += p.length;
    }
    return all.subarray(Math.max(0, all.length - this.capacity));
  }
}

/** Byte equality without a per-element deep compare (megabytes here). */
function same(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.length).equals(
    Buffer.from(b.buffer, b.byteOffset, b.length),
  );
}

describe("the scrollback ring", () => {
  it("refuses capacities that are not whole, positive and bounded", () => {
    for (const bad of [
      0,
      -1,
      1.5,
      Number.NaN,
      Number.POSITIVE_INFINITY,
      MAX_SCROLLBACK_CAPACITY + 1,
      2 ** 53,
    ]) {
      expect(() => new ScrollbackRing(bad), String(bad)).toThrow(/scrollback capacity/);
    }
    expect(new ScrollbackRing(1).capacity).toBe(1);
    expect(new ScrollbackRing(MAX_SCROLLBACK_CAPACITY).size).toBe(0);
  });

  it("keeps exactly the last capacity bytes over seeded writes of every size (wrap, overfill)", () => {
    const ints = seededInts(0x5c201);
    const bytes = seededBytes(0x5c202);
    let writes = 0;
    for (const capacity of [1, 2, 7, 4096, 16 * 1024 + 3, 100_000]) {
      const ring = new ScrollbackRing(capacity);
      const model = new Model(capacity);
      let written = 0;
      for (let i = 0; i < 300; i++) {
        // Mostly small writes, now and then one near or over the capacity.
        const pick = ints(10);
        const size =
          pick < 6
            ? ints(64)
            : pick < 9
              ? ints(Math.max(1, capacity))
              : capacity + ints(capacity + 1);
        const data = bytes(size);
        ring.write(data);
        model.write(data);
        written += size;
        writes++;
        expect(ring.size).toBe(Math.min(written, capacity));
        expect(ring.dropped).toBe(written - ring.size);
        if (i % 25 === 0 || size >= capacity)
          expect(same(ring.snapshot(), model.tail())).toBe(true);
      }
      expect(same(ring.snapshot(), model.tail())).toBe(true);
      expect(ring.allocated).toBeLessThanOrEqual(capacity);
    }
    expect(writes).toBe(1800);
  });

  it("takes a write larger than its capacity whole: only that write's tail stays", () => {
    const ring = new ScrollbackRing(SCROLLBACK_BYTES);
    ring.write(new Uint8Array(1000).fill(1));
    const big = seededBytes(7)(3 * SCROLLBACK_BYTES + 5);
    ring.write(big);
    expect(ring.size).toBe(SCROLLBACK_BYTES);
    expect(ring.dropped).toBe(1000 + 2 * SCROLLBACK_BYTES + 5);
    expect(same(ring.snapshot(), big.subarray(big.length - SCROLLBACK_BYTES))).toBe(true);
    expect(ring.allocated).toBe(SCROLLBACK_BYTES);
  });

  it("grows with the output: a quiet session does not hold a full megabyte", () => {
    const ring = new ScrollbackRing(SCROLLBACK_BYTES);
    ring.write(new TextEncoder().encode("$ echo hi\r\nhi\r\n"));
    expect(ring.allocated).toBeLessThanOrEqual(16 * 1024);
    ring.write(new Uint8Array(100_000));
    expect(ring.allocated).toBeGreaterThanOrEqual(100_015);
    expect(ring.allocated).toBeLessThan(SCROLLBACK_BYTES);
    ring.write(new Uint8Array(0));
    expect(ring.size).toBe(100_015);
  });

  it("replays everything until it drops bytes, then from the first line start", () => {
    const text = new TextEncoder();
    const ring = new ScrollbackRing(32);
    ring.write(text.encode("one\r\ntwo\r\n"));
    expect(new TextDecoder().decode(ring.replay())).toBe("one\r\ntwo\r\n");
    // 40 bytes into 32: the cut lands inside "\x1b[31mred"; the replay starts at the next line.
    ring.write(text.encode("\x1b[31mred\x1b[0m\r\nthree\r\nfour\r\nfive\r\n"));
    const replay = new TextDecoder().decode(ring.replay());
    expect(replay).toBe("three\r\nfour\r\nfive\r\n");
    // No newline near the cut: the replay skips UTF-8 continuation bytes at the start.
    const utf8 = new ScrollbackRing(5);
    utf8.write(text.encode("ééééé")); // 10 bytes: the last 5 begin with a continuation byte
    const start = utf8.replay();
    expect(start[0]! & 0xc0).not.toBe(0x80);
    expect(new TextDecoder().decode(start)).toBe("éé");
  });
});
