// A second independent peer: aiohttp's WebSocket server (Python), over loopback. It echoes,
// reports the Origin it received, picks a subprotocol, and closes with a code when asked.

import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { openWebSocket, type WebSocketClient } from "../../worker/http/websocket/index.ts";
import { APP_PYTHON, edgeAppPrereq } from "../helpers/apps.ts";
import { check, describeWithPrereq, prereq } from "../helpers/prereq.ts";
import { connectStream, patternBytes } from "./websocket-helpers.ts";

/** The Python with aiohttp (Debian's; a pyenv python3 on PATH often lacks it). */
const python: string | undefined = edgeAppPrereq().ok ? APP_PYTHON : undefined;
const aiohttp = prereq(check("python3 with aiohttp (python3-aiohttp)", python !== undefined));

const SERVER = `
import asyncio
from aiohttp import web, WSMsgType

async def handler(request):
    ws = web.WebSocketResponse(protocols=("echo.v1",), max_msg_size=64 * 1024 * 1024)
    await ws.prepare(request)
    await ws.send_str("origin:" + request.headers.get("Origin", "") + " cookie:" + request.headers.get("Cookie", ""))
    async for msg in ws:
        if msg.type == WSMsgType.TEXT:
            if msg.data == "close-me":
                await ws.close(code=4002, message=b"as asked")
                break
            await ws.send_str(msg.data)
        elif msg.type == WSMsgType.BINARY:
            await ws.send_bytes(msg.data)
    return ws

async def main():
    app = web.Application()
    app.router.add_get("/ws", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    print(runner.addresses[0][1], flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
`;

describeWithPrereq(aiohttp, "WebSocket client against aiohttp's WebSocket server", () => {
  let dir: string;
  let proc: ChildProcess;
  let port: number;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "ws-aiohttp-"));
    writeFileSync(join(dir, "server.py"), SERVER);
    proc = spawn(python!, [join(dir, "server.py")], { stdio: ["ignore", "pipe", "inherit"] });
    port = await new Promise<number>((resolve, reject) => {
      let out = "";
      proc.stdout!.on("data", (d) => {
        out += d.toString();
        const m = /^(\d+)\n/.exec(out);
        if (m) resolve(Number(m[1]));
      });
      proc.once("exit", (code) => reject(new Error(`aiohttp server exited with ${code}`)));
    });
  });

  afterAll(() => {
    proc?.kill();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function open(): Promise<WebSocketClient> {
    const { stream } = await connectStream(port);
    return openWebSocket(stream, {
      host: `127.0.0.1:${port}`,
      path: "/ws",
      origin: "http://app.corridor.localhost:8080",
      protocols: ["other", "echo.v1"],
      headers: { Cookie: "session=abc" },
    });
  }

  async function next(ws: WebSocketClient) {
    const r = await ws[Symbol.asyncIterator]().next();
    if (r.done) throw new Error("closed");
    return r.value;
  }

  it("sends Origin and Cookie, gets the subprotocol, echoes text and 1 MiB binary, closes cleanly", async () => {
    const ws = await open();
    expect(ws.protocol).toBe("echo.v1");
    expect(await next(ws)).toBe("origin:http://app.corridor.localhost:8080 cookie:session=abc");
    await ws.send("héllo ✓ 𝄞");
    expect(await next(ws)).toBe("héllo ✓ 𝄞");
    const data = patternBytes(1024 * 1024, 5);
    await ws.send(data);
    const got = (await next(ws)) as Uint8Array;
    expect(Buffer.from(got).equals(Buffer.from(data))).toBe(true);
    await ws.ping(Uint8Array.of(1, 2, 3));
    expect(await ws.close(1000, "bye")).toMatchObject({ code: 1000, wasClean: true });
  });

  it("reports the server's close code and reason", async () => {
    const ws = await open();
    await next(ws);
    await ws.send("close-me");
    expect(await ws.closed).toMatchObject({ code: 4002, reason: "as asked", wasClean: true });
  });
});
