// The relay's UDP bridge: allowance parsing and matching, a round trip to a real UDP echo
// socket on 127.0.0.1, refusals (no open proxy), foreign sources, idle close, and caps.

import { createSocket, type Socket } from "node:dgram";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { allows, parseUdpAllowance, UdpBridge } from "../../server/relay/udp-bridge.ts";
import type { UdpBridgeClient } from "../../server/relay/udp-bridge-hook.ts";
import { type RelayEndpoint, toRelayAddress } from "../../worker/relay/frames.ts";
import { FakeClock } from "../../worker/wireguard/clock.ts";
import { parseIp } from "../../worker/wireguard/ip-address.ts";
import { until } from "./client-fake-relay.ts";

const cleanup: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

function endpoint(ip: string, port: number): RelayEndpoint {
  return { address: toRelayAddress(parseIp(ip)), port };
}

function client(id: number, allowed: string[] = []): UdpBridgeClient {
  return { id, key: new Uint8Array(32).fill(id), allowed };
}

/** A UDP echo server on 127.0.0.1; remembers who sent. */
async function echo(): Promise<{ port: number; socket: Socket; peers: AddressInfo[] }> {
  const socket = createSocket("udp4");
  const peers: AddressInfo[] = [];
  socket.on("message", (message, from) => {
    peers.push({ address: from.address, port: from.port, family: "IPv4" });
    socket.send(message, from.port, from.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
  cleanup.push(() => new Promise<void>((resolve) => socket.close(() => resolve())));
  return { port: socket.address().port, socket, peers };
}

function bridge(options: ConstructorParameters<typeof UdpBridge>[0] = {}): UdpBridge {
  const b = new UdpBridge(options);
  cleanup.push(() => b.close());
  return b;
}

describe("parseUdpAllowance", () => {
  it("reads cidr, ip:port, cidr:port, cidr:lo-hi and bracketed IPv6", () => {
    expect(parseUdpAllowance("10.0.0.0/8")).toMatchObject({ bits: 8, portLo: 1, portHi: 65535 });
    expect(parseUdpAllowance("192.0.2.7:51820")).toMatchObject({
      bits: 32,
      portLo: 51820,
      portHi: 51820,
    });
    expect(parseUdpAllowance("10.1.2.3/16:51820-51830")).toMatchObject({
      bits: 16,
      portLo: 51820,
      portHi: 51830,
    });
    expect([...parseUdpAllowance("10.1.2.3/16").addr]).toEqual([10, 1, 0, 0]);
    expect(parseUdpAllowance("fd00::/64")).toMatchObject({ bits: 64, portHi: 65535 });
    expect(parseUdpAllowance("[fd00::1]:443")).toMatchObject({ bits: 128, portLo: 443 });
    expect(parseUdpAllowance("[fd00::/48]:1-2")).toMatchObject({ bits: 48, portHi: 2 });
    const mapped = parseUdpAllowance("[::ffff:10.0.0.0/104]:1");
    expect(mapped.addr.length).toBe(4);
    expect(mapped.bits).toBe(8);
  });

  it.each([
    ["10.0.0.0/33", /prefix length/],
    ["10.0.0.1:0", /port '0'/],
    ["10.0.0.1:70000", /port '70000'/],
    ["10.0.0.1:9-3", /backwards/],
    ["10.0.0.1:", /port ''/],
    ["host.example:1", /host.example/],
    ["[fd00::1", /without/],
    ["[fd00::1]x", /expected ':'/],
    ["", /empty/],
  ])("refuses %j", (text, message) => {
    expect(() => parseUdpAllowance(text)).toThrow(TypeError);
    expect(() => parseUdpAllowance(text)).toThrow(message);
  });

  it("matches addresses and ports", () => {
    const a = parseUdpAllowance("10.1.0.0/16:100-200");
    expect(allows(a, parseIp("10.1.255.1"), 100)).toBe(true);
    expect(allows(a, parseIp("10.1.255.1"), 200)).toBe(true);
    expect(allows(a, parseIp("10.1.255.1"), 201)).toBe(false);
    expect(allows(a, parseIp("10.2.0.1"), 150)).toBe(false);
    expect(allows(a, parseIp("::ffff:10.1.0.1"), 150)).toBe(false); // callers unmap first
    const any = parseUdpAllowance("0.0.0.0/0");
    expect(allows(any, parseIp("203.0.113.9"), 9)).toBe(true);
    expect(allows(any, parseIp("fd00::1"), 9)).toBe(false);
  });

  it("refuses a bad relay allow-list at construction", () => {
    expect(() => new UdpBridge({ allow: ["10.0.0.0/8", "nonsense"] })).toThrow(TypeError);
  });
});

describe("UdpBridge", () => {
  it("round-trips through a real UDP socket for an endpoint in the relay's list", async () => {
    const server = await echo();
    const b = bridge({ allow: [`127.0.0.1:${server.port}`] });
    const got: [RelayEndpoint, string][] = [];
    const to = endpoint("127.0.0.1", server.port);
    const deliver = (from: RelayEndpoint, packet: Uint8Array) =>
      got.push([from, new TextDecoder().decode(packet)]);
    expect(b.send(client(1), to, new TextEncoder().encode("ping"), deliver)).toBe(true);
    expect(b.send(client(1), to, new TextEncoder().encode("pong"), deliver)).toBe(true);
    await until(() => got.length === 2, 5000, "echoes");
    expect(got.map((g) => g[1])).toEqual(["ping", "pong"]);
    expect([...got[0]![0].address]).toEqual([...to.address]);
    expect(got[0]![0].port).toBe(server.port);
    expect(b.stats).toMatchObject({ sockets: 1, socketsOpened: 1, sent: 2, received: 2 });
    // One socket per (client, endpoint): both datagrams came from the same source port.
    expect(new Set(server.peers.map((p) => p.port)).size).toBe(1);
  });

  it("allows what the client's token names, per client", async () => {
    const server = await echo();
    const b = bridge();
    const got: Uint8Array[] = [];
    const token = [`127.0.0.0/8:${server.port}-${server.port}`];
    const to = endpoint("127.0.0.1", server.port);
    expect(b.send(client(1, token), to, Uint8Array.of(1), (_e, p) => got.push(p))).toBe(true);
    expect(b.send(client(2), to, Uint8Array.of(2), () => {})).toBe(false);
    await until(() => got.length === 1, 5000, "echo");
    expect(b.stats.refused.notAllowed).toBe(1);
  });

  it("refuses everything outside the allowances and opens no socket for it", () => {
    const b = bridge({ allow: ["127.0.0.1:9999", "10.0.0.0/8"] });
    const c = client(1, ["192.0.2.0/24:51820", "bogus"]);
    const refusedTo = [
      endpoint("127.0.0.1", 9998),
      endpoint("127.0.0.2", 9999),
      endpoint("192.0.2.1", 51821),
      endpoint("198.51.100.1", 51820),
      endpoint("::1", 9999),
      endpoint("::ffff:11.0.0.1", 1),
    ];
    for (const to of refusedTo) expect(b.send(c, to, Uint8Array.of(0), () => {})).toBe(false);
    expect(b.stats.refused.notAllowed).toBe(refusedTo.length);
    expect(b.stats.badAllowances).toBe(1);
    expect(b.send(c, { address: new Uint8Array(16), port: 0 }, Uint8Array.of(0), () => {})).toBe(
      false,
    );
    expect(b.stats.refused.invalid).toBe(1);
    expect(b.stats.sockets).toBe(0);
    expect(b.stats.socketsOpened).toBe(0);
  });

  it("never delivers datagrams from any source but the socket's endpoint", async () => {
    const server = await echo();
    const b = bridge({ allow: [`127.0.0.1:${server.port}`] });
    const got: Uint8Array[] = [];
    b.send(client(1), endpoint("127.0.0.1", server.port), Uint8Array.of(1), (_e, p) => got.push(p));
    await until(() => got.length === 1, 5000, "echo");
    const intruder = createSocket("udp4");
    cleanup.push(() => {
      intruder.close();
    });
    const target = server.peers[0]!;
    // The bridge's socket is connect()ed: the kernel drops the intruder's datagram, so the
    // next echo after it arrives alone (foreignDropped stays the user-space backstop).
    await new Promise<void>((resolve) =>
      intruder.send(Uint8Array.of(6, 6, 6), target.port, target.address, () => resolve()),
    );
    b.send(client(1), endpoint("127.0.0.1", server.port), Uint8Array.of(2), (_e, p) => got.push(p));
    await until(() => got.length >= 2, 5000, "the second echo");
    expect(got.map((p) => [...p])).toEqual([[1], [2]]);
  });

  it("closes idle sockets and a client's sockets on closeClient", async () => {
    const clock = new FakeClock();
    const b = bridge({ allow: ["127.0.0.1"], idleMs: 60_000, clock });
    b.send(client(1), endpoint("127.0.0.1", 9), Uint8Array.of(0), () => {});
    clock.advance(30_000);
    b.send(client(1), endpoint("127.0.0.1", 10), Uint8Array.of(0), () => {});
    expect(b.sockets()).toBe(2);
    clock.advance(45_000); // port 9 idle 75 s, port 10 idle 45 s
    expect(b.sockets()).toBe(1);
    expect(b.stats.socketsClosedIdle).toBe(1);
    clock.advance(30_000);
    expect(b.sockets()).toBe(0);
    expect(clock.pendingTimers).toBe(0);
    b.send(client(2), endpoint("127.0.0.1", 9), Uint8Array.of(0), () => {});
    b.send(client(2), endpoint("127.0.0.1", 10), Uint8Array.of(0), () => {});
    b.send(client(3), endpoint("127.0.0.1", 10), Uint8Array.of(0), () => {});
    expect(b.sockets()).toBe(3);
    b.closeClient(2);
    expect(b.sockets()).toBe(1);
    b.close();
    expect(b.sockets()).toBe(0);
    expect(b.send(client(3), endpoint("127.0.0.1", 10), Uint8Array.of(0), () => {})).toBe(false);
    expect(b.stats.refused.closed).toBe(1);
  });

  it("bounds sockets per client and in total", () => {
    const b = bridge({ allow: ["127.0.0.1"], maxSocketsPerClient: 2, maxSockets: 3 });
    const send = (id: number, port: number) =>
      b.send(client(id), endpoint("127.0.0.1", port), Uint8Array.of(0), () => {});
    expect(send(1, 1)).toBe(true);
    expect(send(1, 2)).toBe(true);
    expect(send(1, 3)).toBe(false);
    expect(send(1, 1)).toBe(true); // an existing socket is reused
    expect(b.stats.refused.clientLimit).toBe(1);
    expect(send(2, 1)).toBe(true);
    expect(send(2, 2)).toBe(false);
    expect(b.stats.refused.totalLimit).toBe(1);
    expect(b.sockets()).toBe(3);
  });
});
