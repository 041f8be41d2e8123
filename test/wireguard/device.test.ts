import { afterEach, describe, expect, it } from "vitest";
import { advance, ipv4, makePair, type Pair, settle } from "./device-pair.ts";

let pair: Pair | undefined;
afterEach(async () => {
  await pair?.close();
  pair = undefined;
});

const text = (s: string) => new TextEncoder().encode(s);

describe("two devices", () => {
  for (const psk of [false, true]) {
    it(`handshake and data both ways${psk ? " with a preshared key" : ""}`, async () => {
      pair = await makePair({ psk });
      const { a, b } = pair;
      expect(a.device.send(ipv4("10.0.0.1", "10.0.0.2", text("hello b")))).toBe(true);
      await settle();
      expect(b.received.map((p) => new TextDecoder().decode(p.subarray(20)))).toEqual(["hello b"]);
      expect(b.device.send(ipv4("10.0.0.2", "10.0.0.1", text("hello a")))).toBe(true);
      await settle();
      expect(a.received.map((p) => new TextDecoder().decode(p.subarray(20)))).toEqual(["hello a"]);
      const [statsA] = a.device.peerStats();
      expect(statsA!.lastHandshake).toBeGreaterThan(0);
      expect(statsA!.txBytes).toBeGreaterThan(0);
      expect(statsA!.rxBytes).toBeGreaterThan(0);
      expect(statsA!.endpoint).toBe("b:2");
    });
  }

  it("drops packets with no route, and inner packets from addresses the peer may not use", async () => {
    pair = await makePair();
    const { a, b } = pair;
    expect(a.device.send(ipv4("10.0.0.1", "10.9.9.9", text("x")))).toBe(false);
    expect(a.device.counters.get("noRoute")).toBe(1);
    a.device.send(ipv4("10.0.0.1", "10.0.0.2", text("ok")));
    await settle();
    // b routes 10.0.0.1 to a, but a claims a source it is not allowed
    a.device.send(ipv4("10.0.0.7", "10.0.0.2", text("spoofed")));
    await settle();
    expect(b.received.length).toBe(1);
    expect(b.device.counters.get("sourceNotAllowed")).toBe(1);
  });

  it("keeps data flowing across rekeys for ten minutes of fake time", async () => {
    pair = await makePair();
    const { a, b, clock } = pair;
    let sent = 0;
    for (let second = 0; second < 600; second += 5) {
      a.device.send(ipv4("10.0.0.1", "10.0.0.2", text(`a${second}`)));
      b.device.send(ipv4("10.0.0.2", "10.0.0.1", text(`b${second}`)));
      sent++;
      await settle(10);
      await advance(clock, 5000, 5000);
    }
    await settle();
    expect(b.received.length).toBe(sent);
    expect(a.received.length).toBe(sent);
  });
});
