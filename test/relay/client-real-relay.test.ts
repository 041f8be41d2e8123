// RelayBind against the real relay server (server/relay/relay-server.ts) with the real UDP
// bridge: forwarding by key, SEND_UDP to a UDP echo socket and its RECV_UDP answer, and a
// graceful restart (RESTARTING) after which the binds come back on their own.

import { createSocket } from "node:dgram";
import { afterEach, describe, expect, it } from "vitest";
import { type RelayServer, startRelay } from "../../server/relay/relay-server.ts";
import { UdpBridge } from "../../server/relay/udp-bridge.ts";
import { nodeRelayConnect } from "../../server/relay/ws-node.ts";
import { loadCryptoCore, nobleX25519 } from "../../worker/crypto/index.ts";
import { RelayBind } from "../../worker/relay/client.ts";
import type { Endpoint } from "../../worker/wireguard/bind.ts";
import { keyToBase64 } from "../../worker/wireguard/keys.ts";
import { seededBytes } from "../helpers/seeded.ts";
import { until } from "./client-fake-relay.ts";

const cleanup: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

const random = seededBytes(0x4ea1);

async function relayOn(port: number, allow: string[] = []): Promise<RelayServer> {
  const relay = await startRelay({
    auth: { mode: "open" },
    relayId: "real",
    port,
    privateKey: seededBytes(0x4e1a7)(32),
    udpBridge: new UdpBridge({ allow }),
    log: () => {},
    closeGraceMs: 200,
  });
  cleanup.push(() => relay.close());
  return relay;
}

async function bindOn(url: string) {
  const privateKey = random(32);
  privateKey[0]! &= 248;
  privateKey[31] = (privateKey[31]! & 127) | 64;
  const bind = new RelayBind({
    url,
    privateKey,
    core: await loadCryptoCore(),
    x25519: nobleX25519,
    connect: nodeRelayConnect(),
    random,
    backoffBaseMs: 20,
    backoffMaxMs: 200,
  });
  cleanup.push(() => bind.close());
  const got: { text: string; from: Endpoint }[] = [];
  await bind.open((packet, from) => got.push({ text: new TextDecoder().decode(packet), from }));
  const key = keyToBase64(await nobleX25519.publicKey(privateKey));
  return { bind, got, key };
}

const bytes = (s: string) => new TextEncoder().encode(s);

describe("RelayBind against the real relay", () => {
  it("forwards by key both ways and reaches an allowed UDP endpoint", async () => {
    const echo = createSocket("udp4");
    echo.on("message", (m, from) => echo.send(m, from.port, from.address));
    await new Promise<void>((resolve) => echo.bind(0, "127.0.0.1", resolve));
    cleanup.push(() => new Promise<void>((resolve) => echo.close(() => resolve())));
    const echoPort = echo.address().port;
    const relay = await relayOn(0, [`127.0.0.1:${echoPort}`]);
    const a = await bindOn(relay.url);
    const b = await bindOn(relay.url);
    expect(a.bind.welcome).toMatchObject({ relay: "real" });
    a.bind.send(bytes("to b"), a.bind.parseEndpoint(`peer:${b.key}`));
    b.bind.send(bytes("to a"), b.bind.parseEndpoint(`peer:${a.key}`));
    await until(() => a.got.length === 1 && b.got.length === 1, 5000, "forwarding");
    expect(b.got[0]).toMatchObject({ text: "to b", from: { key: `peer:${a.key}` } });
    expect(a.got[0]).toMatchObject({ text: "to a", from: { key: `peer:${b.key}` } });
    a.bind.send(bytes("udp!"), a.bind.parseEndpoint(`127.0.0.1:${echoPort}`));
    a.bind.send(bytes("refused"), a.bind.parseEndpoint("127.0.0.1:9"));
    await until(() => a.got.length === 2, 5000, "the UDP echo");
    expect(a.got[1]).toMatchObject({
      text: "udp!",
      from: { key: `127.0.0.1:${echoPort}`, host: "127.0.0.1", port: echoPort },
    });
  });

  it("comes back after a graceful restart (RESTARTING)", async () => {
    const first = await relayOn(0);
    const port = first.port;
    const a = await bindOn(first.url);
    const b = await bindOn(first.url);
    await first.close({ restarting: { reconnectInMs: 200, tryForMs: 5000 } });
    expect(a.bind.stats.restarting).toBe(1);
    await relayOn(port);
    await until(
      () => a.bind.state === "ready" && b.bind.state === "ready",
      10_000,
      "both binds back",
    );
    a.bind.send(bytes("after"), a.bind.parseEndpoint(`peer:${b.key}`));
    await until(() => b.got.length === 1, 5000, "a packet after the restart");
    expect(b.got[0]!.text).toBe("after");
    expect(a.bind.stats.welcomes).toBe(2);
  });
});
