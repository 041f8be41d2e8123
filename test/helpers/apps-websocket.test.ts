// The WebSockets of the real-app fixtures (apps.ts), opened by the engine's WebSocket client
// (worker/http/websocket) over userspace TCP and WireGuard in this process, through a stock
// wireguard-go host whose namespace runs the apps: the edge app's echo with subprotocols and
// close codes, and Jupyter's kernel channels, which run a cell and refuse a foreign Origin.

import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { nodeX25519 } from "../../server/crypto/x25519-node.ts";
import { type MeshNet, startMeshNet } from "../../server/mesh-net.ts";
import { HttpPool, httpRequest } from "../../worker/http/index.ts";
import {
  openWebSocket,
  type WebSocketByteStream,
  type WebSocketClient,
} from "../../worker/http/websocket/index.ts";
import { parseIp } from "../../worker/wireguard/ip-address.ts";
import { generatePrivateKey, keyToBase64 } from "../../worker/wireguard/keys.ts";
import { writeOurWgConfig } from "../interop/our-wg-config.ts";
import { createWgHost, type WgHost, wgHostPrereq } from "../interop/wg-host.ts";
import {
  type EdgeApp,
  edgeAppPrereq,
  type JupyterApp,
  jupyterPrereq,
  startEdgeApp,
  startJupyter,
} from "./apps.ts";
import { check, describeWithPrereq, prereq } from "./prereq.ts";

const need = prereq(
  ...[wgHostPrereq(), edgeAppPrereq()].flatMap((p) => p.missing).map((w) => check(w, false)),
);
const hasJupyter = jupyterPrereq().ok;

describeWithPrereq(need, "real apps' WebSockets through the engine and wireguard-go", () => {
  let host: WgHost;
  let dir: string;
  let mesh: MeshNet;
  let pool: HttpPool;
  let edge: EdgeApp;
  let jupyter: JupyterApp | undefined;

  const stream = async (address: string, port: number): Promise<WebSocketByteStream> => {
    const ip = parseIp(address, "address");
    const c = await mesh.net.tcp.connect(mesh.net.sourceFor(ip), ip, port, { timeoutMs: 10_000 });
    return { readable: c.readable, writable: c.writable, close: () => c.abort("closed") };
  };
  const next = async (ws: WebSocketClient) => {
    const r = await ws[Symbol.asyncIterator]().next();
    if (r.done) throw new Error("closed");
    return r.value;
  };

  beforeAll(async () => {
    const privateKey = generatePrivateKey();
    const publicKey = keyToBase64(await nodeX25519.publicKey(privateKey));
    host = await createWgHost({ peer: { publicKey, allowedIps: "100.64.0.1/32" }, prefix: "capw" });
    dir = mkdtempSync(join(tmpdir(), "corridor-apps-ws-"));
    mesh = await startMeshNet(writeOurWgConfig(dir, privateKey, host));
    pool = new HttpPool({
      dial: (h, p) => stream(h, p),
    });
    [edge, jupyter] = await Promise.all([
      startEdgeApp({ host }),
      hasJupyter ? startJupyter({ host }) : undefined,
    ]);
  }, 90_000);

  afterAll(async () => {
    pool?.closeIdle();
    await Promise.all([edge?.stop(), jupyter?.stop()]);
    await mesh?.close();
    await host?.close();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it("edge: echo with the subprotocol it chose, text and binary, then its close code", async () => {
    const ws = await openWebSocket(await stream(edge.address, edge.port), {
      host: `${edge.address}:${edge.port}`,
      path: "/ws",
      origin: edge.url,
      protocols: ["chat.v3", "chat.v1"],
    });
    expect(ws.protocol).toBe("chat.v1");
    await ws.send("héllo");
    expect(await next(ws)).toBe("héllo");
    await ws.send(Uint8Array.of(1, 2, 3));
    expect(Array.from((await next(ws)) as Uint8Array)).toEqual([1, 2, 3]);
    await ws.send("close");
    expect(await ws.closed).toMatchObject({ code: 4001, reason: "asked to", wasClean: true });
  });

  it.skipIf(!hasJupyter)(
    "Jupyter: a kernel runs 6*7 over its channels; a foreign Origin is refused",
    async () => {
      const j = jupyter!;
      const hostPort = `${j.address}:${j.port}`;
      // The token in the query logs in and sets the session and _xsrf cookies.
      const cookies = new Map<string, string>();
      const call = async (method: string, path: string, body?: string) => {
        const xsrf = cookies.get("_xsrf");
        const headers: [string, string][] = [
          ["Cookie", [...cookies].map(([k, v]) => `${k}=${v}`).join("; ")],
        ];
        if (xsrf !== undefined) headers.push(["X-XSRFToken", xsrf]);
        if (body !== undefined) headers.push(["Content-Type", "application/json"]);
        const r = await httpRequest(pool, {
          method,
          url: `${j.url}${path}`,
          headers,
          body: body === undefined ? null : new TextEncoder().encode(body),
        });
        for (const [n, v] of r.headers) {
          if (n.toLowerCase() !== "set-cookie") continue;
          const pair = v.split(";")[0]!;
          const eq = pair.indexOf("=");
          cookies.set(pair.slice(0, eq), pair.slice(eq + 1));
        }
        return { status: r.status, text: await new Response(r.body).text() };
      };
      expect((await call("GET", `/tree?token=${j.token}`)).status).toBe(200);
      await call("GET", "/tree"); // the tree page sets _xsrf
      expect([...cookies.keys()]).toEqual(expect.arrayContaining(["_xsrf"]));
      const kernel = await call("POST", "/api/kernels", "{}");
      expect(kernel.status).toBe(201);
      const { id } = JSON.parse(kernel.text) as { id: string };
      const cookie = [...cookies].map(([k, v]) => `${k}=${v}`).join("; ");
      const channels = (origin: string) =>
        stream(j.address, j.port).then((s) =>
          openWebSocket(s, {
            host: hostPort,
            path: `/api/kernels/${id}/channels`,
            origin,
            headers: { Cookie: cookie },
          }),
        );

      await expect(channels("http://evil.example")).rejects.toThrow(/403/);

      const ws = await channels(j.url);
      const msgId = randomUUID();
      await ws.send(
        JSON.stringify({
          header: {
            msg_id: msgId,
            username: "corridor",
            session: randomUUID(),
            msg_type: "execute_request",
            version: "5.3",
            date: new Date().toISOString(),
          },
          parent_header: {},
          metadata: {},
          content: { code: "6*7", silent: false, store_history: true, user_expressions: {} },
          channel: "shell",
          buffers: [],
        }),
      );
      for (;;) {
        const message = JSON.parse(String(await next(ws))) as {
          msg_type: string;
          parent_header: { msg_id?: string };
          content: { data?: Record<string, string> };
        };
        if (message.msg_type === "execute_result" && message.parent_header.msg_id === msgId) {
          expect(message.content.data?.["text/plain"]).toBe("42");
          break;
        }
      }
      await ws.close(1000, "done");
    },
    60_000,
  );
});
