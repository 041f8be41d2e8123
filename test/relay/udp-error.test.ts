// UDP_ERROR (issue 15): the frame's codec and a seeded fuzz of its decoder; the bridge telling
// a client why a datagram went nowhere (not allowed, special address, socket limit, and ICMP
// port unreachable from a closed port on loopback), one report per endpoint per interval; a
// real relay sending the frame and logging the refusal; and clients that ignore it.

import { createSocket } from "node:dgram";
import { afterEach, describe, expect, it } from "vitest";
import { nodeX25519 } from "../../server/crypto/x25519-node.ts";
import { UdpBridge } from "../../server/relay/udp-bridge.ts";
import type { UdpBridgeClient } from "../../server/relay/udp-bridge-hook.ts";
import { nodeRelayConnect } from "../../server/relay/ws-node.ts";
import { loadCryptoCore } from "../../worker/crypto/index.ts";
import { RelayBind } from "../../worker/relay/client.ts";
import * as F from "../../worker/relay/frames.ts";
import { FakeClock } from "../../worker/wireguard/clock.ts";
import { parseIp } from "../../worker/wireguard/ip-address.ts";
import { generatePrivateKey } from "../../worker/wireguard/keys.ts";
import { seededBytes, seededInts } from "../helpers/seeded.ts";
import { until } from "./client-fake-relay.ts";
import { connectAuthed, nodeKeys, type RawClient, startTestRelay } from "./raw-client.ts";

const cleanup: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

/** Seeded inputs the decoder fuzz feeds (all in the normal run). */
const FUZZ_INPUTS = 20_000;

function endpoint(ip: string, port: number): F.RelayEndpoint {
  return { address: F.toRelayAddress(parseIp(ip)), port };
}

function client(id: number, allowed: string[] = []): UdpBridgeClient {
  return { id, key: new Uint8Array(32).fill(id), allowed };
}

function bridge(options: ConstructorParameters<typeof UdpBridge>[0] = {}): UdpBridge {
  const b = new UdpBridge(options);
  cleanup.push(() => b.close());
  return b;
}

/** A UDP port on 127.0.0.1 that was just bound and closed: nothing listens there. */
async function closedPort(): Promise<number> {
  const socket = createSocket("udp4");
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
  const port = socket.address().port;
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}

describe("UDP_ERROR codec", () => {
  it("round-trips every reason, IPv4 and IPv6", () => {
    for (const [ip, port] of [
      ["192.0.2.7", 51820],
      ["fd00::1", 1],
      ["::ffff:10.0.0.1", 65535],
    ] as const) {
      for (const reason of [0, 1, 2, 3, 255]) {
        const bytes = F.encodeUdpError(endpoint(ip, port), reason);
        expect(bytes.length).toBe(20);
        expect(bytes[0]).toBe(0x14);
        const frame = F.decodeFrame(bytes);
        expect(frame.type).toBe("udp-error");
        if (frame.type !== "udp-error") return;
        expect([...frame.endpoint.address]).toEqual([...endpoint(ip, port).address]);
        expect(frame.endpoint.port).toBe(port);
        expect(frame.reason).toBe(reason);
      }
    }
  });

  it("refuses bad lengths when decoding and bad fields when encoding", () => {
    expect(F.decodeFrame(Uint8Array.of(F.UDP_ERROR))).toMatchObject({ type: "invalid" });
    expect(F.decodeFrame(new Uint8Array(21).fill(0x14))).toMatchObject({
      type: "invalid",
      error: "UDP_ERROR: payload must be 19 bytes, got 20",
    });
    expect(() => F.encodeUdpError({ address: new Uint8Array(4), port: 1 }, 0)).toThrow(/16/);
    expect(() => F.encodeUdpError(endpoint("192.0.2.1", 70000), 0)).toThrow(/port/);
    expect(() => F.encodeUdpError(endpoint("192.0.2.1", 1), 256)).toThrow(/reason/);
  });

  it(`decodes ${FUZZ_INPUTS} seeded hostile UDP_ERROR messages without throwing`, () => {
    const bytes = seededBytes(0x14e1);
    const ints = seededInts(0x14e2);
    let valid = 0;
    for (let i = 0; i < FUZZ_INPUTS; i++) {
      // Half near the right length (the interesting edge), half anything up to 64 bytes.
      const length = i % 2 === 0 ? 18 + ints(4) : ints(64);
      const message = new Uint8Array(1 + length);
      message[0] = F.UDP_ERROR;
      message.set(bytes(length), 1);
      const frame = F.decodeFrame(message);
      if (length === 19) {
        valid++;
        expect(frame.type).toBe("udp-error");
        if (frame.type === "udp-error") {
          expect(F.encodeUdpError(frame.endpoint, frame.reason)).toEqual(message);
        }
      } else {
        expect(frame.type).toBe("invalid");
      }
    }
    expect(valid).toBeGreaterThan(1000);
  });
});

