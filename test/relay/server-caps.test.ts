// The relay's caps, in process with small values so each one bites (issue 12, item 4):
// connection slots (in total, per address, and for sockets that have not said hello, whose
// places are given back when the socket goes), queued bytes per client and in all, and what
// /metrics says when a cap bites.

import { afterEach, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { addressGroup } from "../../server/relay/connection-slots.ts";
import type { RelayServer } from "../../server/relay/relay-server.ts";
import { RELAY_SUBPROTOCOL } from "../../worker/relay/frames.ts";
import { until } from "./client-fake-relay.ts";
import {
  connectAuthed,
  connectRaw,
  endTestRelay,
  type NodeKeys,
  nodeKeys,
  type RawClient,
  sendHello,
  startTestRelay,
} from "./raw-client.ts";

let relay: RelayServer | undefined;
const clients: RawClient[] = [];

afterEach(async () => {
  relay = await endTestRelay(relay, clients);
});

/** Opens an upgrade from `localAddress` and resolves with the refusal's status and body. */
function refusal(url: string, localAddress = "127.0.0.1"): Promise<[number, string]> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, RELAY_SUBPROTOCOL, { localAddress });
    ws.once("open", () => {
      ws.terminate();
      reject(new Error("the upgrade was accepted"));
    });
    ws.once("unexpected-response", (_req, res) => {
      let body = "";
      res.on("data", (d: Buffer) => {
        body += d.toString();
      });
      res.on("end", () => resolve([res.statusCode ?? 0, body]));
    });
    ws.once("error", () => {});
  });
}

const from = (localAddress: string) => ({ localAddress });

describe("relay connection slots", () => {
  it("caps sockets per address and those before their hello, in total and per address", async () => {
    ({ relay } = await startTestRelay({
      maxConnections: 7,
      maxUnauthenticated: 3,
      maxConnectionsPerAddress: 4,
      maxUnauthenticatedPerAddress: 2,
    }));
    const url = relay.url;
    const silent = [await connectRaw(url), await connectRaw(url)];
    clients.push(...silent);
    expect(await refusal(url)).toEqual([
      503,
      "too many connections (unauthenticated_per_address)\n",
    ]);
    clients.push(await connectRaw(url, from("127.0.0.2")));
    expect(await refusal(url, "127.0.0.3")).toEqual([
      503,
      "too many connections (max_unauthenticated)\n",
    ]);
    // Saying hello frees the unauthenticated places, not the address's.
    for (const c of silent) {
      await sendHello(c, await nodeKeys());
      await c.next("welcome");
    }
    clients.push(await connectAuthed(url, await nodeKeys(), from("127.0.0.3")));
    clients.push(await connectAuthed(url, await nodeKeys()));
    clients.push(await connectAuthed(url, await nodeKeys()));
    expect(relay.connectionsFrom("127.0.0.1")).toBe(4);
    expect(await refusal(url)).toEqual([503, "too many connections (per_address)\n"]);
    clients.push(await connectRaw(url, from("127.0.0.4"))); // the seventh socket
    expect(await refusal(url, "127.0.0.5")).toEqual([
      503,
      "too many connections (max_connections)\n",
    ]);
    expect(await relay.metrics.byLabel("corridor_relay_cap_hits_total")).toEqual({
      unauthenticated_per_address: 1,
      max_unauthenticated: 1,
      per_address: 1,
      max_connections: 1,
    });
    expect(
      await relay.metrics.value("corridor_relay_upgrades_rejected_total", {
        reason: "per_address",
      }),
    ).toBe(1);
  });

  it("gives a place back when its socket is gone, however the connection ended", async () => {
    ({ relay } = await startTestRelay({
      auth: { mode: "keys", allowed: [] },
      maxConnectionsPerAddress: 2,
      maxUnauthenticatedPerAddress: 2,
    }));
    const url = relay.url;
    for (let round = 0; round < 5; round++) {
      // Two refused hellos (4401) per round: without giving places back, round 2 would fail.
      const pair = [await connectRaw(url), await connectRaw(url)];
      for (const c of pair) await sendHello(c, await nodeKeys());
      for (const c of pair) expect((await c.closed).code).toBe(4401);
      await until(() => relay!.connectionsFrom("127.0.0.1") === 0, 5000, "the places back");
    }
    expect(await relay.metrics.byLabel("corridor_relay_cap_hits_total")).toEqual({});
  });

  it("groups IPv6 clients by /64 and IPv4-mapped ones as IPv4", () => {
    expect(addressGroup("2001:db8:1:2:aaaa::1")).toBe("2001:db8:1:2::/64");
    expect(addressGroup("2001:db8:1:2:ffff:ffff:ffff:ffff")).toBe("2001:db8:1:2::/64");
    expect(addressGroup("2001:db8:1:3::1")).toBe("2001:db8:1:3::/64");
    expect(addressGroup("::ffff:198.51.100.7")).toBe("198.51.100.7");
    expect(addressGroup("198.51.100.7")).toBe("198.51.100.7");
    expect(addressGroup("fe80::1%eth0")).toBe("fe80::/64");
    expect(addressGroup(undefined)).toBe("?");
  });
});

