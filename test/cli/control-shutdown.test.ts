// Graceful shutdown of the real `corridor control` (cli/drain.ts): on SIGTERM /readyz answers
// 503 at once and new map streams are refused while the open one keeps streaming; after
// --drain the stream is closed with 1012 (restart: the client reconnects with backoff and keeps
// its session), the checkpoint is written, and the process exits 0 within the bound. A server
// started again on the same database and port takes the node back with a delta, not a full map.
// The shutdown phases are pino JSON lines with component "shutdown". `corridor serve` (page,
// relay and control on one port) does the same: its /readyz covers the relay and the control
// server, 503 at once on SIGTERM, exit 0 after the drain.

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { nodeControlConnect } from "../../server/control/control-socket-node.ts";
import { ControlClient } from "../../worker/control/client.ts";
import { CONTROL_PROTOCOL } from "../../worker/control/messages.ts";
import type { ControlConnect } from "../../worker/control/socket.ts";
import { initCrypto } from "../../worker/crypto/index.ts";
import { nobleX25519 } from "../../worker/crypto/x25519.ts";
import { generatePrivateKey, keyToBase64 } from "../../worker/wireguard/keys.ts";
import { reservedPort } from "../helpers/ports.ts";
import { waitUntil } from "../helpers/wait.ts";
import { api, corridor, followOwnerLink, Server } from "./control-helpers.ts";

const DRAIN_SECONDS = 1.5;
/** Drain, closing the streams, the checkpoint and the store: generous on a loaded machine. */
const EXIT_BOUND_MS = DRAIN_SECONDS * 1000 + 10_000;

let dir: string;
let database: string;
let port: number;
let base: string;
let args: string[];
const servers: Server[] = [];
let client: ControlClient | undefined;
/** Close codes the client's sockets saw, in order. */
const closes: number[] = [];

/** The client's connect, recording every close code its sockets see. */
function recordingConnect(): ControlConnect {
  const connect = nodeControlConnect();
  return (url, protocol) => {
    const socket = connect(url, protocol);
    const listen = socket.listen.bind(socket);
    socket.listen = (events) =>
      listen({
        ...events,
        onClose(code, reason) {
          closes.push(code);
          events.onClose(code, reason);
        },
      });
    return socket;
  };
}

async function readyzStatus(at = base): Promise<number> {
  const res = await fetch(new URL("/readyz", at));
  await res.arrayBuffer();
  return res.status;
}

