// The coalescing body stream (worker/http/coalesce.ts): bytes and order kept under a seeded fuzz
// of chunk sizes and timings on both sides, the read-ahead bound, cancel and errors reaching the
// right side, and a lone chunk handed over without waiting for more.

import { describe, expect, it } from "vitest";
import { coalescingStream } from "../../worker/http/coalesce.ts";
import { seededBytes, seededInts } from "../helpers/seeded.ts";

/** Waits `kind`: 0 none, 1 a microtask, 2 a macrotask, 3 about a millisecond. */
async function pause(kind: number): Promise<void> {
  if (kind === 1) await Promise.resolve();
  else if (kind === 2) await new Promise((resolve) => setImmediate(resolve));
  else if (kind === 3) await new Promise((resolve) => setTimeout(resolve, 1));
}

function concat(chunks: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.byteLength;
  }
  return out;
}

async function readAll(
  stream: ReadableStream<Uint8Array>,
  each: (chunk: Uint8Array) => Promise<void> = async () => undefined,
): Promise<Uint8Array[]> {
  const reader = stream.getReader();
  const out: Uint8Array[] = [];
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return out;
    out.push(value);
    await each(value);
  }
}

describe("coalescingStream", () => {
  it("keeps bytes and order, bounds chunks and read-ahead (seeded fuzz of sizes and timings)", async () => {
    for (let seed = 1; seed <= 150; seed++) {
      const int = seededInts(seed);
      const bytes = seededBytes(seed);
      const maxQueued = 1 + int(32 * 1024);
      const maxChunk = 1 + int(16 * 1024);
      const parts: Uint8Array[] = [];
      const count = int(60);
      for (let i = 0; i < count; i++) {
        const size = int(8) === 0 ? 0 : int(3 * maxChunk + 2);
        const lead = int(3) === 0 ? int(100) : 0;
        // Some chunks are views into a bigger buffer, as the HTTP client's are.
        parts.push(bytes(lead + size + int(2) * 50).subarray(lead, lead + size));
      }
      const biggest = Math.max(0, ...parts.map((p) => p.byteLength));
      let read = 0;
      let delivered = 0;
      let peak = 0;
      let ends = 0;
      let i = 0;
      const source = new ReadableStream<Uint8Array>(
        {
          async pull(c) {
            peak = Math.max(peak, read - delivered);
            await pause(int(4));
            if (i === parts.length) {
              c.close();
              return;
            }
            const part = parts[i++] as Uint8Array;
            read += part.byteLength;
            c.enqueue(part);
          },
        },
        { highWaterMark: 0 },
      );
      const out = await readAll(
        coalescingStream(source, { maxQueued, maxChunk, onEnd: () => ends++ }),
        async (chunk) => {
          delivered += chunk.byteLength;
          expect(chunk.byteLength).toBeGreaterThan(0);
          expect(chunk.byteLength).toBeLessThanOrEqual(maxChunk);
          expect(chunk.byteOffset).toBe(0);
          expect(chunk.buffer.byteLength).toBe(chunk.byteLength);
          await pause(int(4));
        },
      );
      // (Buffer.equals: toEqual on MiB-sized arrays is slow.)
      expect(Buffer.from(concat(out)).equals(concat(parts)), `seed ${seed}`).toBe(true);
      expect(ends, `seed ${seed}`).toBe(1);
      // Read ahead only while under the bound (one chunk may be on its way to the reader).
      expect(peak, `seed ${seed}`).toBeLessThan(maxQueued + biggest + maxChunk);
    }
  });

  it("stops reading ahead at the bound while nobody reads", async () => {
    let read = 0;
    const source = new ReadableStream<Uint8Array>(
      {
        pull(c) {
          read += 1000;
          c.enqueue(new Uint8Array(1000));
        },
      },
      { highWaterMark: 0 },
    );
    const stream = coalescingStream(source, { maxQueued: 10_000, maxChunk: 4096 });
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(read).toBe(10_000);
    const reader = stream.getReader();
    const first = await reader.read();
    expect(first.value?.byteLength).toBe(4000); // whole source chunks up to maxChunk
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(read).toBe(14_000); // refilled to the bound, no further
    await reader.cancel();
  });

  it("hands over a lone chunk at once, without waiting for more", async () => {
    let second = false;
    const source = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(new TextEncoder().encode("data: one\n\n"));
      },
      pull() {
        second = true;
        return new Promise(() => undefined); // an event stream that stays quiet
      },
    });
    const reader = coalescingStream(source).getReader();
    const got = await Promise.race([
      reader.read(),
      new Promise<string>((resolve) => setTimeout(() => resolve("held back"), 500)),
    ]);
    expect(typeof got === "string" ? got : new TextDecoder().decode(got.value)).toBe(
      "data: one\n\n",
    );
    expect(second).toBe(true); // it went on reading ahead meanwhile
    await reader.cancel();
  });

  it("splits a source chunk bigger than maxChunk into chunks that own their buffers", async () => {
    const big = seededBytes(7)(10_000);
    const source = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(big);
        c.close();
      },
    });
    const out = await readAll(coalescingStream(source, { maxChunk: 4096 }));
    expect(out.map((c) => c.byteLength)).toEqual([4096, 4096, 1808]);
    for (const chunk of out) expect(chunk.buffer.byteLength).toBe(chunk.byteLength);
    expect(concat(out)).toEqual(big);
  });

  it("cancel reaches the source with its reason, and ends once", async () => {
    let reason: unknown;
    let ends = 0;
    const source = new ReadableStream<Uint8Array>({
      pull(c) {
        c.enqueue(new Uint8Array(10));
        return new Promise((resolve) => setTimeout(resolve, 5));
      },
      cancel(why) {
        reason = why;
      },
    });
    const stream = coalescingStream(source, { onEnd: () => ends++ });
    const reader = stream.getReader();
    await reader.read();
    await reader.cancel("the page went away");
    expect(reason).toBe("the page went away");
    expect(ends).toBe(1);
  });

  it("a source error reaches the reader after the bytes before it, and ends once", async () => {
    const failure = new Error("connection closed with 50 of 100 body bytes unread");
    let ends = 0;
    let n = 0;
    const source = new ReadableStream<Uint8Array>(
      {
        pull(c) {
          if (n++ < 3) c.enqueue(new Uint8Array([n, n]));
          else c.error(failure);
        },
      },
      { highWaterMark: 0 },
    );
    const stream = coalescingStream(source, { onEnd: () => ends++ });
    await new Promise((resolve) => setTimeout(resolve, 10)); // all read ahead, error included
    const reader = stream.getReader();
    const first = await reader.read();
    expect([...(first.value ?? [])]).toEqual([1, 1, 2, 2, 3, 3]);
    await expect(reader.read()).rejects.toBe(failure);
    expect(ends).toBe(1);
  });

  it("an empty source closes at once", async () => {
    let ends = 0;
    const source = new ReadableStream<Uint8Array>({ start: (c) => c.close() });
    expect(await readAll(coalescingStream(source, { onEnd: () => ends++ }))).toEqual([]);
    expect(ends).toBe(1);
  });
});