describe("the bridge's error reports", () => {
  it("reports a refusal with its reason: not allowed, special address, socket limit", () => {
    const b = bridge({ allow: ["0.0.0.0/0:51820"], maxSocketsPerClient: 1 });
    const seen: [string, number, number][] = [];
    const report = (e: F.RelayEndpoint, reason: number) =>
      seen.push([Buffer.from(e.address).toString("hex"), e.port, reason]);
    const c = client(1);
    expect(b.send(c, endpoint("192.0.2.1", 9), Uint8Array.of(0), () => {}, report)).toBe(false);
    expect(b.send(c, endpoint("127.0.0.1", 51820), Uint8Array.of(0), () => {}, report)).toBe(false);
    expect(b.send(c, endpoint("192.0.2.1", 51820), Uint8Array.of(0), () => {}, report)).toBe(true);
    expect(b.send(c, endpoint("192.0.2.2", 51820), Uint8Array.of(0), () => {}, report)).toBe(false);
    const hex = (ip: string) => Buffer.from(F.toRelayAddress(parseIp(ip))).toString("hex");
    expect(seen).toEqual([
      [hex("192.0.2.1"), 9, F.UDP_REFUSED_NOT_ALLOWED],
      [hex("127.0.0.1"), 51820, F.UDP_REFUSED_SPECIAL],
      [hex("192.0.2.2"), 51820, F.UDP_REFUSED_SOCKET_LIMIT],
    ]);
    expect(b.stats.errorsReported).toBe(3);
  });

  it("reports ICMP port unreachable from a closed port on loopback", async () => {
    const port = await closedPort();
    const b = bridge({ allow: [`127.0.0.1:${port}`] });
    const reasons: number[] = [];
    const send = () =>
      b.send(
        client(1),
        endpoint("127.0.0.1", port),
        Uint8Array.of(1),
        () => {},
        (_e, reason) => reasons.push(reason),
      );
    expect(send()).toBe(true);
    // The first datagram's ICMP answer surfaces on the connected socket; a later send makes
    // sure the kernel's error has been read even if the first one raced the connect.
    await until(
      () => {
        if (reasons.length === 0) send();
        return reasons.length > 0;
      },
      5000,
      "the unreachable report",
    );
    expect(reasons[0]).toBe(F.UDP_UNREACHABLE);
    expect(b.stats.unreachable).toBeGreaterThan(0);
  });

  it("reports at most once per client and endpoint per interval", () => {
    const clock = new FakeClock();
    const b = bridge({ clock, errorIntervalMs: 5000 });
    const seen: string[] = [];
    const send = (id: number, ip: string) =>
      b.send(
        client(id),
        endpoint(ip, 51820),
        Uint8Array.of(0),
        () => {},
        () => seen.push(`${id} ${ip}`),
      );
    for (let i = 0; i < 100; i++) send(1, "192.0.2.1");
    send(1, "192.0.2.2");
    send(2, "192.0.2.1");
    expect(seen).toEqual(["1 192.0.2.1", "1 192.0.2.2", "2 192.0.2.1"]);
    clock.advance(4999);
    send(1, "192.0.2.1");
    expect(seen.length).toBe(3);
    clock.advance(1);
    send(1, "192.0.2.1");
    expect(seen.length).toBe(4);
    expect(b.stats.errorsSuppressed).toBe(100);
    expect(b.stats.refused.notAllowed).toBe(104);
  });
});

describe("a relay sends UDP_ERROR", () => {
  it("to a client whose endpoint it refuses, logs it, and the connection goes on", async () => {
    const { relay, logs } = await startTestRelay({ udpBridge: new UdpBridge() });
    const clients: RawClient[] = [];
    cleanup.push(async () => {
      for (const c of clients) c.ws.terminate();
      await relay.close();
    });
    const raw = await connectAuthed(relay.url, await nodeKeys());
    clients.push(raw);
    raw.send(F.encodeUdp(F.SEND_UDP, endpoint("192.0.2.9", 51820), Uint8Array.of(1)));
    const frame = await raw.next("udp-error");
    expect(frame.endpoint.port).toBe(51820);
    expect(frame.reason).toBe(F.UDP_REFUSED_NOT_ALLOWED);
    // A client that does not know the type (it reads it as just another frame) goes on: the
    // relay keeps answering it.
    expect(await raw.ping()).toBeGreaterThanOrEqual(0);
    await until(() => logs.some((l) => l.includes('"udp_refused"')), 5000, "the log line");
    const line = JSON.parse(logs.find((l) => l.includes('"udp_refused"'))!) as Record<
      string,
      unknown
    >;
    expect(line).toMatchObject({ endpoint: "192.0.2.9:51820", reason: "not_allowed" });
  });

  it("reaches RelayBind's onUdpError; a bind without the callback stays ready", async () => {
    const port = await closedPort();
    const { relay } = await startTestRelay({
      udpBridge: new UdpBridge({ allow: [`127.0.0.1:${port}`] }),
    });
    cleanup.push(() => relay.close());
    const core = await loadCryptoCore();
    const make = (onUdpError?: (e: { key: string }, reason: number) => void) => {
      const bind = new RelayBind({
        url: relay.url,
        privateKey: generatePrivateKey(),
        core,
        x25519: nodeX25519,
        connect: nodeRelayConnect(),
        ...(onUdpError === undefined ? {} : { onUdpError }),
      });
      cleanup.push(() => bind.close());
      return bind;
    };
    const got: string[] = [];
    const told = make((e, reason) => got.push(`${e.key} ${reason}`));
    const deaf = make();
    await told.open(() => {});
    await deaf.open(() => {});
    for (const bind of [told, deaf]) {
      await until(
        () => {
          bind.send(Uint8Array.of(1), bind.parseEndpoint(`127.0.0.1:${port}`));
          return bind.stats.udpErrors > 0;
        },
        5000,
        "UDP_ERROR",
      );
    }
    expect(got[0]).toBe(`127.0.0.1:${port} ${F.UDP_UNREACHABLE}`);
    expect(deaf.state).toBe("ready");
    expect(deaf.stats.invalidFrames).toBe(0);
  });
});
