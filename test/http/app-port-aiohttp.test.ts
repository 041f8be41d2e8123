// The engine's app port server (worker/engine/app-port-server.ts) driven over Node's
// MessageChannel, as an app origin's service worker drives it (bodies as transferred
// ReadableStreams), against aiohttp (python3-aiohttp, gated): a server we did not write. The
// port server dials loopback TCP (test/http/node-dial.ts) where the engine dials WireGuard.

import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { afterAll, afterEach, beforeAll, expect, it } from "vitest";
import { parseAppOrigin } from "../../worker/engine/app-origin.ts";
import { AppPortServer } from "../../worker/engine/app-port-server.ts";
import { AppServices } from "../../worker/engine/app-services.ts";
import type { AppPortReply, AppResponse, SocketEvent } from "../../worker/http/app-port.ts";
import { reservedPort } from "../helpers/ports.ts";
import { check, describeWithPrereq, prereq } from "../helpers/prereq.ts";
import { waitUntil } from "../helpers/wait.ts";
import { nodeDial } from "./node-dial.ts";

const aiohttp = prereq(
  check(
    "python3-aiohttp",
    () => spawnSync("/usr/bin/python3", ["-c", "import aiohttp"]).status === 0,
  ),
);

const SERVER = `
import asyncio, base64, hashlib, sys
from aiohttp import web, WSMsgType

OTHER = int(sys.argv[1])
STATE = {"endless_ended": 0}

def seen(request):
    return {k: request.headers.get(k, "") for k in ("Host", "Origin", "Referer", "Cookie", "Authorization", "X-Test")}

async def echo(request):
    digest = hashlib.sha256()
    n = 0
    async for chunk in request.content.iter_any():
        digest.update(chunk)
        n += len(chunk)
    return web.json_response({"method": request.method, "path": request.path_qs, "length": n,
                              "sha256": digest.hexdigest(), "headers": seen(request)})

async def set_cookie(request):
    r = web.json_response({"ok": True})
    r.set_cookie("visible", "1", path="/")
    r.set_cookie("secret", "2", path="/", httponly=True)
    return r

async def redirect(request):
    host = request.headers["Host"]
    target = {"self": "http://" + host + "/echo?from=redirect",
              "other": "http://127.0.0.1:%d/x?y=1" % OTHER,
              "external": "http://example.com/y",
              "relative": "/echo?rel=1"}[request.query["to"]]
    raise web.HTTPFound(target)

async def auth(request):
    want = "Basic " + base64.b64encode("ann:s3cret é".encode()).decode()
    if request.headers.get("Authorization") == want:
        return web.Response(text="welcome")
    return web.Response(status=401, headers={"WWW-Authenticate": 'Basic realm="fixture"'}, text="who?")

async def big(request):
    n = int(request.query["n"])
    r = web.StreamResponse()
    r.enable_chunked_encoding()
    await r.prepare(request)
    chunk = bytes(range(256)) * 256
    sent = 0
    while sent < n:
        part = chunk[: min(len(chunk), n - sent)]
        await r.write(part)
        sent += len(part)
    await r.write_eof()
    return r

async def endless(request):
    r = web.StreamResponse()
    r.enable_chunked_encoding()
    await r.prepare(request)
    try:
        while True:
            await r.write(b"x" * 1024)
            await asyncio.sleep(0.01)
    except ConnectionResetError:
        return r
    finally:
        STATE["endless_ended"] += 1

async def state(request):
    return web.json_response(STATE)

async def ws(request):
    sock = web.WebSocketResponse(protocols=("echo.v1",))
    await sock.prepare(request)
    await sock.send_str("origin:" + request.headers.get("Origin", "") + " cookie:" + request.headers.get("Cookie", "") + " host:" + request.headers.get("Host", ""))
    async for msg in sock:
        if msg.type == WSMsgType.TEXT:
            if msg.data == "close-me":
                await sock.close(code=4002, message=b"as asked")
                break
            await sock.send_str(msg.data)
        elif msg.type == WSMsgType.BINARY:
            await sock.send_bytes(msg.data)
    return sock

async def main():
    app = web.Application()
    app.router.add_route("*", "/echo", echo)
    app.router.add_get("/set-cookie", set_cookie)
    app.router.add_get("/redirect", redirect)
    app.router.add_get("/auth", auth)
    app.router.add_get("/big", big)
    app.router.add_get("/endless", endless)
    app.router.add_get("/state", state)
    app.router.add_get("/ws", ws)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    print(runner.addresses[0][1], flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
`;

/** The app's side of a port: requests by id, as the service worker makes them. */
class AppClient {
  private next = 1;
  private readonly pending = new Map<number, (reply: AppPortReply) => void>();

