// What the relay client (RelayBind over nodeRelayConnect) does when it cannot use a relay: a
// malformed relay URL is refused when the bind is made, with the URL and the reason; a server that answers
// another subprotocol, or none, is never said hello to; a relay that refuses the upgrade for
// good (404 at a wrong path, 403 for a foreign Origin) ends the bind at the first attempt, with
// the status and the relay's reason (test/relay/url-refusals.test.ts has the CLI's side).

import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { WebSocketServer } from "ws";
import type { RelayServer } from "../../server/relay/relay-server.ts";
import { type NodeRelayConnectOptions, nodeRelayConnect } from "../../server/relay/ws-node.ts";
import { loadCryptoCore, nobleX25519 } from "../../worker/crypto/index.ts";
import { RelayBind } from "../../worker/relay/client.ts";
import { seededBytes } from "../helpers/seeded.ts";
import { until } from "./client-fake-relay.ts";
import { startTestRelay } from "./raw-client.ts";

const cleanup: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

const random = seededBytes(0x5ef05e);

async function bind(url: string, connect: NodeRelayConnectOptions = {}): Promise<RelayBind> {
  const b = new RelayBind({
    url,
    privateKey: random(32),
    core: await loadCryptoCore(),
    x25519: nobleX25519,
    connect: nodeRelayConnect(connect),
    random: seededBytes(0xbac0),
    backoffBaseMs: 10,
    backoffMaxMs: 50,
    onWarning: () => {}, // ws:// to loopback: nothing to warn about, and no noise if it does
  });
  cleanup.push(() => b.close());
  return b;
}

/** A WebSocket server that answers the upgrade with `answer` as its subprotocol (or none). */
async function plainServer(answer: string | false): Promise<{ url: string; messages: number }> {
  const server = new WebSocketServer({
    host: "127.0.0.1",
    port: 0,
    handleProtocols: () => answer,
  });
  const state = { url: "", messages: 0 };
  server.on("connection", (ws) => ws.on("message", () => state.messages++));
  await new Promise<void>((resolve) => server.once("listening", () => resolve()));
  state.url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/relay`;
  cleanup.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return state;
}

describe("relay client: URLs and subprotocols it refuses", () => {
  it("refuses a malformed relay URL when the bind is made, naming the URL and the reason", async () => {
    for (const [url, reason] of [
      ["not a url", 'relay URL "not a url" is not a URL'],
      ["ftp://relay.example/relay", 'relay URL "ftp://relay.example/relay" is not ws:// or wss://'],
      ["http://127.0.0.1/relay", 'relay URL "http://127.0.0.1/relay" is not ws:// or wss://'],
      [
        "ws://127.0.0.1/relay#x",
        "relay URL ws://127.0.0.1/relay: the part after # must be key=<the relay's public key>",
      ],
    ] as const) {
      await expect(bind(url), url).rejects.toThrow(reason);
    }
  });

  for (const [answer, reason] of [
    [false, "Server sent no subprotocol"],
    ["chat", "Server sent an invalid subprotocol"],
  ] as const) {
    it(`never says hello to a server that answers ${answer === false ? "no subprotocol" : `subprotocol "${answer}"`}`, async () => {
      const server = await plainServer(answer);
      const b = await bind(server.url);
      void b.open(() => {}).catch(() => {});
      await until(() => b.stats.connectAttempts >= 3, 10_000, "retries");
      expect(b.lastError?.message).toBe(reason);
      expect(b.state).not.toBe("ready");
      expect(server.messages).toBe(0);
    });
  }

  it("stops at the relay's refusal of a wrong path or a foreign Origin, with its reason", async () => {
    let relay: RelayServer;
    ({ relay } = await startTestRelay());
    cleanup.push(() => relay.close());
    // A path ending in /relay passes the URL check (a proxy's prefix); this relay has none.
    const wrongPath = await bind(relay.url.replace("/relay", "/elsewhere/relay"));
    const foreign = await bind(relay.url, { headers: { Origin: "https://evil.example" } });
    await expect(wrongPath.open(() => {})).rejects.toThrow(
      /refused this node for good: relay answered the WebSocket upgrade with HTTP 404: no relay here/,
    );
    await expect(foreign.open(() => {})).rejects.toThrow(
      /refused this node for good: relay answered the WebSocket upgrade with HTTP 403: this relay does not accept pages of that origin/,
    );
    for (const b of [wrongPath, foreign]) {
      expect(b.state).toBe("failed");
      expect(b.stats.connectAttempts).toBe(1);
    }
    expect(
      await relay.metrics.value("corridor_relay_upgrades_rejected_total", { reason: "path" }),
    ).toBe(1);
    expect(
      await relay.metrics.value("corridor_relay_upgrades_rejected_total", { reason: "origin" }),
    ).toBe(1);
    expect(await relay.metrics.byLabel("corridor_relay_hellos_total")).toEqual({});
  });
});
