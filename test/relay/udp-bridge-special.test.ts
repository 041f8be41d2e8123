// The UDP bridge never reaches the relay machine's own services or its local network through a
// broad allowance (issue 12, item 6): under 0.0.0.0/0 (or ::/0) loopback, unspecified,
// link-local, multicast and broadcast destinations are refused, in every spelling (IPv4,
// IPv6, IPv4-mapped); an allowance that lies inside such a block (the operator named it)
// still reaches it. Sockets are capped per source address too, so one machine opening many
// connections cannot use up the bridge's sockets.

import { createSocket } from "node:dgram";
import { afterEach, describe, expect, it } from "vitest";
import { UdpBridge } from "../../server/relay/udp-bridge.ts";
import type { UdpBridgeClient, UdpBridgeHook } from "../../server/relay/udp-bridge-hook.ts";
import {
  encodeUdp,
  type RelayEndpoint,
  SEND_UDP,
  toRelayAddress,
} from "../../worker/relay/frames.ts";
import { parseIp } from "../../worker/wireguard/ip-address.ts";
import { until } from "./client-fake-relay.ts";
import { connectAuthed, nodeKeys, type RawClient, startTestRelay } from "./raw-client.ts";

const cleanup: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

function endpoint(ip: string, port: number): RelayEndpoint {
  return { address: toRelayAddress(parseIp(ip)), port };
}

function client(id: number, allowed: string[] = [], source?: string): UdpBridgeClient {
  return { id, key: new Uint8Array(32).fill(id), allowed, ...(source ? { source } : {}) };
}

function bridge(options: ConstructorParameters<typeof UdpBridge>[0] = {}): UdpBridge {
  const b = new UdpBridge(options);
  cleanup.push(() => b.close());
  return b;
}

/** A UDP socket on 127.0.0.1 that records what arrives. */
async function listener(): Promise<{ port: number; got: string[] }> {
  const socket = createSocket("udp4");
  const got: string[] = [];
  socket.on("message", (message) => got.push(message.toString()));
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
  cleanup.push(() => new Promise<void>((resolve) => socket.close(() => resolve())));
  return { port: socket.address().port, got };
}

/** Every special destination the bridge refuses under a broad allowance. */
const SPECIAL = [
  "127.0.0.1",
  "127.255.0.9",
  "0.0.0.0",
  "0.1.2.3",
  "169.254.0.1",
  "169.254.169.254", // cloud metadata services live here
  "224.0.0.1",
  "239.255.255.250",
  "255.255.255.255",
  "240.0.0.1",
  "::1",
  "::",
  "::127.0.0.1", // IPv4-compatible, deprecated
  "fe80::1",
  "febf:ffff::1",
  "ff02::1",
  "ff0e::1",
  "::ffff:127.0.0.1",
  "::ffff:0.0.0.0",
  "::ffff:169.254.1.1",
  "::ffff:224.0.0.1",
  "::ffff:255.255.255.255",
];