  constructor(readonly port: MessagePort) {
    port.addEventListener("message", (event: MessageEvent) => {
      const reply = event.data as AppPortReply;
      this.pending.get(reply.id)?.(reply);
      this.pending.delete(reply.id);
    });
    port.start();
  }

  /** Posts `message` with a fresh id (unless it has one) and waits for the reply to it. */
  ask(message: Record<string, unknown>, transfer: Transferable[] = []): Promise<AppPortReply> {
    const id = (message.id as number | undefined) ?? this.next++;
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      this.port.postMessage({ ...message, id }, transfer);
    });
  }

  fetch(
    url: string,
    init: {
      method?: string;
      headers?: [string, string][];
      body?: ReadableStream<Uint8Array> | null;
      referrer?: string;
      navigate?: boolean;
      id?: number;
    } = {},
  ): Promise<AppPortReply> {
    const body = init.body ?? null;
    return this.ask(
      {
        type: "fetch",
        ...(init.id === undefined ? {} : { id: init.id }),
        method: init.method ?? "GET",
        url,
        headers: init.headers ?? [],
        body,
        navigate: init.navigate ?? false,
        referrer: init.referrer ?? "",
      },
      body === null ? [] : [body],
    );
  }
}

function response(reply: AppPortReply): AppResponse {
  if (reply.type !== "response")
    throw new Error(`expected a response, got ${JSON.stringify(reply)}`);
  return reply;
}

/** The body as the engine sent it: whole in `bytes` when small, else the transferred stream. */
function bodyOf(reply: AppResponse): BodyInit | null {
  return (reply.bytes as Uint8Array<ArrayBuffer> | undefined) ?? reply.body;
}

async function json(reply: AppPortReply): Promise<Record<string, unknown>> {
  return (await new Response(bodyOf(response(reply))).json()) as Record<string, unknown>;
}

function header(reply: AppResponse, name: string): string | undefined {
  return reply.headers.find(([n]) => n.toLowerCase() === name)?.[1];
}

/** A body of `size` bytes in 64 KiB chunks, and its sha256. */
function generated(size: number): { stream: ReadableStream<Uint8Array>; sha256: string } {
  const hash = createHash("sha256");
  const chunks: Uint8Array[] = [];
  for (let at = 0; at < size; at += 65536) {
    const chunk = new Uint8Array(Math.min(65536, size - at)).map((_, i) => (at + i * 7) & 0xff);
    hash.update(chunk);
    chunks.push(chunk);
  }
  let i = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(c) {
      if (i < chunks.length) c.enqueue(chunks[i++]!);
      else c.close();
    },
  });
  return { stream, sha256: hash.digest("hex") };
}

