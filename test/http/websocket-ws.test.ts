// Interop of our WebSocket client with a server we did not write: the `ws` package's
// WebSocketServer over loopback, plus a raw TCP server for a peer that never answers Close.

import type { IncomingMessage } from "node:http";
import { createServer, type Server } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type WebSocket, WebSocketServer } from "ws";
import {
  acceptFor,
  openWebSocket,
  type WebSocketClient,
  WebSocketHandshakeError,
} from "../../worker/http/websocket/index.ts";
import { connectStream, patternBytes } from "./websocket-helpers.ts";

const MiB = 1024 * 1024;
const same = (a: Uint8Array, b: Uint8Array) =>
  Buffer.from(a.buffer, a.byteOffset, a.length).equals(
    Buffer.from(b.buffer, b.byteOffset, b.length),
  );

interface Peer {
  ws: WebSocket;
  request: IncomingMessage;
}

let wss: WebSocketServer;
let port: number;
// Each test's server-side behaviour is chosen by the request path.
const peers = new Map<string, (peer: Peer) => void>();

beforeAll(async () => {
  wss = new WebSocketServer({
    port: 0,
    host: "127.0.0.1",
    maxPayload: 64 * MiB,
    handleProtocols: (offered, req) => {
      if (req.url === "/rogue-protocol") return "not-offered";
      const list = [...offered];
      return list.includes("b") ? "b" : (list[0] ?? false);
    },
    verifyClient: (info, cb) => {
      if (info.req.url === "/forbidden") cb(false, 403, "Forbidden");
      else cb(true);
    },
  });
  await new Promise<void>((r) => wss.once("listening", () => r()));
  port = (wss.address() as { port: number }).port;
  wss.on("connection", (ws, request) => {
    const behave = peers.get(request.url ?? "");
    if (behave !== undefined) behave({ ws, request });
    else ws.on("message", (data, isBinary) => ws.send(data as Buffer, { binary: isBinary })); // echo
  });
});

afterAll(async () => {
  for (const c of wss.clients) c.terminate();
  await new Promise<void>((r) => wss.close(() => r()));
});

async function open(
  path = "/echo",
  extra: Parameters<typeof openWebSocket>[1] extends infer O ? Partial<O> : never = {},
) {
  const { stream } = await connectStream(port);
  return openWebSocket(stream, { host: `127.0.0.1:${port}`, path, ...extra });
}

async function next(ws: WebSocketClient) {
  const r = await ws[Symbol.asyncIterator]().next();
  if (r.done) throw new Error("closed");
  return r.value;
}