describe("UdpBridge: special destinations", () => {
  it("refuses loopback, unspecified, link-local, multicast and broadcast under 0.0.0.0/0 and ::/0", async () => {
    const target = await listener();
    const b = bridge({ allow: ["0.0.0.0/0", "::/0"] });
    const c = client(1, ["0.0.0.0/0:1-65535", "::/0"]); // the token is just as broad
    for (const ip of SPECIAL) {
      expect(b.permits(c, endpoint(ip, target.port)), ip).toBe(false);
      expect(
        b.send(c, endpoint(ip, target.port), Uint8Array.of(1), () => {}),
        ip,
      ).toBe(false);
    }
    expect(b.stats.refused.special).toBe(SPECIAL.length);
    expect(b.stats.socketsOpened).toBe(0);
    // Ordinary addresses stay reachable under the broad allowance.
    for (const ip of ["192.0.2.1", "8.8.8.8", "100.64.0.1", "10.0.0.1", "2001:db8::1", "fd00::1"]) {
      expect(b.permits(c, endpoint(ip, 51820)), ip).toBe(true);
    }
    // Nothing reached the listener on 127.0.0.1; what an exact allowance sends does.
    const exact = bridge({ allow: [`127.0.0.1/32:${target.port}`] });
    expect(
      exact.send(client(2), endpoint("127.0.0.1", target.port), Buffer.from("named"), () => {}),
    ).toBe(true);
    await until(() => target.got.length === 1, 5000, "the datagram sent with an exact allowance");
    expect(target.got).toEqual(["named"]);
  });

  it("reaches a special address only through an allowance inside its block", () => {
    const b = bridge({
      allow: ["127.0.0.1/32:51820", "169.254.0.0/16:9", "[fe80::/10]:7", "[::1]:5"],
    });
    const c = client(1, ["224.0.0.0/4:5353", "126.0.0.0/7:1"]); // wider than loopback
    expect(b.permits(c, endpoint("127.0.0.1", 51820))).toBe(true);
    expect(b.permits(c, endpoint("::ffff:127.0.0.1", 51820))).toBe(true);
    expect(b.permits(c, endpoint("127.0.0.2", 51820))).toBe(false);
    expect(b.permits(c, endpoint("169.254.3.4", 9))).toBe(true);
    expect(b.permits(c, endpoint("fe80::9", 7))).toBe(true);
    expect(b.permits(c, endpoint("::1", 5))).toBe(true);
    expect(b.permits(c, endpoint("::", 5))).toBe(false);
    expect(b.permits(c, endpoint("224.0.0.251", 5353))).toBe(true);
    expect(b.permits(c, endpoint("127.0.0.1", 1))).toBe(false);
    expect(b.permits(c, endpoint("126.0.0.1", 1))).toBe(true); // the ordinary half of the /7
  });

  it("caps sockets per source address across that address's clients", () => {
    const b = bridge({ allow: ["127.0.0.1/32"], maxSocketsPerClient: 2, maxSocketsPerSource: 3 });
    const send = (c: UdpBridgeClient, port: number) =>
      b.send(c, endpoint("127.0.0.1", port), Uint8Array.of(0), () => {});
    const [a1, a2, a3] = [1, 2, 3].map((id) => client(id, [], "198.51.100.7"));
    const other = client(4, [], "203.0.113.8");
    expect([send(a1!, 1), send(a1!, 2), send(a2!, 3)]).toEqual([true, true, true]);
    expect(send(a2!, 4)).toBe(false);
    expect(send(a3!, 5)).toBe(false);
    expect(b.stats.refused.sourceLimit).toBe(2);
    expect(send(other, 6)).toBe(true);
    // A client's sockets closing gives its address room again.
    b.closeClient(1);
    expect(send(a3!, 5)).toBe(true);
    expect(b.sockets()).toBe(3);
  });
});

describe("the relay and its bridge: special destinations", () => {
  it("drops SEND_UDP to 127.0.0.1 under --allow-udp 0.0.0.0/0 and says why in /metrics", async () => {
    const target = await listener();
    const udpBridge = new UdpBridge({ allow: ["0.0.0.0/0"] });
    const seen: UdpBridgeClient[] = [];
    const recording: UdpBridgeHook = {
      send: (c, e, p, d) => {
        seen.push(c);
        return udpBridge.send(c, e, p, d);
      },
      closeClient: (id) => udpBridge.closeClient(id),
      close: () => udpBridge.close(),
      sockets: () => udpBridge.sockets(),
      refusals: () => udpBridge.refusals(),
    };
    const { relay } = await startTestRelay({ udpBridge: recording });
    cleanup.push(() => relay.close());
    const c: RawClient = await connectAuthed(relay.url, await nodeKeys());
    cleanup.push(() => c.ws.terminate());
    for (const ip of ["127.0.0.1", "0.0.0.0", "::ffff:127.0.0.1"]) {
      c.send(encodeUdp(SEND_UDP, endpoint(ip, target.port), Buffer.from("x")));
    }
    await c.ping();
    expect(seen.map((s) => s.source)).toEqual(["127.0.0.1", "127.0.0.1", "127.0.0.1"]);
    const text = await (
      await fetch(relay.url.replace("ws:", "http:").replace("/relay", "/metrics"))
    ).text();
    expect(text).toContain('corridor_relay_udp_refused_total{reason="special"} 3');
    expect(text).toContain('corridor_relay_drops_total{reason="udp_refused"} 3');
    expect(target.got).toEqual([]);
  });
});
