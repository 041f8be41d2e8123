// The client against Node's own HTTP server (node:http, which we did not write), over loopback
// with real sockets (node-dial.ts): framing, interim responses, encodings, keep-alive reuse,
// the per-service limit, stale-connection retry, streaming with bounded memory, abort, timeouts.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { deflateRawSync, deflateSync, gzipSync } from "node:zlib";
import { afterEach, describe, expect, it } from "vitest";
import { type HttpResponse, httpRequest } from "../../worker/http/client.ts";
import { HttpError } from "../../worker/http/errors.ts";
import { HttpPool, type PoolOptions } from "../../worker/http/pool.ts";
import { type DialStats, nodeDial } from "./node-dial.ts";

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

interface Fixture {
  server: Server;
  port: number;
  sockets: Socket[];
  url: (path: string) => string;
}

const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

async function serve(handler: Handler, setup?: (s: Server) => void): Promise<Fixture> {
  const server = createServer(handler);
  setup?.(server);
  const sockets: Socket[] = [];
  server.on("connection", (s) => sockets.push(s));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  servers.push(server);
  const port = (server.address() as AddressInfo).port;
  return { server, port, sockets, url: (p) => `http://127.0.0.1:${port}${p}` };
}

function pool(options: Partial<PoolOptions> = {}, stats?: DialStats): HttpPool {
  return new HttpPool({ dial: nodeDial(stats), ...options });
}

async function text(res: HttpResponse): Promise<string> {
  return new TextDecoder().decode(await bytes(res.body));
}

async function bytes(body: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const c of body as unknown as AsyncIterable<Uint8Array>) parts.push(c);
  return Uint8Array.from(parts.flatMap((p) => [...p]));
}

const get = (p: HttpPool, url: string, init: Partial<Parameters<typeof httpRequest>[1]> = {}) =>
  httpRequest(p, { method: "GET", url, ...init });

