import { afterEach, describe, expect, it } from "vitest";
import {
  MAX_UDP4_PAYLOAD,
  parseUdpEndpoint,
  resolveEndpoint,
  UdpBind,
} from "../../server/udp-bind.ts";
import type { Endpoint } from "../../worker/wireguard/bind.ts";

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

  it("works dual-stack on ::, mapping IPv4 peers to plain IPv4 endpoints", async (ctx) => {
    const got: Received[] = [];
    const dual = new UdpBind({ host: "::" });
    try {
      await dual.open((packet, from) => got.push({ packet, from }));
    } catch (error) {
      ctx.skip(`no IPv6 here: ${(error as Error).message}`);
    }
    opened.push(dual);
    const a = await openBind();
    a.bind.send(new Uint8Array([1, 2, 3]), a.bind.parseEndpoint(`127.0.0.1:${dual.localPort}`));
    await new Promise((r) => setTimeout(r, 200));
    expect(got[0]?.from.key).toBe(`127.0.0.1:${a.bind.localPort}`);
    // ...and the IPv6 socket answers an IPv4 endpoint (sent as ::ffff:127.0.0.1).
    expect(dual.send(new Uint8Array([4]), got[0]!.from)).toBe(true);
    await a.waitFor(1);
    expect(a.inbox[0]?.packet).toEqual(new Uint8Array([4]));
  });

  it("stops delivery on close(), and send() after close returns false", async () => {
    const a = await openBind();
    const b = await openBind();
    a.bind.send(new Uint8Array([1]), b.self);
    await b.waitFor(1);
    await b.bind.close();
    await b.bind.close(); // twice is fine
    a.bind.send(new Uint8Array([2]), b.self);
    await new Promise((r) => setTimeout(r, 100));
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
    await new Promise((r) => setTimeout(r, 100));
    expect(thrower.stats.receiveErrors).toBe(1);
  });

  it("fails open() clearly when the port is taken", async () => {
    const a = await openBind();
    const b = new UdpBind({ host: "127.0.0.1", port: a.bind.localPort });
    await expect(b.open(() => {})).rejects.toThrow(/cannot bind 127\.0\.0\.1:\d+: .*EADDRINUSE/);
    expect(b.send(new Uint8Array(1), a.self)).toBe(false);
  });

  it("delivers a 1,000-datagram burst (at least 95%)", async () => {
    const a = await openBind();
    const b = await openBind({ recvBufferSize: 4 << 20 });
    const total = 1000;
    const packet = new Uint8Array(1420);
    for (let i = 0; i < total; i++) {
      new DataView(packet.buffer).setUint32(0, i);
      expect(a.bind.send(packet, b.self)).toBe(true);
    }
    await b.waitFor(total, 3000);
    const got = b.inbox.length;
    if (got < total) console.log(`burst: ${got} of ${total} datagrams arrived`);
    expect(got).toBeGreaterThanOrEqual(total * 0.95);
    const seen = new Set(
      b.inbox.map((r) => new DataView(r.packet.buffer, r.packet.byteOffset).getUint32(0)),
    );
    expect(seen.size).toBe(got);
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
