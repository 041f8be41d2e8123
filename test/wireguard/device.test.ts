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

describe("peers at run time", () => {
  it("updates allowed IPs and endpoint, removes a peer and adds it back", async () => {
    pair = await makePair();
    const { a, b } = pair;
    a.device.send(ipv4("10.0.0.1", "10.0.0.2", text("one")));
    await settle();
    expect(b.received.length).toBe(1);

    // a routes a second prefix to b; b must allow it as a source from a before accepting it
    await a.device.addPeer({
      publicKey: b.device.publicKey,
      allowedIps: ["10.0.0.2/32", "10.8.0.0/16"],
    });
    await b.device.addPeer({
      publicKey: a.device.publicKey,
      allowedIps: ["10.0.0.1/32", "10.9.0.0/16"],
    });
    expect(a.device.peerStats()[0]!.allowedIps).toEqual(["10.0.0.2/32", "10.8.0.0/16"]);
    a.device.send(ipv4("10.9.0.5", "10.8.1.2", text("routed")));
    await settle();
    expect(b.received.length).toBe(2);

    expect(a.device.removePeer(b.device.publicKey)).toBe(true);
    expect(a.device.peerStats()).toEqual([]);
    expect(a.device.send(ipv4("10.0.0.1", "10.0.0.2", text("gone")))).toBe(false);
    // b's session with a is now useless: its packets find no receiver index on a
    b.device.send(ipv4("10.0.0.2", "10.0.0.1", text("to nobody")));
    await settle();
    expect(a.received.length).toBe(0);
    expect(a.device.counters.get("unknownReceiver")).toBeGreaterThan(0);

    // A new initiation needs a newer TAI64N than b last accepted from a (whitened to ~16 ms).
    pair.clock.advance(1000);
    await a.device.addPeer({
      publicKey: b.device.publicKey,
      endpoint: "b:2",
      allowedIps: ["10.0.0.2/32"],
    });
    a.device.send(ipv4("10.0.0.1", "10.0.0.2", text("back")));
    await settle();
    expect(new TextDecoder().decode(b.received.at(-1)!.subarray(20))).toBe("back");
  });

  it("roams: a peer's endpoint follows the source of its authenticated packets", async () => {
    pair = await makePair();
    const { a, b, network } = pair;
    a.device.send(ipv4("10.0.0.1", "10.0.0.2", text("hi")));
    await settle();
    expect(b.device.peerStats()[0]!.endpoint).toBe("a:1");
    // a moves to a new address: same device, a new Bind endpoint on the network
    const moved = network.bind("a2:9");
    const seen: string[] = [];
    await moved.open(() => seen.push("moved"));
    // replay a's next packet from the new address by routing it through the moved bind
    network.filter = (packet, from, to) => {
      if (from.key === "a:1" && to.key === "b:2") {
        moved.send(packet, to);
        return "drop";
      }
      return "deliver";
    };
    a.device.send(ipv4("10.0.0.1", "10.0.0.2", text("from afar")));
    await settle();
    network.filter = () => "deliver";
    expect(b.device.peerStats()[0]!.endpoint).toBe("a2:9");
    expect(new TextDecoder().decode(b.received.at(-1)!.subarray(20))).toBe("from afar");
  });
});