describe("HTTP client against node:http", () => {
  it("reads Content-Length, chunked (with trailers) and close-delimited bodies", async () => {
    const f = await serve((req, res) => {
      if (req.url === "/length") res.end("fixed body");
      else if (req.url === "/chunked") {
        res.setHeader("Trailer", "X-Sum");
        res.write("one ");
        res.write("two");
        res.addTrailers({ "X-Sum": "7" });
        res.end();
      } else {
        // No Content-Length and chunking off: Node ends the body by closing.
        res.useChunkedEncodingByDefault = false;
        res.write("until ");
        res.end("close");
      }
    });
    const p = pool();
    const a = await get(p, f.url("/length"));
    expect([a.status, a.statusText, await text(a)]).toEqual([200, "OK", "fixed body"]);
    const b = await get(p, f.url("/chunked"));
    expect(await text(b)).toBe("one two");
    expect(b.trailers()).toEqual([["X-Sum", "7"]]);
    const c = await get(p, f.url("/close"));
    expect(c.headers.find(([n]) => n.toLowerCase() === "content-length")).toBeUndefined();
    expect(await text(c)).toBe("until close");
  });

  it("HEAD, 204 and 304 have no body, and the connection is reused after each", async () => {
    const f = await serve((req, res) => {
      if (req.url === "/204") res.writeHead(204).end();
      else if (req.url === "/304") res.writeHead(304, { ETag: '"x"' }).end();
      else
        res
          .writeHead(200, { "Content-Length": "11" })
          .end(req.method === "HEAD" ? undefined : "hello world");
    });
    const p = pool();
    const head = await httpRequest(p, { method: "HEAD", url: f.url("/") });
    expect(head.headers).toContainEqual(["Content-Length", "11"]);
    expect(await text(head)).toBe("");
    expect((await get(p, f.url("/204"))).status).toBe(204);
    const nm = await get(p, f.url("/304"));
    expect([nm.status, await text(nm)]).toEqual([304, ""]);
    expect(await text(await get(p, f.url("/")))).toBe("hello world");
    expect(f.sockets).toHaveLength(1);
  });

  it("skips 103 Early Hints and waits for 100 Continue before sending the body", async () => {
    let continued = false;
    const f = await serve(
      (req, res) => {
        res.writeEarlyHints({ link: "</style.css>; rel=preload" });
        let n = 0;
        req.on("data", (c: Buffer) => {
          n += c.length;
        });
        req.on("end", () => res.end(`got ${n} continued=${continued}`));
      },
      (s) =>
        s.on("checkContinue", (req, res) => {
          continued = true;
          res.writeContinue();
          s.emit("request", req, res);
        }),
    );
    const p = pool();
    const r = await httpRequest(p, {
      method: "PUT",
      url: f.url("/up"),
      headers: [["Expect", "100-continue"]],
      body: new TextEncoder().encode("payload"),
    });
    expect([r.status, await text(r)]).toEqual([200, "got 7 continued=true"]);
  });

  it("decodes gzip, zlib deflate and raw deflate bodies, sending Accept-Encoding: gzip, deflate", async () => {
    const plain = "corridor ".repeat(5000);
    const seen: string[] = [];
    const f = await serve((req, res) => {
      seen.push(String(req.headers["accept-encoding"]));
      const [coding, body] =
        req.url === "/gzip"
          ? ["gzip", gzipSync(plain)]
          : req.url === "/deflate"
            ? ["deflate", deflateSync(plain)]
            : ["deflate", deflateRawSync(plain)];
      res.writeHead(200, { "Content-Encoding": coding, "Content-Length": body.length }).end(body);
    });
    const p = pool();
    for (const path of ["/gzip", "/deflate", "/raw"]) {
      const r = await get(p, f.url(path), {
        headers: [["Accept-Encoding", "gzip, deflate, br, zstd"]],
      });
      expect(r.headers.some(([n]) => /^content-(encoding|length)$/i.test(n))).toBe(false);
      expect(await text(r)).toBe(plain);
    }
    expect(seen).toEqual(["gzip, deflate", "gzip, deflate", "gzip, deflate"]);
    const raw = await get(p, f.url("/gzip"), { decode: false });
    expect(raw.headers).toContainEqual(["Content-Encoding", "gzip"]);
    expect((await bytes(raw.body)).length).toBeLessThan(plain.length);
  });

  it("reuses one keep-alive connection for sequential requests (the server sees one socket)", async () => {
    const f = await serve((req, res) => res.end(req.url));
    const p = pool();
    for (let i = 0; i < 5; i++) expect(await text(await get(p, f.url(`/${i}`)))).toBe(`/${i}`);
    expect(f.sockets).toHaveLength(1);
    expect(p.stats().dialed).toBe(1);
  });

  it("12 parallel requests use at most 6 connections", async () => {
    let active = 0;
    let peak = 0;
    const f = await serve((req, res) => {
      active++;
      peak = Math.max(peak, active);
      setTimeout(() => {
        active--;
        res.end(req.url);
      }, 200);
    });
    const p = pool();
    const all = await Promise.all(
      Array.from({ length: 12 }, (_, i) => get(p, f.url(`/${i}`)).then(text)),
    );
    expect(all).toEqual(Array.from({ length: 12 }, (_, i) => `/${i}`));
    expect(f.sockets).toHaveLength(6);
    expect(peak).toBe(6);
    expect(p.stats().open[`127.0.0.1:${f.port}`]).toBe(6);
  });

  it("notices an idle connection the server closed, and dials anew", async () => {
    const f = await serve(
      (_, res) => res.end("ok"),
      (s) => {
        s.keepAliveTimeout = 100;
      },
    );
    const p = pool();
    await text(await get(p, f.url("/")));
    // Node closes it keepAliveTimeout plus its 1 s buffer later; the pool sees the FIN then.
    await expect.poll(() => p.stats().open[`127.0.0.1:${f.port}`], { timeout: 5000 }).toBe(0);
    expect(await text(await get(p, f.url("/")))).toBe("ok");
    expect(f.sockets).toHaveLength(2);
  });

  it("a keep-alive connection dropped under a GET is retried once; under a POST it fails clearly", async () => {
    // The server drops each connection on its second request, as a server closing an idle
    // connection at the moment the request arrives does.
    const served = new WeakMap<Socket, number>();
    const requests: string[] = [];
    const f = await serve((req, res) => {
      requests.push(req.method!);
      const n = served.get(req.socket) ?? 0;
      served.set(req.socket, n + 1);
      if (n > 0) req.socket.destroy();
      else req.resume().on("end", () => res.end("fresh"));
    });
    const p = pool();
    await text(await get(p, f.url("/")));
    expect(await text(await get(p, f.url("/")))).toBe("fresh");
    expect(requests).toEqual(["GET", "GET", "GET"]);
    const err = await httpRequest(p, {
      method: "POST",
      url: f.url("/"),
      body: new TextEncoder().encode("once"),
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HttpError);
    expect((err as HttpError).code).toBe("closed");
    expect((err as HttpError).message).toMatch(
      new RegExp(
        `^127\\.0\\.0\\.1:${f.port}: connection closed by the server before any response; POST .*not retried \\(not idempotent\\)`,
      ),
    );
    expect(requests).toEqual(["GET", "GET", "GET", "POST"]);
    // PUT is idempotent: retried once, its Uint8Array body sent again.
    await text(await get(p, f.url("/")));
    const put = await httpRequest(p, { method: "PUT", url: f.url("/"), body: new Uint8Array(10) });
    expect(await text(put)).toBe("fresh");
    expect(requests.slice(4)).toEqual(["GET", "PUT", "PUT"]);
  });

  it("a 64 MiB download streams with bounded buffering", async () => {
    const total = 64 * 1024 * 1024;
    const block = Buffer.alloc(64 * 1024, 7);
    const f = await serve((_, res) => {
      res.writeHead(200, { "Content-Length": total });
      let sent = 0;
      const pump = (): void => {
        while (sent < total) {
          sent += block.length;
          if (!res.write(block)) return void res.once("drain", pump);
        }
        res.end();
      };
      pump();
    });
    const stats: DialStats = { queued: 0, peakQueued: 0, dialed: 0 };
    const p = pool({}, stats);
    const r = await get(p, f.url("/big"));
    let got = 0;
    let reads = 0;
    for await (const c of r.body as unknown as AsyncIterable<Uint8Array>) {
      got += c.length;
      if (++reads % 256 === 0) await new Promise((s) => setTimeout(s, 1));
    }
    expect(got).toBe(total);
    expect(p.stats().peakBuffered).toBeLessThanOrEqual(256 * 1024);
    expect(stats.peakQueued).toBeLessThanOrEqual(256 * 1024);
  });

  it("a 32 MiB upload streams: the body is read only as fast as the server takes it", async () => {
    const total = 32 * 1024 * 1024;
    let received = 0;
    const f = await serve((req, res) => {
      req.on("data", (c: Buffer) => {
        received += c.length;
        // A slow server: pause now and then, so backpressure must reach the producer.
        if (received % (4 * 1024 * 1024) < c.length) {
          req.pause();
          setTimeout(() => req.resume(), 20);
        }
      });
      req.on("end", () => res.end(String(received)));
    });
    let produced = 0;
    let ahead = 0;
    const body = new ReadableStream<Uint8Array>(
      {
        pull(c) {
          if (produced >= total) return c.close();
          ahead = Math.max(ahead, produced - received);
          c.enqueue(new Uint8Array(64 * 1024));
          produced += 64 * 1024;
        },
      },
      { highWaterMark: 0 },
    );
    const p = pool();
    const r = await httpRequest(p, { method: "POST", url: f.url("/up"), body });
    expect(await text(r)).toBe(String(total));
    // What is ahead of the server sits in the kernel's socket buffers, not in the client.
    expect(ahead).toBeLessThanOrEqual(16 * 1024 * 1024);
    expect(p.stats().peakBuffered).toBeLessThanOrEqual(64 * 1024);
  });

  it("an abort mid-upload closes the connection and cancels the request body", async () => {
    let serverSaw = 0;
    const f = await serve((req) => {
      req.on("data", (c: Buffer) => {
        serverSaw += c.length;
      });
    });
    const ac = new AbortController();
    let cancelled: unknown = null;
    const body = new ReadableStream<Uint8Array>(
      {
        pull: (c) => c.enqueue(new Uint8Array(16 * 1024)),
        cancel: (reason) => {
          cancelled = reason;
        },
      },
      { highWaterMark: 0 },
    );
    const p = pool();
    const res = httpRequest(p, { method: "POST", url: f.url("/up"), body, signal: ac.signal });
    await expect.poll(() => serverSaw).toBeGreaterThan(1024 * 1024);
    ac.abort(new Error("stop"));
    await expect(res).rejects.toMatchObject({ code: "aborted" });
    await expect.poll(() => cancelled).not.toBeNull();
    expect(p.stats().open[`127.0.0.1:${f.port}`]).toBe(0);
  });

  it("an abort mid-body closes the connection and errors the body", async () => {
    let closed = false;
    const f = await serve((req, res) => {
      req.socket.on("close", () => {
        closed = true;
      });
      res.writeHead(200, { "Content-Length": 1_000_000 });
      res.write("first part");
    });
    const p = pool();
    const ac = new AbortController();
    const r = await get(p, f.url("/"), { signal: ac.signal });
    const reader = r.body.getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toBe("first part");
    ac.abort(new Error("user left"));
    const err = await reader.read().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HttpError);
    expect((err as HttpError).code).toBe("aborted");
    await expect.poll(() => closed).toBe(true);
    expect(p.stats().open[`127.0.0.1:${f.port}`]).toBe(0);
  });

  it("times out connect, response head and an idle body, naming host:port", async () => {
    const never = new HttpPool({
      dial: (_h, _p, signal) =>
        new Promise((_, reject) => signal?.addEventListener("abort", () => reject(signal.reason))),
      connectTimeoutMs: 100,
    });
    await expect(get(never, "http://web-01:3000/")).rejects.toThrow(
      "web-01:3000: connect timed out after 100 ms",
    );
    const f = await serve((req, res) => {
      if (req.url === "/body") {
        res.writeHead(200, { "Content-Length": 100 });
        res.write("part");
      }
    });
    const p = pool({ headTimeoutMs: 150, bodyIdleTimeoutMs: 150 });
    await expect(get(p, f.url("/head"))).rejects.toThrow(
      `127.0.0.1:${f.port}: no response head within 150 ms`,
    );
    const r = await get(p, f.url("/body"));
    await expect(text(r)).rejects.toThrow(`127.0.0.1:${f.port}: no response body bytes for 150 ms`);
  });

  it("refuses a connection it cannot make, and a request that would inject a header", async () => {
    const p = pool();
    const f = await serve((_, res) => res.end());
    const port = f.port;
    await new Promise((r) => f.server.close(r));
    servers.splice(servers.indexOf(f.server), 1);
    await expect(get(p, `http://127.0.0.1:${port}/`)).rejects.toThrow(
      new RegExp(`127\\.0\\.0\\.1:${port}: cannot connect \\(.*ECONNREFUSED`),
    );
    await expect(
      get(p, "http://127.0.0.1:1/", { headers: [["X", "a\r\nEvil: 1"]] }),
    ).rejects.toThrow(/header X: control byte 0x0d/);
  });
});
