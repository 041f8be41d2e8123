// The whole client (connection, body, pool, decoding) fed hostile responses over an in-memory
// duplex stream, in random splits: every request ends with a response read to its end or an
// HttpError (never another exception, never a hang), and the pool's slots come back to zero.
// Unmutated samples (any split) must give exactly their response, and a keep-alive one a
// second exact response on the reused connection.

import { describe, expect, it } from "vitest";
import { httpRequest } from "../../worker/http/client.ts";
import type { DuplexStream } from "../../worker/http/connection.ts";
import { HttpError } from "../../worker/http/errors.ts";
import { HttpPool } from "../../worker/http/pool.ts";
import { seededBytes, seededInts } from "../helpers/seeded.ts";

/**
 * A duplex stream answering each request (each write: a head, as no body is sent) with
 * `answer` cut at `cuts`, for `rounds` requests, then closing.
 */
function scripted(answer: Uint8Array, cuts: number[], rounds: number): DuplexStream {
  const queue: Uint8Array[] = [];
  let served = 0;
  let closed = false;
  let wake: (() => void) | null = null;
  const notify = (): void => {
    wake?.();
    wake = null;
  };
  return {
    readable: new ReadableStream<Uint8Array>({
      async pull(c) {
        for (;;) {
          if (closed) return c.close();
          const next = queue.shift();
          if (next !== undefined) return c.enqueue(next);
          if (served >= rounds) return c.close();
          await new Promise<void>((r) => {
            wake = r;
          });
        }
      },
    }),
    writable: new WritableStream<Uint8Array>({
      write() {
        if (served >= rounds) return;
        served++;
        let at = 0;
        for (const end of [...cuts, answer.length]) {
          if (end > at) queue.push(answer.slice(at, end));
          at = Math.max(at, end);
        }
        notify();
      },
    }),
    close() {
      closed = true;
      notify();
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

/** What an unmutated sample must give: a response read exactly, or an HttpError. */
interface Expected {
  status?: number;
  body?: string;
  trailers?: [string, string][];
  /** Bytes read from the raw stream after a 101. */
  upgraded?: string;
  /** The connection is reused (a second request needs no dial). */
  reuse?: boolean;
  error?: string;
}

function expected(sample: number, method: string, upgrade: boolean): Expected {
  const head = method === "HEAD";
  switch (sample) {
    case 0:
      return head ? { status: 200, body: "" } : { status: 200, body: "hello", reuse: true };
    case 1:
      return head
        ? { status: 200, body: "" }
        : { status: 200, body: "abc", trailers: [["X", "1"]], reuse: true };
    case 2:
      return { status: 204, body: "", reuse: true };
    case 3:
      return { status: 200, body: head ? "" : "close-delimited" };
    case 4:
      return head ? { status: 200, body: "" } : { error: "cannot decode the gzip body" };
    default:
      return upgrade
        ? { status: 101, body: "", upgraded: "raw" }
        : { error: "fuzz:80: 101 Switching Protocols to a request without Upgrade" };
  }
}

/** One request, read to its end: what came back, or the error. */
async function run(
  pool: HttpPool,
  method: string,
  upgrade: boolean,
  readRaw: boolean,
): Promise<Expected & { err?: unknown }> {
  const headers: [string, string][] = upgrade
    ? [
        ["Connection", "Upgrade"],
        ["Upgrade", "x"],
      ]
    : [];
  try {
    const r = await httpRequest(pool, { method, url: "http://fuzz:80/", headers });
    let upgraded: string | undefined;
    if (r.upgrade !== undefined && readRaw)
      upgraded = await new Response(r.upgrade.readable).text();
    r.upgrade?.close();
    const body = await new Response(r.body).text();
    const trailers = r.trailers();
    return {
      status: r.status,
      body,
      ...(trailers.length > 0 ? { trailers } : {}),
      ...(upgraded !== undefined ? { upgraded } : {}),
    };
  } catch (err) {
    return { err, error: err instanceof Error ? err.message : String(err) };
  }
}

describe("client fuzz (seeded)", () => {
  it("2,000 hostile responses end in a body or an HttpError, and free their slots", async () => {
    const ints = seededInts(0x5eed);
    const bytes = seededBytes(0x5eee);
    const enc = new TextEncoder();
    let outcomes = 0;
    let checked = 0;
    for (let i = 0; i < 2000; i++) {
      const base = Array.from(enc.encode(samples[i % samples.length]!));
      const mutations = ints(4);
      for (let e = mutations; e > 0; e--) {
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
      const method = ["GET", "HEAD", "POST"][ints(3)]!;
      const sample = i % samples.length;
      // A 101 is accepted only when Upgrade was offered: alternate, to test both.
      const upgrade = sample === 5 && Math.floor(i / samples.length) % 2 === 0;
      const want = mutations === 0 ? expected(sample, method, upgrade) : null;
      const pool = new HttpPool({
        dial: async () => scripted(answer, cuts, want?.reuse ? 2 : 1),
        headTimeoutMs: 2000,
        bodyIdleTimeoutMs: 2000,
      });
      const got = await run(pool, method, upgrade, want !== null);
      if (got.err !== undefined && !(got.err instanceof HttpError)) {
        throw new Error(
          `input ${i} ${JSON.stringify(String.fromCharCode(...answer))}: ${String(got.err)}`,
        );
      }
      if (got.err === undefined) outcomes++;
      if (want !== null) {
        const { reuse, error, ...exact } = want;
        const label = `sample ${sample} ${method} cut at ${cuts.join(",")}`;
        if (error !== undefined) expect(got.error, label).toContain(error);
        else expect(got, label).toEqual(exact);
        if (reuse) {
          expect(await run(pool, method, upgrade, true), `${label}, reused`).toEqual(exact);
          expect(pool.stats().dialed, `${label}, reused`).toBe(1);
          checked++;
        }
      }
      await expect.poll(() => pool.stats().open["fuzz:80"]).toBe(0);
      expect(pool.stats().buffered).toBe(0);
    }
    expect(outcomes).toBeGreaterThan(100);
    expect(checked).toBeGreaterThan(100);
  });
});