function upgradeStatus(): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${base.replace(/^http/, "ws")}control`, CONTROL_PROTOCOL);
    ws.on("open", () => {
      ws.close();
      resolve(101);
    });
    ws.on("unexpected-response", (_req, res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    ws.on("error", reject);
  });
}

function start(): Server {
  const server = new Server(args);
  servers.push(server);
  return server;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "corridor-control-shutdown-"));
  database = join(dir, "control.db");
  port = await reservedPort();
  args = [
    "control",
    "--database",
    database,
    "--listen",
    `127.0.0.1:${port}`,
    "--relay-url",
    "ws://127.0.0.1:9/relay",
    "--relay-key",
    keyToBase64(new Uint8Array(32).fill(7)),
    "--drain",
    String(DRAIN_SECONDS),
  ];
}, 60_000);

afterAll(async () => {
  client?.close();
  for (const server of servers) await server.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("corridor control on SIGTERM", () => {
  it("readyz 503 at once, the stream closed 1012 after the drain, exit 0; the node resumes on the next start", async () => {
    const first = start();
    const [, url] = (await first.waitFor(
      /corridor control at (http:\/\/127\.0\.0\.1:\d+\/) /,
    )) as unknown as string[];
    base = url!;
    const [, link] = (await first.waitFor(/Sign in as owner: (\S+)\n/)) as unknown as string[];
    await followOwnerLink(link!);
    const made = await corridor(["admin", "apikey", "create", "--database", database]);
    expect(made.status, made.stderr).toBe(0);
    const authKey = await api(base, "POST", "/api/v1/authkeys", {
      key: made.stdout.trim(),
      body: {},
    });
    expect(authKey.status).toBe(201);

    client = new ControlClient({
      url: `${base.replace(/^http/, "ws")}control`,
      privateKey: generatePrivateKey(),
      core: await initCrypto(),
      x25519: nobleX25519,
      connect: recordingConnect(),
      hostinfo: { hostname: "laptop", os: "linux" },
      authKey: String(authKey.body.key),
      backoffBaseMs: 200,
      backoffMaxMs: 1000,
      onMap: () => {},
    });
    await client.start();
    // A load balancer watching: the drain applies.
    expect(await readyzStatus()).toBe(200);

    const signalled = Date.now();
    const exited = first.stop(); // SIGTERM now; resolves with the exit status

    await waitUntil(() => first.stdout.includes("corridor control: shutting down"), "shutdown");
    expect(await readyzStatus()).toBe(503);
    expect(Date.now() - signalled).toBeLessThan(DRAIN_SECONDS * 1000);
    // Draining: new streams are refused, the open one goes on.
    expect(await upgradeStatus()).toBe(503);
    expect(client.state).toBe("ready");
    expect(closes).toEqual([]);

    await waitUntil(() => closes.length > 0, "the stream closed", { hangAfterMs: EXIT_BOUND_MS });
    expect(closes[0]).toBe(1012);
    expect(Date.now() - signalled).toBeGreaterThanOrEqual(DRAIN_SECONDS * 1000 - 100);
    // Not refused: it reconnects (with backoff) and keeps its session.
    expect(client.refusal).toBeUndefined();
    expect(client.map.resumePoint()).toBeDefined();

    expect(await exited).toBe(0);
    expect(Date.now() - signalled).toBeLessThan(EXIT_BOUND_MS);
    const phases = first.stderr
      .split("\n")
      .filter((line) => line.startsWith("{"))
      .map((line) => JSON.parse(line) as { component?: string; event?: string; level?: string })
      .filter((line) => line.component === "shutdown");
    expect(phases.map((p) => p.event)).toEqual([
      "shutdown: draining, /readyz answers 503",
      "shutdown: closing map streams",
      "shutdown: done",
    ]);
    expect(phases.every((p) => p.level === "info")).toBe(true);

    // The same server again: the node comes back by itself and resumes with a delta.
    const resumedBefore = client.stats.resumedWithDelta;
    const second = start();
    await second.waitFor(/corridor control at /);
    await waitUntil(
      () => client!.state === "ready" && client!.stats.resumedWithDelta > resumedBefore,
      "the node resumed on the restarted server",
    );
  }, 120_000);

  it("corridor serve: readyz names relay, control and database, 503 at once, exit 0 after the drain", async () => {
    const web = join(dir, "web");
    mkdirSync(web, { recursive: true });
    writeFileSync(join(web, "index.html"), "<!doctype html><title>t</title>\n");
    const serve = new Server([
      "serve",
      "--port",
      "0",
      "--web",
      web,
      "--data",
      join(dir, "serve-data"),
      "--stun",
      "0",
      "--drain",
      String(DRAIN_SECONDS),
    ]);
    servers.push(serve);
    const [, url] = (await serve.waitFor(
      /Corridor is running at (http:\/\/127\.0\.0\.1:\d+\/)\n/,
    )) as unknown as string[];
    const res = await fetch(new URL("/readyz", url));
    expect(res.status).toBe(200);
    const body = (await res.json()) as { checks: { name: string }[] };
    expect(body.checks.map((c) => c.name).sort()).toEqual(["control", "database", "relay"]);
    const signalled = Date.now();
    const exited = serve.stop();
    await waitUntil(() => serve.stdout.includes("corridor serve: shutting down"), "shutdown");
    expect(await readyzStatus(url)).toBe(503);
    // The relay's liveness stays up through the drain.
    expect((await fetch(new URL("/healthz", url))).status).toBe(200);
    expect(await exited).toBe(0);
    const took = Date.now() - signalled;
    expect(took).toBeGreaterThanOrEqual(DRAIN_SECONDS * 1000 - 100);
    expect(took).toBeLessThan(EXIT_BOUND_MS);
  }, 120_000);
});
