// The whole client (connection, body, pool, decoding) fed hostile responses over an in-memory
// duplex stream, in random splits: every request ends with a response read to its end or an
// HttpError (never another exception, never a hang), and the pool's slots come back to zero.

import { describe, expect, it } from "vitest";
import { httpRequest } from "../../worker/http/client.ts";
import type { DuplexStream } from "../../worker/http/connection.ts";
import { HttpError } from "../../worker/http/errors.ts";
import { HttpPool } from "../../worker/http/pool.ts";
import { seededBytes, seededInts } from "../helpers/seeded.ts";

/** A duplex stream answering with `answer` cut at `cuts`, then closing. */
function scripted(answer: Uint8Array, cuts: number[]): DuplexStream {
  let at = 0;
  const bounds = [...cuts, answer.length];
  let closed = false;
  return {
    readable: new ReadableStream<Uint8Array>({
      pull(c) {
        const end = bounds.shift();
        if (closed || end === undefined) return c.close();
        if (end > at) c.enqueue(answer.slice(at, end));
        at = Math.max(at, end);
      },
    }),
    writable: new WritableStream<Uint8Array>(),
    close() {
      closed = true;
    },
  };
}

const samples = [
  "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
  "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X\r\n\r\n3;a=1\r\nabc\r\n0\r\nX: 1\r\n\r\n",
  "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
  "HTTP/1.0 200 OK\r\n\r\nclose-delimited",
  "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 3\r\n\r\nabc",
  "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\nraw",
];

describe("client fuzz (seeded)", () => {
  it("2,000 hostile responses end in a body or an HttpError, and free their slots", async () => {
    const ints = seededInts(0x5eed);
    const bytes = seededBytes(0x5eee);
    const enc = new TextEncoder();
    let outcomes = 0;
    for (let i = 0; i < 2000; i++) {
      const base = Array.from(enc.encode(samples[i % samples.length]!));
      for (let e = ints(4); e > 0; e--) {
        const at = ints(base.length + 1);
        const kind = ints(3);
        if (kind === 0) base.splice(at, 1 + ints(4));
        else if (kind === 1) base.splice(at, 0, ...bytes(1 + ints(6)));
        else base.splice(at, 0, [0x0d, 0x0a, 0x00, 0x20, 0x3a, 0x30][ints(6)]!);
      }
      const answer = Uint8Array.from(base);
      const cuts = Array.from({ length: ints(4) }, () => ints(answer.length + 1)).sort(
        (a, b) => a - b,
      );
      const pool = new HttpPool({
        dial: async () => scripted(answer, cuts),
        headTimeoutMs: 2000,
        bodyIdleTimeoutMs: 2000,
      });
      const method = ["GET", "HEAD", "POST"][ints(3)]!;
      try {
        const r = await httpRequest(pool, { method, url: "http://fuzz:80/" });
        r.upgrade?.close();
        await new Response(r.body).arrayBuffer();
        outcomes++;
      } catch (e) {
        if (!(e instanceof HttpError)) {
          throw new Error(
            `input ${i} ${JSON.stringify(String.fromCharCode(...answer))}: ${String(e)}`,
          );
        }
      }
      await expect.poll(() => pool.stats().open["fuzz:80"]).toBe(0);
      expect(pool.stats().buffered).toBe(0);
    }
    expect(outcomes).toBeGreaterThan(100);
  });
});
