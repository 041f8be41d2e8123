// Replay protection at the device level: transport messages captured on the wire and handed to
// b again (duplicates, out of order, older than the 8128-message window), and handshake
// initiations replayed (same TAI64N) or flooded (within 20 ms).

import { afterEach, describe, expect, it } from "vitest";
import { CookieGenerator } from "../../worker/wireguard/cookie.ts";
import { createInitiation } from "../../worker/wireguard/noise.ts";
import { tai64nEncode } from "../../worker/wireguard/tai64n.ts";
import {
  advance,
  inject,
  ipv4,
  makePair,
  type Pair,
  recordWire,
  settle,
  u32le,
} from "./device-pair.ts";

const A = "a:1";
const B = "b:2";
const INITIATION = 1;
const RESPONSE = 2;
const TRANSPORT = 4;
const WINDOW = 8128;

let pair: Pair | undefined;
afterEach(async () => {
  await pair?.close();
  pair = undefined;
});

const encoder = new TextEncoder();
const toB = (s: string) => ipv4("10.0.0.1", "10.0.0.2", encoder.encode(s));
const texts = (packets: Uint8Array[]) => packets.map((p) => new TextDecoder().decode(p.slice(20)));
const counter = (message: Uint8Array) => u32le(message, 8) + u32le(message, 12) * 2 ** 32;

async function established(): Promise<Pair> {
  pair = await makePair();
  pair.a.device.send(toB("first"));
  await settle();
  expect(texts(pair.b.received)).toEqual(["first"]);
  return pair;
}

describe("transport messages replayed to the device", () => {
  it("drops duplicates, whether the network repeats them or they come back later", async () => {
    const p = await established();
    let duplicate = false;
    const log = recordWire(p, (r) =>
      duplicate && r.from === A && r.type === TRANSPORT ? "duplicate" : "deliver",
    );
    for (let i = 0; i < 10; i++) p.a.device.send(toB(`m${i}`));
    await settle();
    expect(p.b.received.length).toBe(11);
    const captured = log.filter((r) => r.from === A && r.type === TRANSPORT).map((r) => r.bytes);
    expect(captured.length).toBe(10);

    await advance(p.clock, 30_000);
    for (const message of captured) inject(p, "b", message.slice());
    expect(p.b.device.counters.get("replayed")).toBe(10);
    expect(p.b.received.length).toBe(11);

    duplicate = true;
    for (let i = 0; i < 5; i++) p.a.device.send(toB(`d${i}`));
    await settle();
    expect(texts(p.b.received).slice(11)).toEqual(["d0", "d1", "d2", "d3", "d4"]);
    expect(p.b.device.counters.get("replayed")).toBe(15);
    expect(p.b.device.counters.get("authenticationFailed")).toBeUndefined();
  });

  it("accepts held-back messages within the window once, in any order; older ones never", async () => {
    const p = await established();
    const holdCounters = new Set([1, 2, 3, 100, 4000]);
    const held = new Map<number, Uint8Array>();
    recordWire(p, (r) => {
      if (r.from !== A || r.type !== TRANSPORT || !holdCounters.has(counter(r.bytes))) {
        return "deliver";
      }
      held.set(counter(r.bytes), r.bytes);
      return "drop";
    });
    const total = WINDOW + 2; // counters 1 .. 8130 after "first" (counter 0)
    for (let i = 1; i <= total; i++) p.a.device.send(toB(`#${i}`));
    await settle();
    expect(held.size).toBe(5);
    expect(p.b.received.length).toBe(1 + total - 5);

    // The highest counter seen is 8130: 2 is exactly WINDOW behind (still judged), 1 is past it.
    const before = p.b.received.length;
    for (const c of [4000, 100, 3, 2]) inject(p, "b", held.get(c)!.slice());
    expect(texts(p.b.received.slice(before))).toEqual(["#4000", "#100", "#3", "#2"]);
    inject(p, "b", held.get(1)!.slice());
    expect(p.b.received.length).toBe(before + 4);
    expect(p.b.device.counters.get("replayed")).toBe(1);

    for (const c of [2, 3, 100, 4000]) inject(p, "b", held.get(c)!.slice());
    expect(p.b.received.length).toBe(before + 4);
    expect(p.b.device.counters.get("replayed")).toBe(5);

    // Still in sync: a new message is accepted.
    p.a.device.send(toB("after"));
    await settle();
    expect(texts(p.b.received).at(-1)).toBe("after");
  });

  it("a message under the previous keypair still opens once after a rekey", async () => {
    const p = await established();
    let hold = false;
    const held: Uint8Array[] = [];
    const log = recordWire(p, (r) => {
      if (!hold || r.from !== A || r.type !== TRANSPORT) return "deliver";
      held.push(r.bytes);
      return "drop";
    });
    hold = true;
    p.a.device.send(toB("late under old keys"));
    await settle();
    hold = false;
    await advance(p.clock, 121_000, 5_000);
    p.a.device.send(toB("rekey"));
    await settle();
    expect(log.filter((r) => r.from === A && r.type === INITIATION).length).toBe(1);
    p.a.device.send(toB("new keys"));
    await settle();
    const newIndex = u32le(log.filter((r) => r.from === A).at(-1)!.bytes, 4);
    expect(newIndex).not.toBe(u32le(held[0]!, 4));
    inject(p, "b", held[0]!.slice());
    inject(p, "b", held[0]!.slice());
    expect(texts(p.b.received)).toEqual(["first", "rekey", "new keys", "late under old keys"]);
    expect(p.b.device.counters.get("replayed")).toBe(1);
  });
});

