import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import {
  MAX_UDP4_PAYLOAD,
  parseUdpEndpoint,
  resolveEndpoint,
  UdpBind,
} from "../../server/udp-bind.ts";
import type { Endpoint } from "../../worker/wireguard/bind.ts";
import { check, executable, linux, prereq } from "../helpers/prereq.ts";
import { waitUntil } from "../helpers/wait.ts";

/** IPv6 configured on this machine (a test host may lack it; under CI that must fail). */
const SS = "/usr/bin/ss";
/** iproute2's ss, to read a socket's buffer sizes back from the kernel. */
const ss = prereq(executable(SS), linux());
const ipv6 = prereq(
  check("IPv6 (addresses in /proc/net/if_inet6)", () =>
    readFileSync("/proc/net/if_inet6", "utf8").includes("00000000000000000000000000000001"),
  ),
);

interface Received {
  packet: Uint8Array;
  from: Endpoint;
}

/** An open bind on 127.0.0.1 that records what it receives. */
async function openBind(options: ConstructorParameters<typeof UdpBind>[0] = {}) {
  const bind = new UdpBind({ host: "127.0.0.1", ...options });
  const inbox: Received[] = [];
  let wake: (() => void) | undefined;
  await bind.open((packet, from) => {
    inbox.push({ packet, from });
    wake?.();
  });
  opened.push(bind);
  const self = bind.parseEndpoint(`127.0.0.1:${bind.localPort}`);
  /** Resolves when `count` datagrams are in, or after `ms` with whatever arrived. */
  const waitFor = (count: number, ms = 2000) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        wake = undefined;
        resolve();
      }
      wake = () => {
        if (inbox.length >= count) done();
      };
      wake();
    });
  return { bind, inbox, self, waitFor };
}

const opened: UdpBind[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((b) => b.close()));
});

function pattern(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = (i * 31 + seed) & 0xff;
  return out;
}

