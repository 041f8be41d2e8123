// Decoding limits against a hostile server: more than MAX_CODINGS content codings are refused
// before any decompressor is made, and a nested gzip "bomb" fails once its decoded output passes
// max(MAX_DECODED_FLOOR, MAX_DECODE_RATIO x bytes received), while one honest gzip layer of the
// same size decodes in full. Every refusal names host:port and frees the pool slot.

import { type AddressInfo, createServer, type Server } from "node:net";
import { gzipSync } from "node:zlib";
import { afterEach, describe, expect, it } from "vitest";
import { httpRequest, MAX_DECODE_RATIO, MAX_DECODED_FLOOR } from "../../worker/http/client.ts";
import { HttpError } from "../../worker/http/errors.ts";
import { HttpPool } from "../../worker/http/pool.ts";
import { nodeDial } from "./node-dial.ts";

const servers: Server[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

/** A raw server answering each request with `codings` over `body`, then closing. */
async function hostile(codings: string, body: Uint8Array): Promise<number> {
  const server = createServer((s) => {
    s.on("error", () => {});
    s.once("data", () => {
      s.write(
        `HTTP/1.1 200 OK\r\nContent-Encoding: ${codings}\r\nContent-Length: ${body.length}\r\n\r\n`,
      );
      s.end(body);
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return (server.address() as AddressInfo).port;
}

/** Reads `body` to its end (or failure), counting bytes without keeping them. */
async function drain(body: ReadableStream<Uint8Array>): Promise<{ bytes: number; err?: unknown }> {
  const reader = body.getReader();
  let bytes = 0;
  try {
    for (;;) {
      const r = await reader.read();
      if (r.done) return { bytes };
      bytes += r.value.length;
    }
  } catch (err) {
    return { bytes, err };
  }
}

const zeros = new Uint8Array(MAX_DECODED_FLOOR + 16 * 1024 * 1024);

describe("HTTP client decoding limits", () => {
  it("refuses three content codings, naming host:port and the codings", async () => {
    const body = gzipSync(gzipSync(gzipSync("hi")));
    const port = await hostile("gzip, gzip,gzip", body);
    const pool = new HttpPool({ dial: nodeDial() });
    const err = await httpRequest(pool, { method: "GET", url: `http://127.0.0.1:${port}/` }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(HttpError);
    expect(err).toMatchObject({
      code: "protocol",
      message: `127.0.0.1:${port}: refused a body with 3 content codings (gzip, gzip, gzip); at most 2 are decoded`,
    });
    await expect.poll(() => pool.stats().open[`127.0.0.1:${port}`]).toBe(0);
  });

  it("stops a gzip-over-gzip bomb past the decoded limit and closes the connection", async () => {
    const bomb = gzipSync(gzipSync(zeros));
    expect(bomb.length * MAX_DECODE_RATIO).toBeLessThan(MAX_DECODED_FLOOR);
    const port = await hostile("gzip, gzip", bomb);
    const pool = new HttpPool({ dial: nodeDial() });
    const r = await httpRequest(pool, { method: "GET", url: `http://127.0.0.1:${port}/` });
    const got = await drain(r.body);
    expect(got.err).toBeInstanceOf(HttpError);
    expect((got.err as HttpError).code).toBe("protocol");
    expect((got.err as HttpError).message).toMatch(
      new RegExp(
        `^127\\.0\\.0\\.1:${port}: refused the gzip, gzip body: over \\d+ bytes decoded from \\d+ received`,
      ),
    );
    expect(got.bytes).toBeLessThanOrEqual(MAX_DECODED_FLOOR);
    await expect.poll(() => pool.stats().open[`127.0.0.1:${port}`]).toBe(0);
  });

  it("decodes one honest gzip layer past the floor (its ratio stays under the limit)", async () => {
    const port = await hostile("gzip", gzipSync(zeros, { level: 9 }));
    const pool = new HttpPool({ dial: nodeDial() });
    const r = await httpRequest(pool, { method: "GET", url: `http://127.0.0.1:${port}/` });
    const got = await drain(r.body);
    expect(got.err).toBeUndefined();
    expect(got.bytes).toBe(zeros.length);
  });
});