describeWithPrereq(aiohttp, "app port server against aiohttp", () => {
  let dir: string;
  let child: ChildProcess;
  let port: number;
  let other: number;
  const opened: { client: AppClient; server: AppPortServer }[] = [];
  const services = new AppServices({ dial: nodeDial(), knows: async (h) => h === "127.0.0.1" });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "app-port-aiohttp-"));
    writeFileSync(join(dir, "server.py"), SERVER);
    other = await reservedPort();
    child = spawn("/usr/bin/python3", [join(dir, "server.py"), String(other)], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    const line = await new Promise<string>((resolve, reject) => {
      createInterface({ input: child.stdout! }).once("line", resolve);
      child.once("exit", (code) => reject(new Error(`aiohttp fixture exited ${code}`)));
    });
    port = Number(line.trim());
  });
  afterEach(() => {
    for (const { client, server } of opened.splice(0)) {
      client.port.close();
      server.close();
    }
  });
  afterAll(() => {
    services.close();
    child?.kill();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const originOf = (p: number) => `http://127-0-0-1--${p}.corridor.localhost:8080`;
  function open(p = port): { client: AppClient; server: AppPortServer; origin: string } {
    const origin = originOf(p);
    const channel = new MessageChannel();
    const server = new AppPortServer(channel.port2, parseAppOrigin(origin), services);
    const client = new AppClient(channel.port1);
    opened.push({ client, server });
    return { client, server, origin };
  }

  it("rewrites Host, Origin and Referer; drops another origin's Referer; keeps a foreign Origin", async () => {
    const { client, origin } = open();
    const got = await json(
      await client.fetch(`${origin}/echo?q=1`, {
        headers: [
          ["Origin", origin],
          ["X-Test", "kept"],
          ["Cookie", "forged=1"],
        ],
        referrer: `${origin}/page?a=b`,
      }),
    );
    expect(got.path).toBe("/echo?q=1");
    expect(got.headers).toEqual({
      Host: `127.0.0.1:${port}`,
      Origin: `http://127.0.0.1:${port}`,
      Referer: `http://127.0.0.1:${port}/page?a=b`,
      Cookie: "",
      Authorization: "",
      "X-Test": "kept",
    });
    const foreign = await json(
      await client.fetch(`${origin}/echo`, {
        headers: [["Origin", "http://evil.example"]],
        referrer: "http://corridor.localhost:8080/",
      }),
    );
    expect(foreign.headers).toMatchObject({ Origin: "http://evil.example", Referer: "" });
  });

  it("streams a 3 MiB POST body up and an 8 MiB body down", async () => {
    const { client, origin } = open();
    const { stream, sha256 } = generated(3 * 1024 * 1024 + 5);
    const got = await json(await client.fetch(`${origin}/echo`, { method: "POST", body: stream }));
    expect(got).toMatchObject({ method: "POST", length: 3 * 1024 * 1024 + 5, sha256 });
    const down = response(await client.fetch(`${origin}/big?n=${8 * 1024 * 1024}`));
    expect(down.status).toBe(200);
    expect((await new Response(bodyOf(down)).arrayBuffer()).byteLength).toBe(8 * 1024 * 1024);
  });

  it("takes Set-Cookie into the jar: documentCookie without HttpOnly, both sent later; cookie-set and cookie-get", async () => {
    const { client, origin } = open();
    const set = response(await client.fetch(`${origin}/set-cookie`));
    expect(header(set, "set-cookie")).toBeUndefined();
    expect(set.documentCookie).toBe("visible=1");
    await new Response(bodyOf(set)).arrayBuffer();
    client.port.postMessage({ type: "cookie-set", url: `${origin}/`, value: "fromjs=abc; path=/" });
    client.port.postMessage({ type: "cookie-set", url: `${origin}/`, value: "secret=js; path=/" });
    const got = await json(await client.fetch(`${origin}/echo`));
    const cookie = String((got.headers as Record<string, string>).Cookie);
    expect(cookie.split("; ").sort()).toEqual(["fromjs=abc", "secret=2", "visible=1"]);
    const read = await client.ask({ type: "cookie-get", url: `${origin}/x` });
    expect(read).toMatchObject({ type: "cookies", value: "visible=1; fromjs=abc" });
  });

  it("rewrites a redirect's Location to the app origin (this service, another one it names); leaves others", async () => {
    const { client, origin } = open();
    const location = async (to: string) => {
      const r = response(await client.fetch(`${origin}/redirect?to=${to}`));
      expect(r.status).toBe(302);
      await r.body?.cancel();
      return header(r, "location");
    };
    expect(await location("self")).toBe(`${origin}/echo?from=redirect`);
    expect(await location("other")).toBe(`${originOf(other)}/x?y=1`);
    expect(await location("external")).toBe("http://example.com/y");
    expect(await location("relative")).toBe("/echo?rel=1");
  });

  it("401 with WWW-Authenticate, then credentials: 200", async () => {
    const { client, origin } = open();
    const first = response(await client.fetch(`${origin}/auth`, { navigate: true }));
    expect(first.status).toBe(401);
    expect(header(first, "www-authenticate")).toBe('Basic realm="fixture"');
    await first.body?.cancel();
    expect(
      await client.ask({ type: "credentials", username: "ann", password: "s3cret é" }),
    ).toMatchObject({
      type: "ok",
    });
    const second = response(await client.fetch(`${origin}/auth`));
    expect(second.status).toBe(200);
    expect(second.body).toBeNull(); // small: whole in the reply
    expect(await new Response(bodyOf(second)).text()).toBe("welcome");
  });

  it("refused port: refused; another origin's URL and malformed messages: bad-request or dropped", async () => {
    const closed = await reservedPort();
    const { client: refusedClient, origin: refusedOrigin } = open(closed);
    const refused = await refusedClient.fetch(`${refusedOrigin}/`);
    expect(refused).toMatchObject({ type: "error", code: "refused" });
    expect((refused as { message: string }).message).toContain(`nothing listens on port ${closed}`);

    const { client, server, origin } = open();
    const foreign = await client.fetch(`${originOf(other)}/echo`);
    expect(foreign).toMatchObject({ type: "error", code: "bad-request" });
    expect((foreign as { message: string }).message).toContain(origin);
    const bad = await client.ask({
      type: "fetch",
      id: 77,
      method: "GET",
      url: `${origin}/`,
      headers: [["X", "a\r\nb"]],
    });
    expect(bad).toMatchObject({ type: "error", id: 77, code: "bad-request" });
    expect((bad as { message: string }).message).toContain("headers");
    client.port.postMessage({ type: "nonsense" });
    client.port.postMessage("just a string");
    await waitUntil(() => server.dropped === 2, "two dropped messages");
  });

  it("carries a WebSocket: subprotocol, Origin, Cookie and Host rewritten, echo, the server's close code; it outlives the app port", async () => {
    const { client } = open();
    const channel = new MessageChannel();
    const events: SocketEvent[] = [];
    channel.port1.addEventListener("message", (e: MessageEvent) =>
      events.push(e.data as SocketEvent),
    );
    channel.port1.start();
    client.port.postMessage(
      {
        type: "websocket",
        url: `ws://127-0-0-1--${port}.corridor.localhost:8080/ws`,
        protocols: ["other", "echo.v1"],
        port: channel.port2,
      },
      [channel.port2],
    );
    await waitUntil(() => events.length >= 2, "open and the first message");
    expect(events[0]).toEqual({ type: "open", protocol: "echo.v1", extensions: "" });
    expect(events[1]).toMatchObject({ type: "message" });
    const hello = String((events[1] as { data: string }).data);
    expect(hello).toContain(`origin:http://127.0.0.1:${port} `);
    expect(hello).toContain(`host:127.0.0.1:${port}`);
    expect(hello).toContain("visible=1");
    channel.port1.postMessage({ type: "send", data: "héllo" });
    const bytes = new Uint8Array([1, 2, 3, 250]);
    channel.port1.postMessage({ type: "send", data: bytes.buffer });
    await waitUntil(() => events.filter((e) => e.type === "message").length >= 3, "two echoes");
    const messages = events.filter((e) => e.type === "message") as { data: string | ArrayBuffer }[];
    expect(messages[1]!.data).toBe("héllo");
    expect([...new Uint8Array(messages[2]!.data as ArrayBuffer)]).toEqual([1, 2, 3, 250]);
    expect(events.some((e) => e.type === "buffered" && e.amount === 0)).toBe(true);
    // The service worker's port ends (the browser stops idle workers): the socket lives on.
    client.port.close();
    await new Promise((resolve) => setTimeout(resolve, 20));
    channel.port1.postMessage({ type: "send", data: "still here" });
    await waitUntil(() => events.filter((e) => e.type === "message").length >= 4, "third echo");
    expect(events.filter((e) => e.type === "message")[3]).toMatchObject({ data: "still here" });
    channel.port1.postMessage({ type: "close", code: 9999 });
    channel.port1.postMessage({ type: "send", data: "close-me" });
    await waitUntil(() => events.some((e) => e.type === "closed"), "closed");
    expect(events.find((e) => e.type === "closed")).toMatchObject({
      code: 4002,
      reason: "as asked",
      wasClean: true,
    });
  });

  it("a WebSocket to a refused port closes 1006 with the reason", async () => {
    const closed = await reservedPort();
    const { client } = open(closed);
    const channel = new MessageChannel();
    const events: SocketEvent[] = [];
    channel.port1.addEventListener("message", (e: MessageEvent) =>
      events.push(e.data as SocketEvent),
    );
    channel.port1.start();
    client.port.postMessage(
      {
        type: "websocket",
        url: `ws://127-0-0-1--${closed}.corridor.localhost:8080/ws`,
        protocols: [],
        port: channel.port2,
      },
      [channel.port2],
    );
    await waitUntil(() => events.length > 0, "closed");
    expect(events[0]).toMatchObject({ type: "closed", code: 1006, wasClean: false });
    expect((events[0] as { message: string }).message).toContain("refused the connection");
  });

  it("abort mid-body ends the exchange (the server sees it); a closed port ends its exchanges", async () => {
    const state = async () => {
      const { client, origin } = open();
      return (await json(await client.fetch(`${origin}/state`))).endless_ended as number;
    };
    const before = await state();
    const { client, server, origin } = open();
    const reply = response(await client.fetch(`${origin}/endless`, { id: 5 }));
    const reader = reply.body!.getReader();
    await reader.read();
    await reader.read();
    client.port.postMessage({ type: "abort", id: 5 });
    await expect(
      (async () => {
        for (;;) if ((await reader.read()).done) return;
      })(),
    ).rejects.toThrow();
    await waitUntil(() => server.inFlight === 0, "the exchange to end");
    let now = before;
    await waitUntil(() => now === before + 1, "aiohttp to see the abort", {
      poll: async () => {
        now = await state();
      },
      everyMs: 50,
    });

    const second = open();
    const endless = response(await second.client.fetch(`${second.origin}/endless`));
    await endless.body!.getReader().read();
    second.client.port.close();
    await second.server.ended;
    expect(second.server.inFlight).toBe(0);
    await waitUntil(() => now === before + 2, "aiohttp to see the port's end", {
      poll: async () => {
        now = await state();
      },
      everyMs: 50,
    });
  });
});