describe("WebSocket client against ws's WebSocketServer", () => {
  it("echoes text and binary, with Origin and Cookie on the upgrade", async () => {
    let seen: IncomingMessage | undefined;
    peers.set("/headers", ({ ws, request }) => {
      seen = request;
      ws.on("message", (d, b) => ws.send(d as Buffer, { binary: b }));
    });
    const ws = await open("/headers", {
      origin: "http://app.example",
      headers: { Cookie: "a=1; b=2" },
    });
    expect(seen?.headers.origin).toBe("http://app.example");
    expect(seen?.headers.cookie).toBe("a=1; b=2");
    expect(seen?.headers.host).toBe(`127.0.0.1:${port}`);
    await ws.send("héllo ✓ 𝄞");
    expect(await next(ws)).toBe("héllo ✓ 𝄞");
    await ws.send(Uint8Array.of(0, 1, 2, 255));
    expect(await next(ws)).toEqual(Uint8Array.of(0, 1, 2, 255));
    await ws.send("");
    expect(await next(ws)).toBe("");
    expect(await ws.close(1000, "done")).toMatchObject({
      code: 1000,
      reason: "done",
      wasClean: true,
    });
    expect(ws.readyState).toBe("closed");
  });

  for (const size of [1 * MiB, 16 * MiB]) {
    it(`round-trips a ${size / MiB} MiB binary message and a ${size / MiB} MiB text message`, async () => {
      const ws = await open("/echo");
      const data = patternBytes(size, size);
      const sent = ws.send(data);
      const got = (await next(ws)) as Uint8Array;
      await sent;
      expect(got.length).toBe(size);
      expect(same(got, data)).toBe(true);
      const text = "ab✓".repeat(Math.floor(size / 5));
      await ws.send(text);
      expect(await next(ws)).toBe(text);
      await ws.close();
    });
  }

  it("joins a message the server fragments, with a ping between the fragments", async () => {
    let pong: Buffer | undefined;
    peers.set("/fragments", ({ ws }) => {
      ws.on("pong", (d) => {
        pong = d;
      });
      ws.send("hel", { fin: false });
      ws.ping("mid");
      ws.send("lo ✓", { fin: true });
      ws.send(Buffer.from([1, 2]), { binary: true, fin: false });
      ws.send(Buffer.from([3]), { binary: true, fin: true });
    });
    const ws = await open("/fragments");
    expect(await next(ws)).toBe("hello ✓");
    expect(await next(ws)).toEqual(Uint8Array.of(1, 2, 3));
    await expect.poll(() => pong?.toString()).toBe("mid");
    await ws.close();
  });

  it("sends a large message as fragments the server joins", async () => {
    const sizes: number[] = [];
    peers.set("/joined", ({ ws }) => ws.on("message", (d) => sizes.push((d as Buffer).length)));
    const { stream } = await connectStream(port);
    const ws = await openWebSocket(stream, { host: "x", path: "/joined", fragmentBytes: 1000 });
    await ws.send(patternBytes(10_500));
    await expect.poll(() => sizes).toEqual([10_500]);
    await ws.close();
  });

  it("negotiates a subprotocol and refuses one it did not offer", async () => {
    const ws = await open("/echo", { protocols: ["a", "b", "c"] });
    expect(ws.protocol).toBe("b");
    await ws.close();
    const none = await open("/echo");
    expect(none.protocol).toBe("");
    await none.close();
    const err = await open("/rogue-protocol", { protocols: ["a"] }).catch((e) => e);
    expect(err).toBeInstanceOf(WebSocketHandshakeError);
    expect(err.message).toMatch(/"not-offered", which we did not offer/);
  });

  it("answers pings with pongs, and its own ping() resolves on the server's pong", async () => {
    const pongs: string[] = [];
    let server: WebSocket | undefined;
    peers.set("/ping", ({ ws }) => {
      server = ws;
      ws.on("pong", (d) => pongs.push(d.toString()));
    });
    const ws = await open("/ping");
    server!.ping("one");
    server!.ping("two");
    await expect.poll(() => pongs).toEqual(["one", "two"]);
    await ws.ping(new TextEncoder().encode("mine"));
    await ws.close();
  });

  it("reports a server-initiated close with code and reason", async () => {
    peers.set("/bye", ({ ws }) => ws.close(4001, "bye now"));
    const ws = await open("/bye");
    const infos: unknown[] = [];
    ws.onclose = (i) => infos.push(i);
    expect(await ws.closed).toMatchObject({ code: 4001, reason: "bye now", wasClean: true });
    expect((await next(ws).catch((e) => e)).message).toBe("closed");
    await expect.poll(() => infos.length).toBe(1);
    await expect(ws.send("late")).rejects.toThrow(/closed/);
  });

  it("reports 1005 for a Close without a code, and the server sees our code and reason", async () => {
    let serverSaw: [number, string] | undefined;
    peers.set("/client-close", ({ ws }) =>
      ws.on("close", (c, r) => (serverSaw = [c, r.toString()])),
    );
    const ws = await open("/client-close");
    expect(await ws.close(4321, "client done ✓")).toMatchObject({ code: 4321, wasClean: true });
    await expect.poll(() => serverSaw).toEqual([4321, "client done ✓"]);
    peers.set("/no-code", ({ ws }) => ws.close());
    const ws2 = await open("/no-code");
    expect(await ws2.closed).toMatchObject({ code: 1005, reason: "", wasClean: true });
  });

  it("fails with 1007 when the server sends invalid UTF-8 as text", async () => {
    let serverSaw: number | undefined;
    peers.set("/bad-utf8", ({ ws }) => {
      ws.on("close", (c) => (serverSaw = c));
      ws.send(Buffer.from([0x68, 0xc3, 0x28]), { binary: false });
    });
    const ws = await open("/bad-utf8");
    const info = await ws.closed;
    expect(info).toMatchObject({ code: 1007, wasClean: false });
    expect(info.reason).toMatch(/UTF-8/);
    await expect.poll(() => serverSaw).toBe(1007);
  });

  it("fails with 1009 on a message over maxMessageBytes, whole or in fragments", async () => {
    let serverSaw: number | undefined;
    peers.set("/big", ({ ws }) => {
      ws.on("close", (c) => (serverSaw = c));
      ws.send(Buffer.alloc(2000));
    });
    const ws = await open("/big", { maxMessageBytes: 1024 });
    expect(await ws.closed).toMatchObject({ code: 1009, wasClean: false });
    await expect.poll(() => serverSaw).toBe(1009);
    peers.set("/big-fragments", ({ ws }) => {
      for (let i = 0; i < 5; i++) ws.send(Buffer.alloc(300), { binary: true, fin: i === 4 });
    });
    const ws2 = await open("/big-fragments", { maxMessageBytes: 1024 });
    const info = await ws2.closed;
    expect(info.code).toBe(1009);
    expect(info.reason).toMatch(/limit of 1024/);
  });

  it("says the status when the server refuses the upgrade with 403", async () => {
    const err = await open("/forbidden").catch((e) => e);
    expect(err).toBeInstanceOf(WebSocketHandshakeError);
    expect(err.status).toBe(403);
    expect(err.message).toMatch(/HTTP 403 Forbidden/);
  });

  it("reports 1006 when the server drops the connection", async () => {
    peers.set("/drop", ({ ws }) => setTimeout(() => ws.terminate(), 20));
    const ws = await open("/drop");
    const info = await ws.closed;
    expect(info).toMatchObject({ code: 1006, wasClean: false });
    expect(info.error?.message).toMatch(/without a Close frame/);
  });

  it("delivers to onmessage in order, including what was queued before it was set", async () => {
    peers.set("/burst", ({ ws }) => {
      for (let i = 0; i < 100; i++) ws.send(`m${i}`);
    });
    const ws = await open("/burst");
    await new Promise((r) => setTimeout(r, 50));
    const got: string[] = [];
    ws.onmessage = (m) => got.push(m as string);
    await expect.poll(() => got.length).toBe(100);
    expect(got).toEqual(Array.from({ length: 100 }, (_, i) => `m${i}`));
    await ws.close();
  });
});

