// The cookie path under load (the WireGuard paper §5.4.7, wireguard-go's RoutineHandshake): a
// device under load answers handshake messages without a valid mac2 with a cookie reply, the
// sender takes the cookie and puts mac2 on its next message, and the per-source rate limiter
// caps what it lets through. Forged cookie replies are refused.

import { afterEach, describe, expect, it } from "vitest";
import type { Endpoint } from "../../worker/wireguard/bind.ts";
import { CookieChecker, CookieGenerator } from "../../worker/wireguard/cookie.ts";
import type { MemoryBind } from "../../worker/wireguard/memory-bind.ts";
import { seededBytes } from "../helpers/seeded.ts";
import {
  advance,
  inject,
  ipv4,
  makePair,
  type Pair,
  recordWire,
  settle,
  u32le,
  type WireRecord,
} from "./device-pair.ts";

const A = "a:1";
const B = "b:2";
const INITIATION = 1;
const RESPONSE = 2;
const COOKIE_REPLY = 3;

let pair: Pair | undefined;
let extraBind: MemoryBind | undefined;
afterEach(async () => {
  await extraBind?.close();
  extraBind = undefined;
  await pair?.close();
  pair = undefined;
});

const encoder = new TextEncoder();
const toB = (s: string) => ipv4("10.0.0.1", "10.0.0.2", encoder.encode(s));
const texts = (packets: Uint8Array[]) => packets.map((p) => new TextDecoder().decode(p.slice(20)));
const mac2 = (message: Uint8Array) => message.subarray(message.length - 16);
const isZero = (bytes: Uint8Array) => bytes.every((x) => x === 0);
const of = (log: WireRecord[], from: string, type: number) =>
  log.filter((r) => r.from === from && r.type === type);

/** Both devices always under load (threshold 0); a sends one packet; returns the wire log. */
async function handshakeUnderLoad(): Promise<{ p: Pair; log: WireRecord[] }> {
  pair = await makePair({ underLoadThreshold: 0 });
  const p = pair;
  const log = recordWire(p);
  p.a.device.send(toB("through the cookies"));
  await settle();
  await advance(p.clock, 12_000, 100);
  return { p, log };
}

describe("cookies under load", () => {
  it("answers with a cookie reply, and completes once the initiator sends mac2", async () => {
    const { p, log } = await handshakeUnderLoad();
    expect(texts(p.b.received)).toEqual(["through the cookies"]);
    // a's first initiation has no mac2: b answers it with a cookie reply, which a takes.
    const initiations = of(log, A, INITIATION);
    expect(initiations.map((r) => isZero(mac2(r.bytes)))).toEqual([true, false, false]);
    // b's first response has no mac2 either, and a (also under load) answers it in kind; the
    // third initiation's response carries mac2 and completes the handshake.
    const responses = of(log, B, RESPONSE);
    expect(responses.map((r) => isZero(mac2(r.bytes)))).toEqual([true, false]);
    expect(of(log, B, COOKIE_REPLY).length).toBe(1);
    expect(of(log, A, COOKIE_REPLY).length).toBe(1);
    for (const side of [p.a, p.b]) {
      expect(side.device.counters.get("cookieReplySent")).toBe(1);
      expect(side.device.counters.get("cookieReplyReceived")).toBe(1);
      expect(side.device.counters.get("badCookieReply")).toBeUndefined();
    }
    // The cookie reply names the initiation's sender index.
    const reply = of(log, B, COOKIE_REPLY)[0]!.bytes;
    expect(reply.length).toBe(64);
    expect(u32le(reply, 4)).toBe(u32le(initiations[0]!.bytes, 4));
  });

  it("rate-limits each source's handshake messages, even those with a valid mac2", async () => {
    const { p, log } = await handshakeUnderLoad();
    const withMac2 = of(log, A, INITIATION).at(-1)!.bytes;
    await advance(p.clock, 1_000); // a's bucket refills to its burst of 5
    for (let i = 0; i < 10; i++) inject(p, "b", withMac2.slice());
    await settle();
    const counters = p.b.device.counters;
    expect(counters.get("rateLimited")).toBe(5);
    expect(counters.get("staleTimestamp")).toBe(5); // the five let through are replays
    p.clock.advance(100); // 20 per second: two more
    for (let i = 0; i < 10; i++) inject(p, "b", withMac2.slice());
    await settle();
    expect(counters.get("rateLimited")).toBe(13);
    expect(counters.get("staleTimestamp")).toBe(7);

    // Another source gets its own cookie (mac2 binds the address) and its own bucket.
    const c: Endpoint = { key: "c:3", host: "c", port: 3 };
    const toC: Uint8Array[] = [];
    extraBind = p.network.bind("c:3");
    await extraBind.open((packet) => toC.push(packet));
    inject(p, "b", withMac2.slice(), c);
    await settle();
    expect(counters.get("cookieReplySent")).toBe(2);
    expect(toC.length).toBe(1);
    const fromC = new CookieGenerator(p.core, p.b.device.publicKey, p.clock);
    const message = withMac2.slice();
    fromC.addMacs(message); // same mac1 as before; remembers it for the reply
    expect(fromC.consumeReply(toC[0]!)).toBe(true);
    fromC.addMacs(message);
    for (let i = 0; i < 10; i++) inject(p, "b", message.slice(), c);
    await settle();
    expect(counters.get("rateLimited")).toBe(18);
    expect(counters.get("staleTimestamp")).toBe(12);
  });

  it("goes under load when handshakes pile up, for one second", async () => {
    pair = await makePair({ underLoadThreshold: 1 });
    const p = pair;
    const log = recordWire(p);
    p.a.device.send(toB("hello"));
    await settle();
    expect(texts(p.b.received)).toEqual(["hello"]);
    expect(of(log, B, COOKIE_REPLY).length).toBe(0); // one at a time is no load

    // Ten initiations at once: the first is being processed when the rest arrive.
    const initiation = of(log, A, INITIATION)[0]!.bytes;
    for (let i = 0; i < 10; i++) p.b.bind.deliver(initiation.slice(), p.a.bind.local);
    await settle();
    expect(p.b.device.counters.get("cookieReplySent")).toBe(9);
    expect(p.b.device.counters.get("staleTimestamp")).toBe(1);
    // a takes the first cookie reply; the rest are for a mac1 it already had a cookie for.
    expect(p.a.device.counters.get("cookieReplyReceived")).toBe(1);
    expect(p.a.device.counters.get("badCookieReply")).toBe(8);

    p.clock.advance(900); // still under load, with nothing in flight
    inject(p, "b", initiation.slice());
    await settle();
    expect(p.b.device.counters.get("cookieReplySent")).toBe(10);
    p.clock.advance(200); // load is forgotten after UNDER_LOAD_AFTER_TIME
    inject(p, "b", initiation.slice());
    await settle();
    expect(p.b.device.counters.get("cookieReplySent")).toBe(10);
    expect(p.b.device.counters.get("staleTimestamp")).toBe(2);

    p.a.device.send(toB("still fine"));
    await settle();
    expect(texts(p.b.received)).toEqual(["hello", "still fine"]);
  });
});

