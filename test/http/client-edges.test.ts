// Edges of the client over real sockets: 101 Switching Protocols handed over as a raw stream
// (node:http's 'upgrade'), hostile responses from a raw TCP server refused with the error
// naming what and where, aborts before the head and while waiting for a connection slot.

import { createServer, type Server } from "node:http";
import {
  type AddressInfo,
  createServer as createNetServer,
  type Server as NetServer,
} from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { httpRequest } from "../../worker/http/client.ts";
import { HttpError } from "../../worker/http/errors.ts";
import { HttpPool } from "../../worker/http/pool.ts";
import { nodeDial } from "./node-dial.ts";

const closers: (() => void)[] = [];
afterEach(() => {
  for (const c of closers.splice(0)) c();
});

async function listen(server: Server | NetServer): Promise<number> {
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  closers.push(() => {
    if ("closeAllConnections" in server) server.closeAllConnections();
    server.close();
  });
  return (server.address() as AddressInfo).port;
}

/** A raw TCP server answering every request with `answer`, then closing. */
async function raw(answer: string): Promise<number> {
  const server = createNetServer((s) => {
    s.once("data", () => s.end(answer));
    s.on("error", () => {});
  });
  return listen(server);
}

describe("HTTP client edges", () => {
  it("hands a 101 over as a raw duplex stream that leaves the pool", async () => {
    const server = createServer((_, res) => res.end());
    server.on("upgrade", (req, socket) => {
      socket.write(
        `HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\nhi:${req.headers.upgrade}`,
      );
      socket.on("data", (d) => socket.write(d));
    });
    const port = await listen(server);
    const p = new HttpPool({ dial: nodeDial() });
    const r = await httpRequest(p, {
      method: "GET",
      url: `http://127.0.0.1:${port}/ws`,
      headers: [
        ["Connection", "Upgrade"],
        ["Upgrade", "echo"],
      ],
    });
    expect(r.status).toBe(101);
    const up = r.upgrade!;
    const reader = up.readable.getReader();
    const writer = up.writable.getWriter();
    expect(new TextDecoder().decode((await reader.read()).value)).toBe("hi:echo");
    await writer.write(new TextEncoder().encode("ping"));
    expect(new TextDecoder().decode((await reader.read()).value)).toBe("ping");
    expect(p.stats().open[`127.0.0.1:${port}`]).toBe(0);
    up.close();
  });

  it.each([
    [
      "conflicting Content-Length",
      "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
      /conflicting Content-Length values 5 and 6/,
    ],
    [
      "obs-fold",
      "HTTP/1.1 200 OK\r\nX: a\r\n folded\r\n\r\n",
      /obs-fold \(line folding\) refused at byte 23/,
    ],
    [
      "a bad chunk size",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
      /chunk size without hex digits at byte 0/,
    ],
    [
      "a truncated body",
      "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
      /connection closed with 7 of 10 body bytes unread/,
    ],
    [
      "a corrupt gzip body",
      "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 5\r\n\r\nhello",
      /cannot decode the gzip body/,
    ],
    ["HTTP/2 bytes", "HTTP/2.0 200 OK\r\n\r\n", /unsupported version HTTP\/2\.0/],
  ])("refuses %s with an error naming it", async (_, answer, message) => {
    const port = await raw(answer);
    const p = new HttpPool({ dial: nodeDial() });
    const err = await httpRequest(p, { method: "GET", url: `http://127.0.0.1:${port}/` })
      .then((r) => new Response(r.body).arrayBuffer())
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HttpError);
    expect((err as HttpError).message).toMatch(new RegExp(`^127\\.0\\.0\\.1:${port}: `));
    expect((err as HttpError).message).toMatch(message);
  });

  it("aborts before the head, and while waiting for a connection slot", async () => {
    const server = createServer(() => {});
    const port = await listen(server);
    const p = new HttpPool({ dial: nodeDial(), maxPerService: 1 });
    const url = `http://127.0.0.1:${port}/`;
    const first = new AbortController();
    const a = httpRequest(p, { method: "GET", url, signal: first.signal }).catch((e: unknown) => e);
    const second = new AbortController();
    const b = httpRequest(p, { method: "GET", url, signal: second.signal }).catch(
      (e: unknown) => e,
    );
    await new Promise((r) => setTimeout(r, 50));
    second.abort();
    expect(await b).toMatchObject({
      code: "aborted",
      message: `127.0.0.1:${port}: aborted while waiting for a connection`,
    });
    first.abort(new Error("gone"));
    expect(await a).toMatchObject({
      code: "aborted",
      message: `127.0.0.1:${port}: GET aborted (Error: gone)`,
    });
    await expect.poll(() => p.stats().open[`127.0.0.1:${port}`]).toBe(0);
  });
});
