// Private URLs through the real engine (createEngine, as the SharedWorker runs it): an app port
// opened with openAppPort for `100-64-0-2--8080.corridor.localhost`, the engine starting the
// wg-quick network that routes 100.64.0.2 on demand, its userspace TCP through the relay's UDP
// bridge to a stock wireguard-go host in a namespace, where aiohttp (python3-aiohttp, a server
// we did not write) serves on the tunnel address.

import type { ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { nodeX25519 } from "../../server/crypto/x25519-node.ts";
import { startRelay } from "../../server/relay/index.ts";
import { UdpBridge } from "../../server/relay/udp-bridge.ts";
import { nodeRelayConnect } from "../../server/relay/ws-node.ts";
import type { EngineApi } from "../../worker/api.ts";
import { MemoryStore } from "../../worker/engine/store.ts";
import { createEngine } from "../../worker/engine.ts";
import type { AppPortReply, AppResponse, SocketEvent } from "../../worker/http/app-port.ts";
import { generatePrivateKey, keyToBase64 } from "../../worker/wireguard/keys.ts";
import { APP_PYTHON, edgeAppPrereq } from "../helpers/apps.ts";
import { check, describeWithPrereq, prereq } from "../helpers/prereq.ts";
import { seededBytes } from "../helpers/seeded.ts";
import { waitUntil } from "../helpers/wait.ts";
import { ourWgConfigText } from "../interop/our-wg-config.ts";
import { createWgHost, type WgHost, wgHostPrereq } from "../interop/wg-host.ts";

/** The Python with aiohttp (Debian's; a pyenv python3 on PATH often lacks it). */
const python: string | undefined = edgeAppPrereq().ok ? APP_PYTHON : undefined;

const need = prereq(
  ...wgHostPrereq().missing.map((what) => check(what, false)),
  check("python3 with aiohttp (python3-aiohttp)", python !== undefined),
);

const SERVER = `
import hashlib, sys
from aiohttp import web, WSMsgType

blob = open(sys.argv[3], "rb").read()

async def file(request):
    return web.Response(body=blob, content_type="application/octet-stream")

async def echo(request):
    body = await request.read()
    return web.json_response({
        "method": request.method, "length": len(body), "sha256": hashlib.sha256(body).hexdigest(),
        "host": request.headers.get("Host", ""), "origin": request.headers.get("Origin", ""),
        "cookie": request.headers.get("Cookie", ""),
    })

async def login(request):
    r = web.HTTPFound("http://" + request.headers["Host"] + "/echo?after=login")
    r.set_cookie("session", "s1", httponly=True)
    r.set_cookie("theme", "dark")
    raise r

async def ws(request):
    sock = web.WebSocketResponse(protocols=("v1.kernel",))
    await sock.prepare(request)
    await sock.send_str("origin:" + request.headers.get("Origin", "") + " cookie:" + request.headers.get("Cookie", ""))
    async for msg in sock:
        if msg.type == WSMsgType.TEXT and msg.data == "bye":
            await sock.close(code=4000, message=b"bye")
        elif msg.type == WSMsgType.TEXT:
            await sock.send_str(msg.data.upper())
        elif msg.type == WSMsgType.BINARY:
            await sock.send_bytes(msg.data[::-1])
    return sock

app = web.Application(client_max_size=64 * 1024 * 1024)
app.add_routes([web.get("/file", file), web.route("*", "/echo", echo), web.get("/login", login),
                web.get("/ws", ws)])
web.run_app(app, host=sys.argv[1], port=int(sys.argv[2]), print=lambda *a: print("ready", flush=True))
`;

/** The body as the engine sent it: whole in `bytes` when small, else the transferred stream. */
function bodyOf(reply: AppResponse): BodyInit | null {
  return (reply.bytes as Uint8Array<ArrayBuffer> | undefined) ?? reply.body;
}

/** One app port of the engine, from the app's side. */
async function appPort(engine: EngineApi, origin: string) {
  const channel = new MessageChannel();
  await engine.openAppPort(origin, channel.port2);
  const pending = new Map<number, (reply: AppPortReply) => void>();
  channel.port1.addEventListener("message", (e: MessageEvent) => {
    const reply = e.data as AppPortReply;
    pending.get(reply.id)?.(reply);
  });
  channel.port1.start();
  let next = 1;
  const fetch = (
    path: string,
    method = "GET",
    body: ReadableStream<Uint8Array> | null = null,
  ): Promise<AppPortReply> => {
    const id = next++;
    return new Promise((resolve) => {
      pending.set(id, resolve);
      channel.port1.postMessage(
        {
          type: "fetch",
          id,
          method,
          url: `${origin}${path}`,
          headers: [["Origin", origin]],
          body,
          navigate: false,
          referrer: "",
        },
        body === null ? [] : [body],
      );
    });
  };
  /** Opens a WebSocket through the port; its events are collected in `events`. */
  const socket = (path: string, protocols: string[]) => {
    const ws = new MessageChannel();
    const events: SocketEvent[] = [];
    ws.port1.addEventListener("message", (e: MessageEvent) => events.push(e.data as SocketEvent));
    ws.port1.start();
    channel.port1.postMessage(
      {
        type: "websocket",
        url: `${origin.replace(/^http/, "ws")}${path}`,
        protocols,
        port: ws.port2,
      },
      [ws.port2],
    );
    return { events, port: ws.port1 };
  };
  return { fetch, socket, close: () => channel.port1.close() };
}

function ok(reply: AppPortReply): AppResponse {
  if (reply.type !== "response") throw new Error(`expected a response: ${JSON.stringify(reply)}`);
  return reply;
}

describeWithPrereq(need, "private URLs through the engine, wireguard-go and aiohttp", () => {
  let host: WgHost;
  let dir: string;
  let server: ChildProcess;
  let relay: Awaited<ReturnType<typeof startRelay>>;
  let engine: EngineApi;
  const blob = seededBytes(0xa9)(2 * 1024 * 1024 + 3);
  const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
  const origin = "http://100-64-0-2--8080.corridor.localhost:8080";

  beforeAll(async () => {
    const privateKey = generatePrivateKey();
    const publicKey = keyToBase64(await nodeX25519.publicKey(privateKey));
    host = await createWgHost({ peer: { publicKey, allowedIps: "100.64.0.1/32" } });
    dir = mkdtempSync(join(tmpdir(), "app-engine-"));
    writeFileSync(join(dir, "server.py"), SERVER);
    writeFileSync(join(dir, "blob"), blob);
    server = host.spawn([
      python!,
      join(dir, "server.py"),
      host.tunnelAddress,
      "8080",
      join(dir, "blob"),
    ]);
    let log = "";
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`aiohttp did not start: ${log}`)), 20_000);
      server.stdout?.on("data", (chunk: Buffer) => {
        log += chunk.toString();
        if (log.includes("ready")) {
          clearTimeout(timer);
          resolve();
        }
      });
      server.stderr?.on("data", (chunk: Buffer) => (log += chunk.toString()));
      server.once("exit", (code) => reject(new Error(`aiohttp exited ${code}: ${log}`)));
    });
    relay = await startRelay({
      auth: { mode: "open" },
      relayId: "app-engine",
      udpBridge: new UdpBridge({ allow: [`${host.hostAddress}/32:${host.listenPort}`] }),
      log: () => {},
    });
    engine = createEngine({
      store: new MemoryStore(),
      connect: nodeRelayConnect(),
      x25519: nodeX25519,
      defaultRelayUrl: relay.url,
    });
    await engine.importNetwork(ourWgConfigText(privateKey, host), { name: "lab", persist: false });
  }, 60_000);

  afterAll(async () => {
    await relay?.close();
    await host?.close();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it("starts the network on the first request; Host and Origin as the server expects; 2 MiB down, 1 MiB up", async () => {
    const port = await appPort(engine, origin);
    const echo = ok(await port.fetch("/echo"));
    // A small body comes whole in the reply, a big one as a stream (worker/engine/app-body.ts).
    expect(echo.body).toBeNull();
    expect(echo.bytes).toBeInstanceOf(Uint8Array);
    expect(await new Response(bodyOf(echo)).json()).toMatchObject({
      host: "100.64.0.2:8080",
      origin: "http://100.64.0.2:8080",
      cookie: "",
    });
    const file = ok(await port.fetch("/file"));
    expect(file.bytes).toBeUndefined();
    expect(sha(new Uint8Array(await new Response(bodyOf(file)).arrayBuffer()))).toBe(sha(blob));
    const up = seededBytes(0x55)(1024 * 1024 + 1);
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        for (let at = 0; at < up.length; at += 60_000) c.enqueue(up.slice(at, at + 60_000));
        c.close();
      },
    });
    const posted = ok(await port.fetch("/echo", "POST", body));
    expect(await new Response(bodyOf(posted)).json()).toMatchObject({
      length: up.length,
      sha256: sha(up),
    });
    port.close();
  }, 60_000);

  it("a login's redirect and cookies: Location on the app origin, HttpOnly hidden, both sent", async () => {
    const port = await appPort(engine, origin);
    const login = ok(await port.fetch("/login"));
    expect(login.status).toBe(302);
    expect(login.headers.find(([n]) => n.toLowerCase() === "location")?.[1]).toBe(
      `${origin}/echo?after=login`,
    );
    expect(login.documentCookie).toBe("theme=dark");
    await login.body?.cancel();
    const echo = ok(await port.fetch("/echo?after=login"));
    const seen = (await new Response(bodyOf(echo)).json()) as { cookie: string };
    expect(seen.cookie.split("; ").sort()).toEqual(["session=s1", "theme=dark"]);
    port.close();
  }, 30_000);

  it("carries a WebSocket over WireGuard: subprotocol, Origin and cookies, text and binary, the close code", async () => {
    const port = await appPort(engine, origin);
    const { events, port: ws } = port.socket("/ws?k=1", ["v1.kernel"]);
    await waitUntil(() => events.length >= 2, "open and the greeting", { hangAfterMs: 20_000 });
    expect(events[0]).toEqual({ type: "open", protocol: "v1.kernel", extensions: "" });
    const greeting = (events[1] as { data: string }).data;
    expect(greeting).toContain("origin:http://100.64.0.2:8080 ");
    expect(greeting).toContain("session=s1");
    ws.postMessage({ type: "send", data: "six times seven" });
    ws.postMessage({ type: "send", data: new Uint8Array([1, 2, 3]).buffer });
    const messages = () => events.filter((e) => e.type === "message") as { data: unknown }[];
    await waitUntil(() => messages().length >= 3, "two answers");
    expect(messages()[1]!.data).toBe("SIX TIMES SEVEN");
    expect([...new Uint8Array(messages()[2]!.data as ArrayBuffer)]).toEqual([3, 2, 1]);
    ws.postMessage({ type: "send", data: "bye" });
    await waitUntil(() => events.some((e) => e.type === "closed"), "closed");
    expect(events.find((e) => e.type === "closed")).toMatchObject({ code: 4000, wasClean: true });
    port.close();
  }, 30_000);

  it("a closed port on the host: refused; an address no network routes: unknown-host", async () => {
    const refused = await appPort(engine, "http://100-64-0-2--8081.corridor.localhost:8080");
    expect(await refused.fetch("/")).toMatchObject({ type: "error", code: "refused" });
    refused.close();
    const unknown = await appPort(engine, "http://10-9-9-9--80.corridor.localhost:8080");
    const reply = await unknown.fetch("/");
    // The engine tried the mesh too (no control server here): the sentence says both.
    expect(reply).toMatchObject({ code: "unknown-host" });
    expect((reply as { message: string }).message).toContain(
      "No wg-quick network of this browser routes 10.9.9.9",
    );
    unknown.close();
  }, 30_000);
});