describe("UdpBind on loopback", () => {
  it("exchanges datagrams of 0, 1, 1420 and 65507 bytes both ways", async () => {
    const a = await openBind();
    const b = await openBind();
    expect(a.bind.localPort).toBeGreaterThan(0);
    const sizes = [0, 1, 1420, MAX_UDP4_PAYLOAD];
    for (const [i, size] of sizes.entries()) {
      expect(a.bind.send(pattern(size, i), b.self)).toBe(true);
      expect(b.bind.send(pattern(size, i + 100), a.self)).toBe(true);
    }
    await Promise.all([a.waitFor(sizes.length), b.waitFor(sizes.length)]);
    expect(b.inbox.map((r) => r.packet.length)).toEqual(sizes);
    expect(a.inbox.map((r) => r.packet.length)).toEqual(sizes);
    for (const [i, size] of sizes.entries()) {
      expect(b.inbox[i]?.packet).toEqual(pattern(size, i));
      expect(a.inbox[i]?.packet).toEqual(pattern(size, i + 100));
    }
    // Delivered as plain Uint8Array views (not Buffers), from the very same Endpoint object.
    const first = b.inbox[0]!;
    expect(Object.getPrototypeOf(first.packet)).toBe(Uint8Array.prototype);
    // The same object that b's parseEndpoint gives for a's address (one cache per bind).
    expect(first.from).toBe(b.bind.parseEndpoint(`127.0.0.1:${a.bind.localPort}`));
    expect(b.inbox.every((r) => r.from === first.from)).toBe(true);
    expect(first.from.key).toBe(`127.0.0.1:${a.bind.localPort}`);
    expect(b.bind.stats.received).toBe(sizes.length);
    expect(a.bind.stats.sent).toBe(sizes.length);
    expect(a.bind.stats.sendErrors).toBe(0);
  });

  it("lets the caller reuse the buffer as soon as send() returns", async () => {
    const a = await openBind();
    const b = await openBind();
    const buffer = new Uint8Array(64);
    for (let i = 0; i < 50; i++) {
      buffer.fill(i);
      a.bind.send(buffer, b.self);
    }
    buffer.fill(0xee);
    await b.waitFor(50);
    expect(b.inbox.length).toBe(50);
    for (const [i, r] of b.inbox.entries()) expect(r.packet).toEqual(new Uint8Array(64).fill(i));
  });

  it("refuses what UDP cannot carry and counts it", async () => {
    const a = await openBind();
    expect(a.bind.send(new Uint8Array(MAX_UDP4_PAYLOAD + 1), a.self)).toBe(false);
    // An IPv4 socket cannot reach an IPv6 endpoint.
    expect(a.bind.send(new Uint8Array(1), parseUdpEndpoint("[::1]:9"))).toBe(false);
    expect(a.bind.stats.sendErrors).toBe(2);
  });

  it.skipIf(ipv6.skip)(
    "works dual-stack on ::, mapping IPv4 peers to plain IPv4 endpoints",
    async () => {
      ipv6.assert();
      const got: Received[] = [];
      let arrived: () => void = () => {};
      const first = new Promise<void>((resolve) => (arrived = resolve));
      const dual = new UdpBind({ host: "::" });
      await dual.open((packet, from) => {
        got.push({ packet, from });
        arrived();
      });
      opened.push(dual);
      const a = await openBind();
      a.bind.send(new Uint8Array([1, 2, 3]), a.bind.parseEndpoint(`127.0.0.1:${dual.localPort}`));
      await first;
      expect(got[0]?.from.key).toBe(`127.0.0.1:${a.bind.localPort}`);
      // ...and the IPv6 socket answers an IPv4 endpoint (sent as ::ffff:127.0.0.1).
      expect(dual.send(new Uint8Array([4]), got[0]!.from)).toBe(true);
      await a.waitFor(1);
      expect(a.inbox[0]?.packet).toEqual(new Uint8Array([4]));
    },
  );

  it("stops delivery on close(), and send() after close returns false", async () => {
    const a = await openBind();
    const b = await openBind();
    a.bind.send(new Uint8Array([1]), b.self);
    await b.waitFor(1);
    await b.bind.close();
    await b.bind.close(); // twice is fine
    a.bind.send(new Uint8Array([2]), b.self);
    // A barrier instead of a sleep: a's datagram to itself leaves after the one to b, over the
    // same loopback, so once it is in, the one to b has been delivered or dropped.
    a.bind.send(new Uint8Array([9]), a.self);
    await a.waitFor(1);
    expect(a.inbox[0]?.packet).toEqual(new Uint8Array([9]));
    expect(b.inbox.length).toBe(1);
    expect(b.bind.send(new Uint8Array([3]), a.self)).toBe(false);
    expect(b.bind.stats.sendErrors).toBe(1);
    await expect(b.bind.open(() => {})).rejects.toThrow(/closed/);
  });

  it("survives a throwing receive function", async () => {
    const a = await openBind();
    const thrower = new UdpBind({ host: "127.0.0.1" });
    await thrower.open(() => {
      throw new Error("boom");
    });
    opened.push(thrower);
    a.bind.send(new Uint8Array([1]), a.bind.parseEndpoint(`127.0.0.1:${thrower.localPort}`));
    await waitUntil(() => thrower.stats.received === 1, "the datagram reaching the thrower");
    expect(thrower.stats.receiveErrors).toBe(1);
    // ...and the bind still delivers: the next datagram is received (and counted) too.
    a.bind.send(new Uint8Array([2]), a.bind.parseEndpoint(`127.0.0.1:${thrower.localPort}`));
    await waitUntil(() => thrower.stats.received === 2, "a second datagram after the throw");
    expect(thrower.stats.receiveErrors).toBe(2);
  });

  it("fails open() clearly when the port is taken", async () => {
    const a = await openBind();
    const b = new UdpBind({ host: "127.0.0.1", port: a.bind.localPort });
    await expect(b.open(() => {})).rejects.toThrow(/cannot bind 127\.0\.0\.1:\d+: .*EADDRINUSE/);
    expect(b.send(new Uint8Array(1), a.self)).toBe(false);
  });

  it("delivers 1,000 datagrams sent in flow-controlled windows, all intact and in order", async () => {
    // Why windows and not one burst: how much of an unpaced burst survives is the kernel's
    // socket-buffer policy, not this code's: with this machine's net.core.rmem_max (4 MiB)
    // ~all of 1,000 datagrams of 1,420 bytes arrive, at Linux's default (208 KiB) 184 did.
    // A window of 32 datagrams (~74 KiB of buffer with the kernel's overhead) fits in the
    // default receive buffer, so every datagram must arrive, whatever rmem_max is, and each
    // window waits for the previous one to be delivered.
    const a = await openBind();
    const b = await openBind();
    const total = 1000;
    const window = 32;
    const packet = new Uint8Array(1420);
    for (let first = 0; first < total; first += window) {
      const end = Math.min(first + window, total);
      for (let i = first; i < end; i++) {
        const view = new DataView(packet.buffer);
        view.setUint32(0, i);
        packet.fill(i & 0xff, 4);
        expect(a.bind.send(packet, b.self)).toBe(true);
      }
      await waitUntil(() => b.inbox.length >= end, `datagrams ${first}-${end - 1}`);
    }
    expect(b.inbox.length).toBe(total);
    for (const [i, r] of b.inbox.entries()) {
      expect(r.packet.length).toBe(1420);
      expect(new DataView(r.packet.buffer, r.packet.byteOffset).getUint32(0)).toBe(i);
      expect(
        r.packet.subarray(4).every((byte) => byte === (i & 0xff)),
        `datagram ${i}`,
      ).toBe(true);
    }
    expect(a.bind.stats).toMatchObject({ sent: total, sendErrors: 0 });
    expect(b.bind.stats).toMatchObject({ received: total, receiveErrors: 0 });
  });

  it.skipIf(ss.skip)("sets SO_RCVBUF and SO_SNDBUF as asked (read back with ss)", async () => {
    ss.assert();
    const b = await openBind({ recvBufferSize: 1 << 16, sendBufferSize: 3 << 14 });
    // ss prints the socket's memory: rb/tb are the buffer sizes, which Linux doubles from what
    // setsockopt asked (for its bookkeeping overhead). Both asks are below any rmem/wmem_max.
    const memory = execFileSync(SS, ["-uanmH", `sport = :${b.bind.localPort}`]).toString();
    expect(memory).toMatch(new RegExp(`\\brb${2 << 16}\\b.*\\btb${2 * (3 << 14)}\\b`));
    const a = await openBind();
    a.bind.send(new Uint8Array([7]), b.self);
    await b.waitFor(1);
    expect(b.inbox[0]?.packet).toEqual(new Uint8Array([7]));
    expect(b.bind.stats.socketErrors).toBe(0);
  });
});

