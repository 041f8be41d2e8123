// The IP interface on two WireGuard devices over the in-memory network: pings both ways over
// IPv4 and IPv6, UDP sockets, ICMP port unreachable, and the packets it refuses.

import { afterEach, describe, expect, it } from "vitest";
import { NetInterface } from "../../worker/net/interface.ts";
import { buildIp, IPPROTO_UDP } from "../../worker/net/wire/ip.ts";
import { parseIp } from "../../worker/wireguard/ip-address.ts";
import { seededBytes } from "../helpers/seeded.ts";
import { makePair, type Pair, settle } from "../wireguard/device-pair.ts";

interface Net {
  pair: Pair;
  a: NetInterface;
  b: NetInterface;
}

let net: Net | undefined;
afterEach(async () => {
  await net?.pair.close();
  net = undefined;
});

/** Two devices, each with an IP interface on 10.0.0.x and fd00::x. */
async function makeNet(): Promise<Net> {
  const pair = await makePair();
  const random = seededBytes(0x1f);
  const iface = (side: "a" | "b", n: number) => {
    const device = pair[side].device;
    const ni = new NetInterface({
      addresses: [`10.0.0.${n}/32`, `fd00::${n}/128`],
      output: (packet) => device.send(packet),
      clock: pair.clock,
      randomBytes: random,
    });
    return ni;
  };
  const a = iface("a", 1);
  const b = iface("b", 2);
  // route the IPv6 addresses too, and hand each device's packets to its interface
  await pair.a.device.addPeer({
    publicKey: pair.b.device.publicKey,
    allowedIps: ["10.0.0.2/32", "fd00::2/128"],
  });
  await pair.b.device.addPeer({
    publicKey: pair.a.device.publicKey,
    allowedIps: ["10.0.0.1/32", "fd00::1/128"],
  });
  (pair.a.device as unknown as { onPacket: (p: Uint8Array) => void }).onPacket = (p) =>
    a.receive(p);
  (pair.b.device as unknown as { onPacket: (p: Uint8Array) => void }).onPacket = (p) =>
    b.receive(p);
  return { pair, a, b };
}

async function resolved<T>(promise: Promise<T>): Promise<T> {
  let done = false;
  let value: T | undefined;
  let error: unknown;
  promise.then(
    (v) => {
      done = true;
      value = v;
    },
    (e: unknown) => {
      done = true;
      error = e;
    },
  );
  for (let i = 0; i < 50 && !done; i++) await settle(5);
  if (error) throw error;
  if (!done) throw new Error("still pending");
  return value as T;
}

describe("the IP interface", () => {
  it("answers pings to its addresses, over IPv4 and IPv6, and measures the RTT", async () => {
    net = await makeNet();
    expect(await resolved(net.a.ping("10.0.0.2"))).toBeGreaterThanOrEqual(0);
    expect(await resolved(net.b.ping("10.0.0.1"))).toBeGreaterThanOrEqual(0);
    expect(await resolved(net.a.ping("fd00::2"))).toBeGreaterThanOrEqual(0);
    expect(await resolved(net.b.ping(parseIp("fd00::1"), { size: 1000 }))).toBeGreaterThanOrEqual(
      0,
    );
  });

  it("rejects a ping that gets no reply within its timeout", async () => {
    net = await makeNet();
    net.pair.network.filter = () => "drop";
    const ping = net.a.ping("10.0.0.2", { timeoutMs: 500 });
    const outcome = ping.then(
      () => "replied",
      (e: Error) => e.message,
    );
    net.pair.clock.advance(600);
    expect(await resolved(outcome)).toBe("ping 10.0.0.2: no reply within 500 ms");
  });

  it("sends and receives UDP datagrams on bound sockets", async () => {
    net = await makeNet();
    const server = net.b.udpBind(5353);
    const client = net.a.udpBind();
    client.send(new TextEncoder().encode("question"), "10.0.0.2", 5353);
    const reader = server.messages.getReader();
    const message = await resolved(reader.read());
    expect(new TextDecoder().decode(message.value!.data)).toBe("question");
    expect(message.value!.port).toBe(client.port);
    server.send(new TextEncoder().encode("answer"), message.value!.address, message.value!.port);
    const reply = await resolved(client.messages.getReader().read());
    expect(new TextDecoder().decode(reply.value!.data)).toBe("answer");
    expect(() => net!.b.udpBind(5353)).toThrow(/in use/);
  });

  it("answers UDP to a closed port with ICMP port unreachable and counts it", async () => {
    net = await makeNet();
    const client = net.a.udpBind();
    client.send(new Uint8Array([1, 2, 3]), "10.0.0.2", 9);
    await settle();
    expect(net.b.counters.get("udpNoListener")).toBe(1);
    expect(net.a.counters.get("badIcmp") ?? 0).toBe(0);
  });

  it("drops malformed packets and packets for other addresses, and counts them", async () => {
    net = await makeNet();
    net.b.receive(new Uint8Array([0x45, 0, 0]));
    const udpTo = (dst: string) =>
      buildIp(
        { source: parseIp("10.0.0.1"), destination: parseIp(dst), protocol: IPPROTO_UDP },
        new Uint8Array(8),
      );
    net.b.receive(udpTo("10.0.0.99"));
    expect(net.b.counters.get("malformed")).toBe(1);
    expect(net.b.counters.get("notForUs")).toBe(1);
  });
});