describe("handshake initiations replayed to the device", () => {
  it("refuses a replayed initiation (same TAI64N), from any address, without answering", async () => {
    pair = await makePair();
    const p = pair;
    const log = recordWire(p);
    p.a.device.send(toB("first"));
    await settle();
    const initiation = log.find((r) => r.from === A && r.type === INITIATION)!.bytes;
    await advance(p.clock, 10_000);

    inject(p, "b", initiation.slice());
    inject(p, "b", initiation.slice(), { key: "c:3", host: "c", port: 3 });
    await settle();
    expect(p.b.device.counters.get("staleTimestamp")).toBe(2);
    expect(log.filter((r) => r.from === B && r.type === RESPONSE).length).toBe(1);
    expect(p.b.device.peerStats()[0]!.endpoint).toBe(A); // not moved to the replayer

    p.a.device.send(toB("still here"));
    await settle();
    expect(texts(p.b.received)).toEqual(["first", "still here"]);
  });

  it("refuses a fresh initiation that comes within 20 ms of the last one", async () => {
    const p = await established();
    const log = recordWire(p);
    const shared = await p.a.device.noise.x25519.sharedSecret(
      p.a.device.staticKey.privateKey,
      p.b.device.publicKey,
    );
    // Initiations as only a could make them (its static key), with timestamps of our choosing.
    const seconds = Math.floor(p.clock.wallNow() / 1000) + 60;
    const forge = async (n: number): Promise<Uint8Array> => {
      const { message } = await createInitiation(p.a.device.noise, {
        localStatic: p.a.device.staticKey,
        remoteStatic: p.b.device.publicKey,
        staticShared: shared,
        presharedKey: new Uint8Array(32),
        ephemeral: await p.a.device.newEphemeral(),
        localIndex: 0x5eed_0000 + n,
        timestamp: tai64nEncode(seconds + n, 0),
      });
      new CookieGenerator(p.core, p.b.device.publicKey, p.clock).addMacs(message);
      return message;
    };
    const [first, second, third] = [await forge(1), await forge(2), await forge(3)];
    const responses = () => log.filter((r) => r.from === B && r.type === RESPONSE).length;

    await advance(p.clock, 1_000);
    inject(p, "b", first);
    await settle();
    expect(responses()).toBe(1);
    p.clock.advance(10);
    inject(p, "b", second);
    await settle();
    expect(p.b.device.counters.get("initiationFlood")).toBe(1);
    expect(responses()).toBe(1);
    p.clock.advance(15); // 25 ms after the first
    inject(p, "b", third);
    await settle();
    expect(responses()).toBe(2);
    expect(p.b.device.counters.get("initiationFlood")).toBe(1);
    // The refused one is not remembered: its timestamp is older than the third's anyway, and
    // the first's replay is stale.
    p.clock.advance(100);
    inject(p, "b", first.slice());
    await settle();
    expect(p.b.device.counters.get("staleTimestamp")).toBe(1);

    // b's confirmed session is untouched by unconfirmed ones.
    p.a.device.send(toB("still works"));
    await settle();
    expect(texts(p.b.received).at(-1)).toBe("still works");
  });
});