describe("endpoints", () => {
  it("parses and formats IPv4 and bracketed IPv6 canonically", () => {
    expect(parseUdpEndpoint("1.2.3.4:51820")).toEqual({
      key: "1.2.3.4:51820",
      host: "1.2.3.4",
      port: 51820,
    });
    expect(parseUdpEndpoint("[fd00::1]:51820")).toEqual({
      key: "[fd00::1]:51820",
      host: "fd00::1",
      port: 51820,
    });
    expect(parseUdpEndpoint("[FD00:0:0:0:0:0:0:0001]:1").key).toBe("[fd00::1]:1");
    expect(parseUdpEndpoint("[2001:db8:0:0:1:0:0:1]:1").key).toBe("[2001:db8::1:0:0:1]:1");
    expect(parseUdpEndpoint("[::ffff:10.0.0.1]:7").key).toBe("10.0.0.1:7");
    expect(parseUdpEndpoint("[fe80::1%eth0]:7").key).toBe("[fe80::1%eth0]:7");
    expect(parseUdpEndpoint("0.0.0.0:65535").port).toBe(65535);
  });

  it("gives one bind's callers the same Endpoint object per address", async () => {
    const bind = new UdpBind();
    expect(bind.parseEndpoint("[fd00:0::1]:5")).toBe(bind.parseEndpoint("[fd00::1]:5"));
    expect(bind.parseEndpoint("1.2.3.4:5")).not.toBe(bind.parseEndpoint("1.2.3.4:6"));
    await bind.close();
  });

  it("bounds the Endpoint cache (the oldest entry goes first)", async () => {
    const bind = new UdpBind({ endpointCacheSize: 2 });
    const first = bind.parseEndpoint("10.0.0.1:1");
    expect(bind.parseEndpoint("10.0.0.1:1")).toBe(first);
    bind.parseEndpoint("10.0.0.2:1");
    bind.parseEndpoint("10.0.0.3:1");
    const again = bind.parseEndpoint("10.0.0.1:1");
    expect(again).not.toBe(first);
    expect(again).toEqual(first);
    await bind.close();
  });

  it.each([
    ["1.2.3.4", /missing ":port"/],
    ["1.2.3.4:", /port must be a number/],
    ["1.2.3.4:0", /out of range/],
    ["1.2.3.4:65536", /out of range/],
    ["1.2.3.4:99999", /out of range/],
    ["1.2.3.4:-1", /port must be a number/],
    ["1.2.3.4:80x", /port must be a number/],
    ["fd00::1:51820", /needs brackets/],
    ["[fd00::1]51820", /expected ':' after '\]'/],
    ["[fd00::1:51820", /without '\]'/],
    ["[1.2.3.4]:5", /brackets are for IPv6/],
    [":51820", /missing host/],
    ["256.1.1.1:5", /not an IP address/],
    ["01.2.3.4:5", /not an IP address/],
    ["[fd00::g]:5", /not an IP address/],
    ["vpn.example.com:51820", /host name; resolve it first/],
    ["localhost:51820", /host name; resolve it first/],
    ["", /missing ":port"/],
  ])("rejects %j", (text, message) => {
    expect(() => parseUdpEndpoint(text)).toThrow(TypeError);
    expect(() => parseUdpEndpoint(text)).toThrow(message);
  });

  it("resolves host names, passes IP literals through, and names what fails", async () => {
    await expect(resolveEndpoint("localhost:51820", { family: 4 })).resolves.toEqual({
      key: "127.0.0.1:51820",
      host: "127.0.0.1",
      port: 51820,
    });
    await expect(resolveEndpoint("[::1]:5")).resolves.toMatchObject({ key: "[::1]:5" });
    await expect(resolveEndpoint("localhost:0")).rejects.toThrow(TypeError);
    await expect(resolveEndpoint("no-such-host.invalid:1")).rejects.toThrow(/cannot resolve/);
  });
});
