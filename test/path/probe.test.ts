// The probe codec (worker/path/probe.ts): both nodes derive the same MAC key, pings and pongs
// round-trip, a probe from a third key or with a flipped bit fails verification, strict
// structure refusals, and a seeded fuzz (20,000 inputs) under which parsing never throws.

import { describe, expect, it } from "vitest";
import { nodeX25519 } from "../../server/crypto/x25519-node.ts";
import {
  encodeProbe,
  isProbe,
  PING_BYTES,
  PONG_BYTES,
  parseProbe,
  probeKey,
  verifyProbe,
} from "../../worker/path/probe.ts";
import { looksLikeStun } from "../../worker/path/stun.ts";
import { seededBytes, seededInts } from "../helpers/seeded.ts";

const random = seededBytes(0x9b0e);

async function pair() {
  const a = random(32);
  const b = random(32);
  const c = random(32);
  const [pa, pb, pc] = await Promise.all([a, b, c].map((k) => nodeX25519.publicKey(k)));
  return {
    a,
    pa: pa as Uint8Array,
    pb: pb as Uint8Array,
    keyAB: await probeKey(nodeX25519, a, pb as Uint8Array),
    keyBA: await probeKey(nodeX25519, b, pa as Uint8Array),
    keyCB: await probeKey(nodeX25519, c, pb as Uint8Array),
    pc: pc as Uint8Array,
  };
}

describe("path probes", () => {
  it("both ends derive one key; a third key does not", async () => {
    const { keyAB, keyBA, keyCB } = await pair();
    expect([...keyAB]).toEqual([...keyBA]);
    expect([...keyCB]).not.toEqual([...keyAB]);
  });

  it("round-trips pings and pongs and verifies them", async () => {
    const { pa, keyAB, keyBA, keyCB } = await pair();
    const transactionId = random(12);
    const ping = encodeProbe({ kind: "ping", sender: pa, transactionId, observed: null }, keyAB);
    expect(ping.length).toBe(PING_BYTES);
    const parsed = parseProbe(ping);
    expect(parsed.ok && parsed.probe.kind).toBe("ping");
    expect(parsed.ok && [...parsed.probe.sender]).toEqual([...pa]);
    expect(verifyProbe(ping, keyBA)).toBe(true);
    expect(verifyProbe(ping, keyCB)).toBe(false);
    for (const observed of [
      { address: "198.51.100.7", port: 51820 },
      { address: "2001:db8::9", port: 1 },
      null,
    ]) {
      const pong = encodeProbe({ kind: "pong", sender: pa, transactionId, observed }, keyAB);
      expect(pong.length).toBe(PONG_BYTES);
      const back = parseProbe(pong);
      expect(back.ok && back.probe.observed).toEqual(observed);
      expect(back.ok && [...back.probe.transactionId]).toEqual([...transactionId]);
      expect(verifyProbe(pong, keyBA)).toBe(true);
      for (let bit = 0; bit < pong.length * 8; bit += 37) {
        const flipped = pong.slice();
        flipped[bit >> 3] = (flipped[bit >> 3] as number) ^ (1 << (bit & 7));
        expect(verifyProbe(flipped, keyBA)).toBe(false);
      }
    }
    // Mapped IPv4 is IPv4.
    const mapped = encodeProbe(
      {
        kind: "pong",
        sender: pa,
        transactionId,
        observed: { address: "::ffff:10.0.0.1", port: 5 },
      },
      keyAB,
    );
    const m = parseProbe(mapped);
    expect(m.ok && m.probe.observed).toEqual({ address: "10.0.0.1", port: 5 });
  });

  it("is never taken for WireGuard or STUN", async () => {
    const { pa, keyAB } = await pair();
    const ping = encodeProbe(
      { kind: "ping", sender: pa, transactionId: random(12), observed: null },
      keyAB,
    );
    expect(isProbe(ping)).toBe(true);
    expect([1, 2, 3, 4]).not.toContain(ping[0]);
    expect(looksLikeStun(ping)).toBe(false);
    for (const type of [1, 2, 3, 4]) {
      expect(isProbe(new Uint8Array([type, 0, 0, 0, ...random(60)]))).toBe(false);
    }
  });

  it("refuses malformed probes with a reason", async () => {
    const { pa, keyAB } = await pair();
    const pong = encodeProbe(
      { kind: "pong", sender: pa, transactionId: random(12), observed: null },
      keyAB,
    );
    const edit = (i: number, v: number) => Uint8Array.from(pong, (b, j) => (j === i ? v : b));
    const cases: [string, Uint8Array][] = [
      ["magic", edit(0, 0)],
      ["kind", edit(4, 9)],
      ["87 bytes", pong.subarray(0, 86)],
      ["reserved", edit(6, 1)],
      ["family", edit(52, 5)],
      ["carries an address", edit(60, 1)],
    ];
    for (const [reason, bytes] of cases) {
      const result = parseProbe(bytes);
      expect(result.ok, reason).toBe(false);
      if (!result.ok) expect(result.error).toContain(reason);
    }
  });

  it("survives a seeded fuzz of 20,000 inputs without throwing", async () => {
    const { pa, keyAB } = await pair();
    const bytes = seededBytes(0x9b0f);
    const int = seededInts(0x9b10);
    const seeds = [
      encodeProbe({ kind: "ping", sender: pa, transactionId: random(12), observed: null }, keyAB),
      encodeProbe(
        {
          kind: "pong",
          sender: pa,
          transactionId: random(12),
          observed: { address: "2001:db8::1", port: 9 },
        },
        keyAB,
      ),
      encodeProbe(
        {
          kind: "pong",
          sender: pa,
          transactionId: random(12),
          observed: { address: "192.0.2.1", port: 9 },
        },
        keyAB,
      ),
    ];
    let parsedOk = 0;
    for (let i = 0; i < 20_000; i++) {
      let input: Uint8Array;
      if (i % 4 === 0) {
        input = bytes(int(100));
        input.set([0x43, 0x50, 0x52, 0x42].slice(0, input.length));
      } else {
        input = Uint8Array.from(seeds[int(seeds.length)] as Uint8Array);
        // Mutate only the first 71 bytes most of the time so structure, not just the MAC, varies.
        for (let f = 0; f < 1 + int(3); f++) input[4 + int(67)] = int(8) === 0 ? int(256) : 0;
        if (i % 7 === 0) input = input.subarray(0, int(input.length + 1));
      }
      const result = parseProbe(input);
      if (result.ok) {
        parsedOk++;
        expect(result.probe.sender.length).toBe(32);
        verifyProbe(input, keyAB);
      } else {
        expect(typeof result.error).toBe("string");
      }
    }
    expect(parsedOk).toBeGreaterThan(500);
  });
});
