// End to end: two WireGuard Devices, each on a RelayBind, peers addressed as "peer:<key>",
// talking through the fake relay over real WebSockets: the handshake and data both ways.

import { afterEach, describe, expect, it } from "vitest";
import { nodeRelayConnect } from "../../server/relay/ws-node.ts";
import { loadCryptoCore, nobleX25519 } from "../../worker/crypto/index.ts";
import { RelayBind } from "../../worker/relay/client.ts";
import { systemClock } from "../../worker/wireguard/clock.ts";
import { Device } from "../../worker/wireguard/device.ts";
import { keyToBase64 } from "../../worker/wireguard/keys.ts";
import { seededBytes } from "../helpers/seeded.ts";
import { ipv4 } from "../wireguard/device-pair.ts";
import { FakeRelay, until } from "./client-fake-relay.ts";

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

describe("two Devices over RelayBinds", () => {
  it("handshake and data both ways through the relay", async () => {
    const relay = await FakeRelay.start();
    cleanup.push(() => relay.stop());
    const core = await loadCryptoCore();
    const random = seededBytes(0xe2e);
    const make = async (address: string) => {
      const privateKey = random(32);
      privateKey[0]! &= 248;
      privateKey[31] = (privateKey[31]! & 127) | 64;
      const bind = new RelayBind({
        url: relay.url,
        privateKey,
        core,
        x25519: nobleX25519,
        connect: nodeRelayConnect(),
        random,
      });
      const received: string[] = [];
      const device = await Device.create({
        privateKey,
        bind,
        core,
        x25519: nobleX25519,
        clock: systemClock,
        random,
        onPacket: (packet) => received.push(new TextDecoder().decode(packet.subarray(20))),
      });
      cleanup.push(() => device.close());
      return { device, bind, received, address };
    };
    const a = await make("10.0.0.1");
    const b = await make("10.0.0.2");
    await a.device.addPeer({
      publicKey: b.device.publicKey,
      endpoint: `peer:${keyToBase64(b.device.publicKey)}`,
      allowedIps: ["10.0.0.2/32"],
    });
    await b.device.addPeer({
      publicKey: a.device.publicKey,
      endpoint: `peer:${keyToBase64(a.device.publicKey)}`,
      allowedIps: ["10.0.0.1/32"],
    });
    const text = (s: string) => new TextEncoder().encode(s);
    expect(a.device.send(ipv4("10.0.0.1", "10.0.0.2", text("hello b")))).toBe(true);
    await until(() => b.received.length === 1, 10_000, "b's packet");
    expect(b.device.send(ipv4("10.0.0.2", "10.0.0.1", text("hello a")))).toBe(true);
    await until(() => a.received.length === 1, 10_000, "a's packet");
    expect(b.received).toEqual(["hello b"]);
    expect(a.received).toEqual(["hello a"]);
    for (let i = 0; i < 50; i++) a.device.send(ipv4("10.0.0.1", "10.0.0.2", text(`n${i}`)));
    await until(() => b.received.length === 51, 10_000, "the burst");
    expect(b.received.slice(1)).toEqual(Array.from({ length: 50 }, (_, i) => `n${i}`));
    expect(a.bind.stats.sent).toBeGreaterThanOrEqual(52); // initiation, data, burst
    expect(b.bind.stats.received).toBeGreaterThanOrEqual(52);
  });
});
