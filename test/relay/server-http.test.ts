// /healthz, /metrics, the JSON logs, and the UDP bridge hook seam.

import { ed25519 } from "@noble/curves/ed25519.js";
import { afterEach, describe, expect, it } from "vitest";
import type { RelayServer } from "../../server/relay/relay-server.ts";
import { signRelayToken } from "../../server/relay/token.ts";
import type { UdpBridgeClient, UdpBridgeHook } from "../../server/relay/udp-bridge-hook.ts";
import {
  encodeUdp,
  type RelayEndpoint,
  SEND_UDP,
  toRelayAddress,
} from "../../worker/relay/frames.ts";
import { keyToBase64 } from "../../worker/wireguard/keys.ts";
import { waitUntil } from "../helpers/wait.ts";
import {
  connectAuthed,
  endTestRelay,
  nodeKeys,
  type RawClient,
  startTestRelay,
} from "./raw-client.ts";

let relay: RelayServer | undefined;
const clients: RawClient[] = [];

afterEach(async () => {
  relay = await endTestRelay(relay, clients);
});

const httpUrl = (path: string) => relay!.url.replace("ws://", "http://").replace("/relay", path);

describe("relay HTTP endpoints", () => {
  it("/healthz answers ok, and 503 while restarting", async () => {
    ({ relay } = await startTestRelay({ closeGraceMs: 1500 }));
    const res = await fetch(httpUrl("/healthz"));
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("ok\n");
    // Never cached, never sniffed into something runnable, never a page.
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    expect(res.headers.get("content-security-policy")).toBe(
      "default-src 'none'; frame-ancestors 'none'",
    );
    for (const path of ["/metrics", "/relay", "/nothing-here"]) {
      const other = await fetch(httpUrl(path));
      expect([
        path,
        other.headers.get("x-content-type-options"),
        other.headers.get("cache-control"),
      ]).toEqual([path, "nosniff", "no-store"]);
    }
    // A client that never answers the close keeps the relay in its grace period.
    const stuck = await connectAuthed(relay.url, await nodeKeys());
    clients.push(stuck);
    stuck.ws.pause();
    const closing = relay.close({ restarting: { reconnectInMs: 100, tryForMs: 1000 } });
    // Restarting from the moment close() is called; the listener stays open through the grace.
    expect(relay.restarting).toBe(true);
    const during = await fetch(httpUrl("/healthz"));
    expect(during.status).toBe(503);
    await closing;
    relay = undefined;
  });

  it("/relay without an upgrade is 426; other paths 404", async () => {
    ({ relay } = await startTestRelay());
    expect((await fetch(httpUrl("/relay"))).status).toBe(426);
    expect((await fetch(httpUrl("/nope"))).status).toBe(404);
  });

  it("/metrics exposes corridor_relay_* in Prometheus text format", async () => {
    const bridge: UdpBridgeHook = {
      send: () => false,
      closeClient: () => {},
      close: () => {},
      sockets: () => 3,
    };
    ({ relay } = await startTestRelay({ udpBridge: bridge }));
    const a = await nodeKeys();
    const b = await nodeKeys();
    const ca = await connectAuthed(relay.url, a);
    const cb = await connectAuthed(relay.url, b);
    clients.push(ca, cb);
    ca.sendTo(b.publicKey, new Uint8Array(10));
    await cb.next("recv");
    ca.sendTo((await nodeKeys()).publicKey, new Uint8Array(1));
    await ca.next("peer-gone");
    const res = await fetch(httpUrl("/metrics"));
    expect(res.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    const value = (line: string) => {
      const found = text.split("\n").find((l) => l.startsWith(`${line} `));
      return found === undefined ? undefined : Number(found.slice(line.length + 1));
    };
    expect(value("corridor_relay_connections")).toBe(2);
    expect(value("corridor_relay_clients")).toBe(2);
    expect(value("corridor_relay_frames_in_total")).toBe(4); // 2 hellos, SEND, SEND
    expect(value("corridor_relay_bytes_in_total")).toBeGreaterThan(2 * 65);
    expect(value("corridor_relay_frames_out_total")).toBe(6); // 2×(hello, WELCOME), RECV, GONE
    expect(value("corridor_relay_bytes_out_total")).toBeGreaterThan(0);
    expect(value('corridor_relay_drops_total{reason="not_here"}')).toBe(1);
    expect(value("corridor_relay_udp_sockets")).toBe(3);
    expect(value("corridor_relay_rate_limited_total")).toBe(0);
    expect(value('corridor_relay_hellos_total{result="ok"}')).toBe(2);
    expect(text).toContain("# TYPE corridor_relay_frames_in_total counter");
    expect(text).toContain("# TYPE corridor_relay_connections gauge");
  });

  it("logs one JSON object per line", async () => {
    let logs: string[];
    ({ relay, logs } = await startTestRelay());
    clients.push(await connectAuthed(relay.url, await nodeKeys()));
    const events = logs.map((line) => JSON.parse(line) as { event: string; ts: string });
    expect(events.map((e) => e.event)).toEqual(expect.arrayContaining(["listening", "hello"]));
    expect(events.every((e) => typeof e.ts === "string")).toBe(true);
  });
});

describe("relay UDP bridge hook", () => {
  it("hands SEND_UDP to the bridge with the token's allowances and delivers replies", async () => {
    const control = ed25519.utils.randomSecretKey();
    const calls: Array<{ client: UdpBridgeClient; endpoint: RelayEndpoint; packet: number[] }> = [];
    const closed: number[] = [];
    const bridge: UdpBridgeHook = {
      send(client, endpoint, packet, deliver) {
        calls.push({ client, endpoint, packet: [...packet] });
        if (endpoint.port !== 51820) return false;
        setTimeout(() => deliver(endpoint, new Uint8Array([...packet].reverse())), 1);
        return true;
      },
      closeClient: (id) => closed.push(id),
      close: () => {},
    };
    ({ relay } = await startTestRelay({
      relayId: "r",
      auth: { mode: "token", controlPublicKey: ed25519.getPublicKey(control) },
      udpBridge: bridge,
    }));
    const k = await nodeKeys();
    const token = signRelayToken(
      {
        v: 1,
        key: keyToBase64(k.publicKey),
        relay: "r",
        udp: ["192.0.2.1:51820"],
        exp: Math.floor(Date.now() / 1000) + 60,
      },
      control,
    );
    const c = await connectAuthed(relay.url, k, { token });
    const address = toRelayAddress(new Uint8Array([192, 0, 2, 1]));
    c.send(encodeUdp(SEND_UDP, { address, port: 51820 }, new Uint8Array([1, 2, 3])));
    const reply = await c.next("recv-udp");
    expect(reply.endpoint.port).toBe(51820);
    expect([...reply.endpoint.address]).toEqual([...address]);
    expect([...reply.packet]).toEqual([3, 2, 1]);
    expect(calls[0]!.client.allowed).toEqual(["192.0.2.1:51820"]);
    expect([...calls[0]!.client.key]).toEqual([...k.publicKey]);
    c.send(encodeUdp(SEND_UDP, { address, port: 9 }, new Uint8Array([1])));
    await c.ping();
    expect(await relay.metrics.value("corridor_relay_drops_total", { reason: "udp_refused" })).toBe(
      1,
    );
    const id = calls[0]!.client.id;
    c.close();
    await c.closed;
    await waitUntil(() => closed.length > 0, "the bridge hearing that the client left");
    expect(closed).toEqual([id]);
  });

  it("without a bridge, SEND_UDP is dropped and counted", async () => {
    ({ relay } = await startTestRelay());
    const c = await connectAuthed(relay.url, await nodeKeys());
    clients.push(c);
    const address = toRelayAddress(new Uint8Array([192, 0, 2, 1]));
    c.send(encodeUdp(SEND_UDP, { address, port: 51820 }, new Uint8Array([1])));
    await c.ping();
    expect(
      await relay.metrics.value("corridor_relay_drops_total", { reason: "no_udp_bridge" }),
    ).toBe(1);
  });
});
