// The upgrade's HTTP status as the relay client sees it (server/relay/ws-node.ts reading ws's
// unexpected-response): 401 ends the bind after one attempt with the server's reason, its
// control characters replaced and its length bounded; a 503 (a proxy while the relay
// restarts) is retried, never final.

import { createServer, type Server } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import { nodeRelayConnect } from "../../server/relay/ws-node.ts";
import { loadCryptoCore, nobleX25519 } from "../../worker/crypto/index.ts";
import { RelayBind } from "../../worker/relay/client.ts";
import { listenOnLoopback } from "../helpers/ports.ts";
import { seededBytes } from "../helpers/seeded.ts";
import { waitUntil } from "../helpers/wait.ts";

const cleanup: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

/** An HTTP server that answers every upgrade with `status` and `body`; counts the attempts. */
async function refusing(status: number, body: string): Promise<{ url: string; count(): number }> {
  let attempts = 0;
  const server: Server = createServer();
  server.on("upgrade", (_req, socket) => {
    attempts++;
    socket.end(
      `HTTP/1.1 ${status} Refused\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  });
  const port = await listenOnLoopback(server);
  cleanup.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { url: `ws://127.0.0.1:${port}`, count: () => attempts };
}

async function bind(url: string): Promise<RelayBind> {
  const b = new RelayBind({
    url,
    privateKey: seededBytes(0x57a7)(32),
    core: await loadCryptoCore(),
    x25519: nobleX25519,
    connect: nodeRelayConnect(),
    random: seededBytes(0xbac0),
    backoffBaseMs: 10,
    backoffMaxMs: 20,
    onWarning: () => {},
  });
  cleanup.push(() => b.close());
  return b;
}

describe("the upgrade's HTTP status", () => {
  it("401 is final after one attempt, with the reason cleaned and bounded", async () => {
    const server = await refusing(401, `token\u001b[31m expired\n${"x".repeat(2000)}`);
    const b = await bind(server.url);
    const error = await b
      .open(() => {})
      .then(
        () => undefined,
        (e: Error) => e,
      );
    expect(error?.message).toMatch(
      /^relay ws:\/\/127\.0\.0\.1:\d+\/relay refused this node for good: relay answered the WebSocket upgrade with HTTP 401: token \[31m expired x+$/,
    );
    // The first 512 bytes of the body are kept, no more.
    const reason = error?.message.split("HTTP 401: ")[1] ?? "";
    expect(reason.length).toBeLessThanOrEqual(512);
    expect(reason.length).toBeGreaterThan(500);
    expect(b.state).toBe("failed");
    expect(server.count()).toBe(1);
  });

  it("503 is retried, never final", async () => {
    const server = await refusing(503, "restarting");
    const b = await bind(server.url);
    void b.open(() => {}).catch(() => {});
    await waitUntil(() => server.count() >= 3, "three attempts at a relay answering 503", {
      hangAfterMs: 10_000,
    });
    expect(b.state).not.toBe("failed");
    expect(b.lastError?.message).toBe(
      "relay answered the WebSocket upgrade with HTTP 503: restarting",
    );
  });
});
