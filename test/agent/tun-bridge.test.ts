// The relay bridge of TUN mode (server/agent/tun/relay-bridge.ts) on loopback, with a UDP
// socket standing in for the WireGuard interface and a recording Bind for the relay: what
// the interface sends to a peer's bridge socket goes to the relay addressed to that peer's
// key; what the relay delivers from a key comes out of that key's socket toward the
// interface; datagrams from anyone but the interface, and relay packets for keys without a
// socket, are dropped and counted; removing a peer closes its socket. Also the named pipe
// that hands the private key to `wg` (key-fifo.ts).

import { createSocket, type Socket } from "node:dgram";
import { existsSync } from "node:fs";
import { dirname } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { runCommand } from "../../server/agent/tun/exec.ts";
import { MKFIFO, withSecretFifo } from "../../server/agent/tun/key-fifo.ts";
import { RelayBridge } from "../../server/agent/tun/relay-bridge.ts";
import { createLogger } from "../../server/log.ts";
import { parseRelayEndpoint } from "../../worker/relay/endpoint.ts";
import type { Bind, Endpoint, ReceiveFn } from "../../worker/wireguard/bind.ts";
import { describeWithPrereq, executable, prereq } from "../helpers/prereq.ts";
import { waitUntil } from "../helpers/wait.ts";

const key = (n: number) => Buffer.alloc(32, n).toString("base64");

/** A relay Bind that records what is sent and lets the test deliver packets. */
class RecordingRelay implements Bind {
  readonly sent: { packet: string; to: string }[] = [];
  receive: ReceiveFn | undefined;
  closed = false;
  async open(onReceive: ReceiveFn): Promise<void> {
    this.receive = onReceive;
  }
  send(packet: Uint8Array, to: Endpoint): boolean {
    this.sent.push({ packet: Buffer.from(packet).toString(), to: to.key });
    return true;
  }
  parseEndpoint(text: string): Endpoint {
    return parseRelayEndpoint(text);
  }
  async close(): Promise<void> {
    this.closed = true;
  }
}

function udp(): Promise<Socket> {
  const socket = createSocket("udp4");
  return new Promise((resolve) => socket.bind(0, "127.0.0.1", () => resolve(socket)));
}

const toClose: (() => unknown)[] = [];
afterEach(async () => {
  for (const fn of toClose.splice(0).reverse()) await fn();
});

describe("RelayBridge", () => {
  async function setup() {
    const iface = await udp();
    toClose.push(() => iface.close());
    const received: { text: string; from: string }[] = [];
    iface.on("message", (msg, from) =>
      received.push({ text: msg.toString(), from: `${from.address}:${from.port}` }),
    );
    const relay = new RecordingRelay();
    const bridge = new RelayBridge({
      relay,
      interfacePort: iface.address().port,
      log: createLogger({ level: "silent" }),
    });
    toClose.push(() => bridge.close());
    await bridge.open();
    return { iface, received, relay, bridge };
  }

  it("carries the interface's datagrams to the relay and the relay's back, per peer", async () => {
    const { iface, received, relay, bridge } = await setup();
    const a = await bridge.addPeer(key(2));
    const b = await bridge.addPeer(key(3));
    expect(await bridge.addPeer(key(2))).toBe(a);
    expect(a).not.toBe(b);
    expect(bridge.keyAt(a)).toBe(key(2));

    const [, aPort] = a.split(":");
    iface.send("to-a", Number(aPort), "127.0.0.1");
    await waitUntil(() => relay.sent.length === 1, "the datagram at the relay");
    expect(relay.sent[0]).toEqual({ packet: "to-a", to: `peer:${key(2)}` });

    relay.receive?.(new TextEncoder().encode("from-b"), parseRelayEndpoint(`peer:${key(3)}`));
    await waitUntil(() => received.length === 1, "the relay's packet at the interface");
    expect(received[0]).toEqual({ text: "from-b", from: b });
    expect(bridge.stats).toMatchObject({
      toRelay: 1,
      toRelayBytes: 4,
      fromRelay: 1,
      fromRelayBytes: 6,
    });
  });

  it("drops datagrams from anyone but the interface, and relay packets for unknown keys", async () => {
    const { iface, received, relay, bridge } = await setup();
    const a = await bridge.addPeer(key(2));
    const stranger = await udp();
    toClose.push(() => stranger.close());
    stranger.send("forged", Number(a.split(":")[1]), "127.0.0.1");
    await waitUntil(() => bridge.stats.foreignSource === 1, "the forged datagram dropped");
    relay.receive?.(new TextEncoder().encode("x"), parseRelayEndpoint(`peer:${key(9)}`));
    relay.receive?.(new TextEncoder().encode("y"), parseRelayEndpoint("192.0.2.1:51820"));
    expect(bridge.stats.unknownPeer).toBe(2);
    // Barrier: a datagram from the interface after the forged one arrives; the forged never did.
    iface.send("real", Number(a.split(":")[1]), "127.0.0.1");
    await waitUntil(() => relay.sent.length === 1, "the real datagram at the relay");
    expect(relay.sent.map((s) => s.packet)).toEqual(["real"]);
    expect(received).toEqual([]);
  });

  it("removing a peer closes its socket; close() closes the relay and refuses new peers", async () => {
    const { relay, bridge } = await setup();
    const a = await bridge.addPeer(key(2));
    bridge.removePeer(key(2));
    expect(bridge.addressOf(key(2))).toBeUndefined();
    expect(bridge.keyAt(a)).toBeUndefined();
    // The port is free again: binding it succeeds.
    const again = createSocket("udp4");
    await new Promise<void>((resolve, reject) => {
      again.once("error", reject);
      again.bind(Number(a.split(":")[1]), "127.0.0.1", () => resolve());
    });
    again.close();
    await bridge.close();
    expect(relay.closed).toBe(true);
    await expect(bridge.addPeer(key(3))).rejects.toThrow(/closed/);
  });

  it("holds at most maxPeers sockets", async () => {
    const relay = new RecordingRelay();
    const bridge = new RelayBridge({
      relay,
      interfacePort: 9,
      maxPeers: 2,
      log: createLogger({ level: "silent" }),
    });
    toClose.push(() => bridge.close());
    await bridge.addPeer(key(2));
    await bridge.addPeer(key(3));
    await expect(bridge.addPeer(key(4))).rejects.toThrow(/more than 2 peers/);
    expect(bridge.size).toBe(2);
  });
});

const fifoNeed = prereq(executable(MKFIFO), executable("/usr/bin/cat"));

describeWithPrereq(fifoNeed, "withSecretFifo", () => {
  it("the reader gets the secret; the pipe's directory is gone afterwards", async () => {
    let dir = "";
    const out = await withSecretFifo("s3cret\n", async (path) => {
      dir = dirname(path);
      return runCommand(["/usr/bin/cat", path]);
    });
    expect(out.stdout).toBe("s3cret\n");
    expect(existsSync(dir)).toBe(false);
  });

  it("a command that fails before reading ends the wait with its own result", async () => {
    const out = await withSecretFifo("s3cret\n", () =>
      runCommand(["/usr/bin/cat", "/nonexistent"]),
    );
    expect(out.code).not.toBe(0);
    expect(out.stderr).toContain("No such file");
  });
});
