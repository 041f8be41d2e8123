// The batches of datagrams between the engine and the page's WebRTC (worker/engine/rtc-batch.ts):
// a burst goes as one message, in order, each datagram intact; a batch is posted when full and
// otherwise at its flush; empty and oversized datagrams are refused; and the reader, which takes
// batches from another realm, never throws and stops at the first malformed record (a seeded
// fuzz of 20,000 hostile batches).

import { describe, expect, it } from "vitest";
import {
  BATCH_BYTES,
  BatchWriter,
  MAX_DATAGRAM,
  readBatch,
} from "../../worker/engine/rtc-batch.ts";
import { seededBytes, seededInts } from "../helpers/seeded.ts";

/** A writer whose flushes run when the test says. */
function writer() {
  const posted: ArrayBuffer[] = [];
  let pending: (() => void) | undefined;
  const w = new BatchWriter(
    (batch) => posted.push(batch),
    (flush) => {
      pending = flush;
    },
  );
  return { w, posted, runFlush: () => pending?.() };
}

describe("rtc-batch", () => {
  it("sends a burst as one batch, in order, each datagram intact", () => {
    const { w, posted, runFlush } = writer();
    const bytes = seededBytes(7);
    const sent = [1, 148, 1420, 32, 9000].map((n) => bytes(n));
    for (const d of sent) expect(w.add(d)).toBe(true);
    expect(posted).toHaveLength(0);
    runFlush();
    expect(posted).toHaveLength(1);
    const { datagrams, complete } = readBatch(posted[0]!);
    expect(complete).toBe(true);
    expect(datagrams.map((d) => [...d])).toEqual(sent.map((d) => [...d]));
  });

  it("copies what it is given: the caller may reuse its bytes at once", () => {
    const { w, posted, runFlush } = writer();
    const d = new Uint8Array([1, 2, 3]);
    w.add(d);
    d.fill(9);
    runFlush();
    expect([...readBatch(posted[0]!).datagrams[0]!]).toEqual([1, 2, 3]);
  });

  it("posts a full batch at once and the rest at the flush", () => {
    const { w, posted, runFlush } = writer();
    const d = new Uint8Array(1400).fill(1);
    const count = Math.ceil(BATCH_BYTES / 1402) + 3;
    for (let i = 0; i < count; i++) w.add(d);
    expect(posted).toHaveLength(1);
    runFlush();
    expect(posted).toHaveLength(2);
    const total = posted.reduce((n, b) => n + readBatch(b).datagrams.length, 0);
    expect(total).toBe(count);
  });

  it("refuses empty and oversized datagrams, and flushes nothing when empty", () => {
    const { w, posted, runFlush } = writer();
    expect(w.add(new Uint8Array(0))).toBe(false);
    expect(w.add(new Uint8Array(MAX_DATAGRAM + 1))).toBe(false);
    w.flush();
    runFlush();
    expect(posted).toHaveLength(0);
  });

  it("reads the datagrams before a malformed record, and says it stopped", () => {
    const good = new Uint8Array([0, 2, 7, 8]);
    const truncated = new Uint8Array([0, 2, 7, 8, 0, 5, 1, 2]);
    const zero = new Uint8Array([0, 1, 9, 0, 0, 4]);
    const half = new Uint8Array([0, 1, 9, 0]);
    expect(readBatch(good.buffer)).toMatchObject({ complete: true });
    const t = readBatch(truncated.buffer);
    expect(t.complete).toBe(false);
    expect(t.datagrams.map((d) => [...d])).toEqual([[7, 8]]);
    expect(readBatch(zero.buffer)).toMatchObject({ complete: false });
    expect(readBatch(zero.buffer).datagrams).toHaveLength(1);
    expect(readBatch(half.buffer).datagrams).toHaveLength(1);
    expect(readBatch(new ArrayBuffer(0))).toEqual({ datagrams: [], complete: true });
  });

  it("never throws on hostile batches (seeded fuzz, 20,000 inputs)", () => {
    const bytes = seededBytes(19);
    const ints = seededInts(23);
    let tried = 0;
    let datagrams = 0;
    for (let i = 0; i < 20_000; i++) {
      // Half pure noise, half well-formed records then damaged (a byte changed, or cut short).
      let input: Uint8Array;
      if (i % 2 === 0) input = bytes(ints(300));
      else {
        const parts: number[] = [];
        for (let r = ints(6); r >= 0; r--) {
          const n = 1 + ints(40);
          parts.push(n >> 8, n & 0xff, ...bytes(n));
        }
        input = Uint8Array.from(parts);
        if (ints(2) === 0) input[ints(input.length)] = ints(256);
        else input = input.subarray(0, ints(input.length + 1));
      }
      const result = readBatch(input.slice().buffer);
      // Every datagram lies inside the batch and is non-empty.
      let used = 0;
      for (const d of result.datagrams) {
        expect(d.length).toBeGreaterThan(0);
        used += 2 + d.length;
      }
      expect(used).toBeLessThanOrEqual(input.length);
      expect(result.complete).toBe(used === input.length);
      datagrams += result.datagrams.length;
      tried++;
    }
    console.log(`rtc-batch fuzz: ${tried} batches, ${datagrams} datagrams read`);
    expect(tried).toBe(20_000);
  });
});
