// Lifecycle of one exchange over real sockets: the head timer runs only while request bytes
// stand still, a 101 is accepted only for a request offering Upgrade, an abort after the head
// frees the pool slot, the pool's abort paths, and the 1 s Expect/grace timers are cleared.

import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it, vi } from "vitest";
import { httpRequest } from "../../worker/http/client.ts";
import { HttpError } from "../../worker/http/errors.ts";
import { HttpPool } from "../../worker/http/pool.ts";
import { nodeDial } from "./node-dial.ts";

const closers: (() => void)[] = [];
afterEach(() => {
  vi.restoreAllMocks();
  for (const c of closers.splice(0)) c();
});

async function listen(server: Server): Promise<string> {
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  closers.push(() => {
    server.closeAllConnections();
    server.close();
  });
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A server answering with the number of request body bytes it read. */
async function counting(): Promise<string> {
  return listen(
    createServer((req, res) => {
      let n = 0;
      req.on("data", (d: Buffer) => {
        n += d.length;
      });
      req.on("end", () => res.end(String(n)));
    }),
  );
}

/** A request body of `count` chunks of `size` bytes, one every `gapMs`. */
function slowBody(count: number, size: number, gapMs: number): ReadableStream<Uint8Array> {
  let sent = 0;
  return new ReadableStream<Uint8Array>({
    async pull(c) {
      if (sent === count) return c.close();
      await new Promise((r) => setTimeout(r, gapMs));
      sent++;
      c.enqueue(new Uint8Array(size).fill(0x61));
    },
  });
}

describe("HTTP exchange lifecycle", () => {
  it("a slow upload longer than headTimeoutMs succeeds: the head timer waits for the body", async () => {
    const service = await counting();
    const pool = new HttpPool({ dial: nodeDial(), headTimeoutMs: 150 });
    const r = await httpRequest(pool, {
      method: "POST",
      url: `http://${service}/`,
      body: slowBody(8, 1000, 60),
    });
    expect(r.status).toBe(200);
    expect(await new Response(r.body).text()).toBe("8000");
  });

  it("refuses a body chunk that is not bytes (a hostile stream's {length:-5}), and the pool stays sound", async () => {
    const service = await counting();
    const pool = new HttpPool({ dial: nodeDial() });
    const hostile = new ReadableStream<unknown>({
      start(c) {
        c.enqueue({ length: -5 });
        c.enqueue(new TextEncoder().encode("GET /smuggled HTTP/1.1\r\n\r\n"));
        c.close();
      },
    }) as ReadableStream<Uint8Array>;
    const err = await httpRequest(pool, {
      method: "POST",
      url: `http://${service}/`,
      body: hostile,
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({
      code: "request",
      message: `${service}: request body stream gave a chunk that is not a Uint8Array`,
    });
    const next = await httpRequest(pool, {
      method: "POST",
      url: `http://${service}/`,
      body: new Uint8Array(3),
    });
    expect(await new Response(next.body).text()).toBe("3");
  });

  it("still times out a server silent after the whole body", async () => {
    const service = await listen(createServer(() => {}));
    const pool = new HttpPool({ dial: nodeDial(), headTimeoutMs: 150 });
    const err = await httpRequest(pool, {
      method: "POST",
      url: `http://${service}/`,
      body: slowBody(4, 10, 60),
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({
      code: "timeout",
      message: `${service}: no response head within 150 ms`,
    });
    await expect.poll(() => pool.stats().open[service]).toBe(0);
  });

  it("refuses a 101 to a request that offered no Upgrade", async () => {
    const server = createServer((req) => {
      req.socket.write("HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\nraw");
    });
    const service = await listen(server);
    const pool = new HttpPool({ dial: nodeDial() });
    const err = await httpRequest(pool, { method: "GET", url: `http://${service}/` }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(HttpError);
    expect(err).toMatchObject({
      code: "protocol",
      message: `${service}: 101 Switching Protocols to a request without Upgrade`,
    });
    await expect.poll(() => pool.stats().open[service]).toBe(0);
  });

  it("7 requests aborted after their head (body unread) free their slots: the 8th succeeds", async () => {
    const service = await listen(
      createServer((req, res) => {
        if (req.url === "/ok") return res.end("ok");
        res.writeHead(200, { "Content-Type": "text/plain" });
        res.write("x");
      }),
    );
    const pool = new HttpPool({ dial: nodeDial() });
    for (let i = 0; i < 7; i++) {
      const ac = new AbortController();
      const r = await httpRequest(pool, {
        method: "GET",
        url: `http://${service}/hang`,
        signal: ac.signal,
      });
      expect(r.status).toBe(200);
      ac.abort();
    }
    expect(pool.stats().open[service]).toBe(0);
    const ok = await httpRequest(pool, { method: "GET", url: `http://${service}/ok` });
    expect(await new Response(ok.body).text()).toBe("ok");
    expect(pool.stats().dialed).toBe(8);
  });

  it("an already-aborted signal rejects with HttpError aborted", async () => {
    const pool = new HttpPool({ dial: nodeDial() });
    const err = await httpRequest(pool, {
      method: "GET",
      url: "http://127.0.0.1:9/",
      signal: AbortSignal.abort(new Error("early")),
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HttpError);
    expect(err).toMatchObject({ code: "aborted", message: "127.0.0.1:9: aborted (Error: early)" });
    expect(pool.stats().dialed).toBe(0);
  });

  it("a waiter served a connection removes its abort listener", async () => {
    const service = await listen(
      createServer((_, res) => {
        setTimeout(() => res.end("ok"), 50);
      }),
    );
    const pool = new HttpPool({ dial: nodeDial(), maxPerService: 1 });
    const ac = new AbortController();
    let listeners = 0;
    const add = ac.signal.addEventListener.bind(ac.signal);
    const remove = ac.signal.removeEventListener.bind(ac.signal);
    ac.signal.addEventListener = ((...a: Parameters<typeof add>) => {
      if (a[0] === "abort") listeners++;
      add(...a);
    }) as typeof add;
    ac.signal.removeEventListener = ((...a: Parameters<typeof remove>) => {
      if (a[0] === "abort") listeners--;
      remove(...a);
    }) as typeof remove;
    const url = `http://${service}/`;
    const first = httpRequest(pool, { method: "GET", url });
    const second = httpRequest(pool, { method: "GET", url, signal: ac.signal });
    expect(await new Response((await first).body).text()).toBe("ok");
    expect(await new Response((await second).body).text()).toBe("ok");
    expect(pool.stats().dialed).toBe(1);
    expect(listeners).toBe(0);
  });

  it("clears its 1 s Expect and send-grace timers", async () => {
    const made: unknown[] = [];
    const realSet = globalThis.setTimeout;
    vi.spyOn(globalThis, "setTimeout").mockImplementation(((
      fn: () => void,
      ms?: number,
      ...rest: unknown[]
    ) => {
      const t = realSet(fn, ms, ...rest);
      if (ms === 1000) made.push(t);
      return t;
    }) as typeof setTimeout);
    const cleared = vi.spyOn(globalThis, "clearTimeout");
    // Answers before reading the body (grace path), and honours Expect: 100-continue.
    const service = await listen(
      createServer((req, res) => {
        res.end("early");
        req.resume();
      }),
    );
    const pool = new HttpPool({ dial: nodeDial() });
    const url = `http://${service}/`;
    const expectRes = await httpRequest(pool, {
      method: "PUT",
      url,
      headers: [["Expect", "100-continue"]],
      body: new Uint8Array(10),
    });
    expect(await new Response(expectRes.body).text()).toBe("early");
    const graceRes = await httpRequest(pool, {
      method: "POST",
      url,
      body: slowBody(2, 10, 100),
    });
    expect(await new Response(graceRes.body).text()).toBe("early");
    expect(made.length).toBeGreaterThanOrEqual(2);
    // A timer left to fire is never cleared: the poll then fails.
    const allCleared = (): boolean => made.every((t) => cleared.mock.calls.some(([c]) => c === t));
    await expect.poll(allCleared, { timeout: 3000 }).toBe(true);
  });
});