describe("forged cookie replies", () => {
  it("are refused unless sealed with the peer's key over our last mac1, and only once", async () => {
    pair = await makePair();
    const p = pair;
    let blocked = true;
    const log = recordWire(p, (r) => (blocked && r.from === A ? "drop" : "deliver"));
    p.a.device.send(toB("pending"));
    await settle();
    const initiation = of(log, A, INITIATION)[0]!.bytes;
    const index = u32le(initiation, 4);
    const random = seededBytes(0xc00c1e);
    const source = encoder.encode("a\0\x01");
    const reply = (key: Uint8Array, message: Uint8Array, receiver = index) =>
      new CookieChecker(p.core, key, p.clock, random).createReply(message, receiver, source);
    const bad = () => p.a.device.counters.get("badCookieReply") ?? 0;

    const garbage = random(64);
    garbage.set([3, 0, 0, 0]);
    inject(p, "a", garbage); // unknown receiver
    garbage.set([index & 0xff, (index >>> 8) & 0xff, (index >>> 16) & 0xff, index >>> 24], 4);
    inject(p, "a", garbage); // right receiver, random seal
    inject(p, "a", reply(p.a.device.publicKey, initiation)); // sealed under the wrong key
    const other = initiation.slice();
    other[120]! ^= 1; // another mac1
    inject(p, "a", reply(p.b.device.publicKey, other));
    inject(p, "a", reply(p.b.device.publicKey, initiation, index ^ 1)); // another index
    expect(bad()).toBe(5);
    expect(p.a.device.counters.get("cookieReplyReceived")).toBeUndefined();

    const genuine = reply(p.b.device.publicKey, initiation);
    inject(p, "a", genuine);
    expect(p.a.device.counters.get("cookieReplyReceived")).toBe(1);
    inject(p, "a", genuine.slice()); // replayed: the mac1 it answered is used up
    expect(bad()).toBe(6);

    // The next initiation carries mac2; b (not under load) ignores it and answers.
    blocked = false;
    await advance(p.clock, 6_000, 100);
    const initiations = of(log, A, INITIATION);
    expect(initiations.length).toBe(2);
    expect(isZero(mac2(initiations[1]!.bytes))).toBe(false);
    expect(texts(p.b.received)).toEqual(["pending"]);
  });
});