describe("WebSocket client against a peer that misbehaves", () => {
  let raw: Server;
  let rawPort: number;
  beforeAll(async () => {
    // Completes the handshake, then never answers anything: the close must time out.
    raw = createServer((sock) => {
      let head = "";
      sock.on("data", (d) => {
        if (head.includes("\r\n\r\n")) return;
        head += d.toString("latin1");
        const key = /sec-websocket-key: (.*)\r\n/i.exec(head)?.[1];
        if (key !== undefined && head.includes("\r\n\r\n")) {
          const answer = `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptFor(key)}\r\n\r\n\x81\x05early`;
          sock.write(Buffer.from(answer, "latin1"));
        }
      });
      sock.on("error", () => {});
    });
    await new Promise<void>((r) => raw.listen(0, "127.0.0.1", r));
    rawPort = (raw.address() as { port: number }).port;
  });
  afterAll(() => new Promise<void>((r) => raw.close(() => r())));

  it("reads a frame that came with the 101, and gives up the close after closeTimeoutMs", async () => {
    const { stream } = await connectStream(rawPort);
    const ws = await openWebSocket(stream, { host: "x", path: "/", closeTimeoutMs: 200 });
    expect(await next(ws)).toBe("early");
    const t0 = Date.now();
    const info = await ws.close(1000);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(150);
    expect(info).toMatchObject({ code: 1006, wasClean: false });
    expect(info.error?.message).toMatch(/no Close frame/);
  });

  it("times out a handshake the server never answers", async () => {
    const silent = createServer((s) => s.on("error", () => {}));
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
    const { stream } = await connectStream((silent.address() as { port: number }).port);
    const err = await openWebSocket(stream, {
      host: "x",
      path: "/",
      handshakeTimeoutMs: 100,
    }).catch((e) => e);
    expect(err).toBeInstanceOf(WebSocketHandshakeError);
    expect(err.message).toMatch(/within 100 ms/);
    silent.close();
  });
});