/** Two clients; the receiver stops reading. */
async function pausedReceiver(): Promise<{ sender: RawClient; receiver: NodeKeys }> {
  const [a, b] = [await nodeKeys(), await nodeKeys()];
  const sender = await connectAuthed(relay!.url, a, { keep: false });
  const receiver = await connectAuthed(relay!.url, b, { keep: false });
  clients.push(sender, receiver);
  receiver.ws.pause(); // kernel buffers fill, then the relay's queue
  return { sender, receiver: b };
}

/** Sends `count` packets of 60,000 bytes to `to`, then a PING to know the relay read them. */
async function flood(sender: RawClient, to: NodeKeys, count: number): Promise<void> {
  const packet = new Uint8Array(60_000);
  for (let i = 0; i < count; i++) sender.sendTo(to.publicKey, packet);
  await sender.ping(30_000);
}

describe("relay queued bytes", () => {
  it("caps the bytes queued for a client that does not read; its packets are dropped, counted", async () => {
    const queueBytes = 300_000;
    ({ relay } = await startTestRelay({
      queueBytes,
      rate: { bytesPerSecond: 1e12, burstBytes: 1e12 },
    }));
    const { sender, receiver } = await pausedReceiver();
    await flood(sender, receiver, 400); // 24 MB: more than the kernel buffers hold
    const queueBytesHits = await relay.metrics.value("corridor_relay_cap_hits_total", {
      cap: "queue_bytes",
    });
    expect(queueBytesHits).toBeGreaterThan(0);
    expect(await relay.metrics.value("corridor_relay_drops_total", { reason: "queue_full" })).toBe(
      queueBytesHits,
    );
    expect(relay.queueTotal.bytes).toBeGreaterThan(0);
    expect(relay.queueTotal.bytes).toBeLessThanOrEqual(queueBytes + 16 * 1024);
    // The queue is given back with the socket.
    clients[1]!.ws.terminate();
    await until(() => relay!.queueTotal.bytes === 0, 5000, "the queue freed");
  });

  it("caps the bytes queued for all clients together", async () => {
    const maxQueuedBytes = 500_000;
    ({ relay } = await startTestRelay({
      maxQueuedBytes,
      rate: { bytesPerSecond: 1e12, burstBytes: 1e12 },
    }));
    const one = await pausedReceiver();
    const two = await pausedReceiver();
    await flood(one.sender, one.receiver, 400);
    await flood(two.sender, two.receiver, 400);
    expect(
      await relay.metrics.value("corridor_relay_cap_hits_total", { cap: "relay_queue_bytes" }),
    ).toBeGreaterThan(0);
    expect(
      await relay.metrics.value("corridor_relay_drops_total", { reason: "relay_queue_full" }),
    ).toBeGreaterThan(0);
    expect(relay.queueTotal.bytes).toBeLessThanOrEqual(maxQueuedBytes + 16 * 1024);
    const metrics = await (
      await fetch(relay.url.replace("ws:", "http:").replace("/relay", "/metrics"))
    ).text();
    expect(metrics).toContain(`corridor_relay_queued_bytes ${relay.queueTotal.bytes}\n`);
    expect(metrics).toMatch(/corridor_relay_cap_hits_total\{cap="relay_queue_bytes"\} [1-9]/);
  });
});
