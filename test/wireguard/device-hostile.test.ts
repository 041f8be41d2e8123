// Hostile datagrams to a live device (DESIGN.md §8): every WireGuard message type truncated,
// extended, with a bad mac1, an unknown receiver index, a stale timestamp, reserved bytes set;
// random garbage of every length; and a seeded fuzz of mutated real messages. Each input must
// be dropped and counted exactly once, nothing may throw past the device, and the session
// must still carry data both ways afterwards.

import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { CookieChecker, CookieGenerator } from "../../worker/wireguard/cookie.ts";
import type { DeviceEvent } from "../../worker/wireguard/device-core.ts";
import { seededBytes, seededInts } from "../helpers/seeded.ts";
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
const SIZES: Record<number, number> = { 1: 148, 2: 92, 3: 64 };

let pair: Pair | undefined;
const escaped: unknown[] = [];
const onEscape = (error: unknown) => escaped.push(error);
beforeEach(() => {
  escaped.length = 0;
  process.on("uncaughtException", onEscape);
  process.on("unhandledRejection", onEscape);
});
afterEach(async () => {
  process.off("uncaughtException", onEscape);
  process.off("unhandledRejection", onEscape);
  await pair?.close();
  pair = undefined;
  expect(escaped).toEqual([]);
});

const encoder = new TextEncoder();
const toB = (s: string) => ipv4("10.0.0.1", "10.0.0.2", encoder.encode(s));
const toA = (s: string) => ipv4("10.0.0.2", "10.0.0.1", encoder.encode(s));
const texts = (packets: Uint8Array[]) => packets.map((p) => new TextDecoder().decode(p.slice(20)));
const writeU32 = (m: Uint8Array, at: number, v: number) =>
  new DataView(m.buffer, m.byteOffset).setUint32(at, v >>> 0, true);

interface Samples {
  initiation: Uint8Array;
  response: Uint8Array;
  cookieReply: Uint8Array;
  /** Transport messages of the live session, all delivered already. */
  transports: Uint8Array[];
  /** A transport message of the first session, whose keypair is now older than 180 s. */
  expired: Uint8Array;
  /** Indices b or a has used (b's sessions, a's sessions): targets for index swaps. */
  indices: number[];
}

/**
 * A live pair whose wire gave us one real message of each type addressed to b, each already
 * consumed by b (so a copy is a replay): a's response (b initiated first), a's initiation (a
 * initiated when the keys expired), a cookie reply sealed as a would, a's transport messages.
 */
async function prepare(): Promise<{ p: Pair; log: WireRecord[]; samples: Samples }> {
  pair = await makePair({ seed: 0x4057 });
  const p = pair;
  const log = recordWire(p);
  p.b.device.send(toA("b first"));
  await settle();
  p.a.device.send(toB("a first"));
  await settle();
  await advance(p.clock, 181_000, 10_000);
  p.a.device.send(toB("a again"));
  await settle();
  for (let i = 0; i < 8; i++) p.a.device.send(toB(`a ${i}`));
  p.b.device.send(toA("b again"));
  await settle();
  const last = (from: string, type: number) =>
    log.filter((r) => r.from === from && r.type === type).at(-1)!.bytes;
  // The cookie reply a would send if under load, to b's last handshake message (its response).
  const responseOfB = last(B, 2);
  const source = encoder.encode("a\0\x01");
  const cookieReply = new CookieChecker(p.core, p.a.device.publicKey, p.clock).createReply(
    responseOfB,
    u32le(responseOfB, 4),
    source,
  );
  inject(p, "b", cookieReply.slice());
  expect(p.b.device.counters.get("cookieReplyReceived")).toBe(1);
  const rekeyedAt = log.filter((r) => r.from === A && r.type === 1).at(-1)!.at;
  const fromA = log.filter((r) => r.from === A && r.type === 4);
  const transports = fromA.filter((r) => r.at >= rekeyedAt).map((r) => r.bytes);
  const expired = fromA.find((r) => r.at < rekeyedAt)!.bytes;
  // Sender and receiver fields of everything seen (for an initiation, 8.. is its ephemeral).
  const indices = log
    .filter((r) => r.type !== 4 || r.from === A)
    .flatMap((r) => [u32le(r.bytes, 4), u32le(r.bytes, 8)]);
  const eight = Array.from({ length: 8 }, (_, i) => `a ${i}`);
  expect(texts(p.b.received)).toEqual(["a first", "a again", ...eight]);
  p.b.device.counters.clear();
  p.a.device.counters.clear();
  const samples = {
    initiation: last(A, 1),
    response: last(A, 2),
    cookieReply,
    transports,
    expired,
    indices: [...new Set(indices)],
  };
  return { p, log, samples };
}

/** Recomputes mac1 for b, as anyone knowing b's public key can. */
function remac(p: Pair, message: Uint8Array): Uint8Array {
  new CookieGenerator(p.core, p.b.device.publicKey, p.clock).addMacs(message);
  return message;
}

function total(counters: Map<DeviceEvent, number>): number {
  let sum = 0;
  for (const n of counters.values()) sum += n;
  return sum;
}

/** Injects every input into b; each must be dropped under the counter named with it. */
async function expectDropped(p: Pair, inputs: [Uint8Array, DeviceEvent][]): Promise<void> {
  const before = new Map(p.b.device.counters);
  const received = p.b.received.length;
  for (const [input] of inputs) inject(p, "b", input);
  await settle();
  const expected = new Map<DeviceEvent, number>();
  for (const [, event] of inputs) expected.set(event, (expected.get(event) ?? 0) + 1);
  const delta = new Map<DeviceEvent, number>();
  for (const [event, n] of p.b.device.counters) {
    const d = n - (before.get(event) ?? 0);
    if (d !== 0) delta.set(event, d);
  }
  expect(Object.fromEntries(delta)).toEqual(Object.fromEntries(expected));
  expect(p.b.received.length).toBe(received);
}

/** Data still flows both ways, and nothing was an exception in disguise. */
async function expectSessionWorks(p: Pair): Promise<void> {
  const [ra, rb] = [p.a.received.length, p.b.received.length];
  p.a.device.send(toB("a after"));
  p.b.device.send(toA("b after"));
  await settle();
  await advance(p.clock, 6_000, 500); // a handshake the inputs made necessary may take a retry
  expect(texts(p.b.received.slice(rb))).toEqual(["a after"]);
  expect(texts(p.a.received.slice(ra))).toEqual(["b after"]);
  expect(p.a.device.counters.get("handshakeError")).toBeUndefined();
  expect(p.b.device.counters.get("handshakeError")).toBeUndefined();
}

/** The counter a datagram of random content lands in (mirrors messageType's rules). */
function expectedForGarbage(m: Uint8Array): DeviceEvent {
  const type = m[0] ?? 0;
  if (m.length < 4 || m[1] !== 0 || m[2] !== 0 || m[3] !== 0) return "invalidMessage";
  if (type === 4) return m.length >= 32 ? "unknownReceiver" : "invalidMessage";
  if (SIZES[type] !== m.length) return "invalidMessage";
  return type === 3 ? "badCookieReply" : "badMac1";
}

describe("hostile datagrams to a device", () => {
  it("drops each message type truncated to every shorter length", async () => {
    const { p, samples } = await prepare();
    const inputs: [Uint8Array, DeviceEvent][] = [];
    const { initiation, response, cookieReply } = samples;
    for (const sample of [initiation, response, cookieReply, samples.transports[1]!]) {
      for (let n = 0; n < sample.length; n++) {
        const event = sample[0] === 4 && n >= 32 ? "authenticationFailed" : "invalidMessage";
        inputs.push([sample.slice(0, n), event]);
      }
    }
    await expectDropped(p, inputs);
    await expectSessionWorks(p);
  });

  it("drops each message type extended by 1 to 64 bytes", async () => {
    const { p, samples } = await prepare();
    const extra = seededBytes(0xe47e);
    const inputs: [Uint8Array, DeviceEvent][] = [];
    const { initiation, response, cookieReply } = samples;
    for (const sample of [initiation, response, cookieReply, samples.transports[2]!]) {
      for (let n = 1; n <= 64; n++) {
        const longer = new Uint8Array(sample.length + n);
        longer.set(sample);
        longer.set(extra(n), sample.length);
        inputs.push([longer, sample[0] === 4 ? "authenticationFailed" : "invalidMessage"]);
      }
    }
    await expectDropped(p, inputs);
    await expectSessionWorks(p);
  });

  it("drops handshake messages with a bad mac1, any byte before it changed", async () => {
    const { p, samples } = await prepare();
    const inputs: [Uint8Array, DeviceEvent][] = [];
    for (const sample of [samples.initiation, samples.response]) {
      for (let at = 4; at < sample.length - 16; at++) {
        const m = sample.slice();
        m[at]! ^= 0x80;
        inputs.push([m, "badMac1"]);
      }
    }
    await expectDropped(p, inputs);
    await expectSessionWorks(p);
  });

  it("drops unknown receivers, reserved bytes, unknown types, replays and forgeries", async () => {
    const { p, samples } = await prepare();
    const { initiation, response, cookieReply, transports } = samples;
    const inputs: [Uint8Array, DeviceEvent][] = [];
    const at = (sample: Uint8Array, offset: number, value: number) => {
      const m = sample.slice();
      writeU32(m, offset, value);
      return m;
    };
    for (const index of [0, 1, 0xffffffff, 0x12345678]) {
      inputs.push([at(transports[3]!, 4, index), "unknownReceiver"]);
      inputs.push([remac(p, at(response, 8, index)), "unknownReceiver"]);
      inputs.push([at(cookieReply, 4, index), "badCookieReply"]);
    }
    for (const sample of [initiation, response, cookieReply, transports[3]!]) {
      for (let byte = 1; byte < 4; byte++) {
        const m = sample.slice();
        m[byte] = 1;
        inputs.push([m, "invalidMessage"]);
      }
      for (const type of [0, 5, 6, 0x80, 0xff]) {
        const m = sample.slice();
        m[0] = type;
        inputs.push([m, "invalidMessage"]);
      }
    }
    inputs.push([initiation.slice(), "staleTimestamp"]); // a replay: b has seen its TAI64N
    inputs.push([remac(p, at(initiation, 4, 7)), "staleTimestamp"]); // new sender index, same
    const forged = initiation.slice();
    forged[60]! ^= 1; // inside the encrypted static key
    inputs.push([remac(p, forged), "badInitiation"]);
    const lowOrder = initiation.slice();
    lowOrder.fill(0, 8, 40); // an all-zero ephemeral: the DH result would be zero
    inputs.push([remac(p, lowOrder), "badInitiation"]);
    inputs.push([response.slice(), "unknownReceiver"]); // its handshake is long done
    inputs.push([cookieReply.slice(), "badCookieReply"]); // the mac1 it answered is used up
    for (const t of transports) inputs.push([t.slice(), "replayed"]);
    inputs.push([samples.expired.slice(), "expiredKeypair"]);
    const flipped = transports[4]!.slice();
    flipped[10]! ^= 1; // the counter, authenticated as the nonce
    inputs.push([flipped, "authenticationFailed"]);
    await expectDropped(p, inputs);
    await expectSessionWorks(p);
  });

  it("drops a forged response to a handshake that is in flight", async () => {
    const { p, samples } = await prepare();
    // Make b start a handshake (a rekey by message count) and hold its initiation back.
    const keypair = p.b.device.peerByKey(p.a.device.publicKey)!.keypairs.current!;
    keypair.sendCounter = 2 ** 53 - 2 ** 20 + 1;
    const log = recordWire(p, (r) => (r.from === B && r.type === 1 ? "drop" : "deliver"));
    p.b.device.send(toA("count"));
    await settle();
    expect(texts(p.a.received).at(-1)).toBe("count");
    const held = log.filter((r) => r.from === B && r.type === 1);
    expect(held.length).toBe(1);
    // A response aimed at the pending index: it passes mac1 and the index lookup, but it was
    // not made from b's ephemeral key, so it fails inside the Noise step.
    const forged = samples.response.slice();
    writeU32(forged, 8, u32le(held[0]!.bytes, 4));
    await expectDropped(p, [[remac(p, forged), "badResponse"]]);
    recordWire(p);
    await expectSessionWorks(p);
  });

  it("drops random garbage of every length from 0 to 200, typed or not", async () => {
    const { p } = await prepare();
    const random = seededBytes(0x9a5b);
    const inputs: [Uint8Array, DeviceEvent][] = [];
    for (let n = 0; n <= 200; n++) {
      for (const type of [-1, 1, 2, 3, 4]) {
        const m = random(n);
        if (type >= 0 && n >= 4) m.set([type, 0, 0, 0]);
        inputs.push([m, expectedForGarbage(m)]);
      }
    }
    await expectDropped(p, inputs);
    await expectSessionWorks(p);
  });
});

describe("seeded fuzz of a live device", () => {
  it("drops and counts 100,000 random and mutated datagrams, then still works", async () => {
    const { p, samples } = await prepare();
    // Give b a handshake in flight (its initiation held back), so that mutated responses that
    // swap in its index reach the Noise step too.
    p.b.device.peerByKey(p.a.device.publicKey)!.keypairs.current!.sendCounter =
      2 ** 53 - 2 ** 20 + 1;
    const log = recordWire(p, (r) => (r.from === B && r.type === 1 ? "drop" : "deliver"));
    p.b.device.send(toA("start a rekey"));
    await settle();
    const pending = u32le(log.find((r) => r.from === B && r.type === 1)!.bytes, 4);
    samples.indices.push(pending, pending, pending);
    recordWire(p);
    const ints = seededInts(0xf022);
    const random = seededBytes(0xf023);
    const pick = <T>(xs: readonly T[]): T => xs[ints(xs.length)]!;
    const bases = [
      samples.initiation,
      samples.response,
      samples.cookieReply,
      samples.expired,
      ...samples.transports.slice(0, 5),
    ];
    const sources = [
      p.a.bind.local,
      { key: "192.0.2.7:51820", host: "192.0.2.7", port: 51820 },
      { key: "[2001:db8::7]:9", host: "2001:db8::7", port: 9 },
    ];
    const mutate = (): Uint8Array => {
      const base = pick(bases);
      let m = base.slice();
      switch (ints(8)) {
        case 0: // bit flips
          for (let i = 1 + ints(4); i > 0; i--) m[ints(m.length)]! ^= 1 << ints(8);
          break;
        case 1: // truncation
          m = m.slice(0, ints(m.length));
          break;
        case 2: {
          const longer = new Uint8Array(m.length + 1 + ints(64));
          longer.set(m);
          longer.set(random(longer.length - m.length), m.length);
          m = longer;
          break;
        }
        case 3: // index swap: another live or dead index, or a random one
          writeU32(
            m,
            m[0] === 2 && ints(2) === 0 ? 8 : 4,
            ints(4) ? pick(samples.indices) : ints(2 ** 32),
          );
          break;
        case 4:
          m[0] = pick([0, 1, 2, 3, 4, 5, 0xff, ints(256)]);
          break;
        case 5:
          m[1 + ints(3)] = 1 + ints(255);
          break;
        case 6:
          return random(ints(201));
        default: {
          const at = ints(m.length);
          m.set(random(Math.min(1 + ints(16), m.length - at)), at);
        }
      }
      // Now and then re-MAC a handshake message, as an attacker who knows b's key can, so the
      // mutation reaches the Noise step instead of stopping at mac1.
      if ((m[0] === 1 || m[0] === 2) && m.length === SIZES[m[0]] && ints(4) === 0) remac(p, m);
      return m;
    };

    const inputs = 100_000;
    const before = total(p.b.device.counters);
    const received = p.b.received.length;
    let thrown = 0;
    const started = performance.now();
    for (let done = 0; done < inputs; ) {
      for (let i = 0; i < 500 && done < inputs; i++, done++) {
        try {
          p.b.bind.deliver(mutate(), pick(sources));
        } catch {
          thrown++;
        }
      }
      try {
        p.b.device.flush();
      } catch {
        thrown++;
      }
      await settle(1);
    }
    await settle();
    const dropped = total(p.b.device.counters) - before;
    console.log(
      `fuzz device: ${inputs} inputs, ${dropped} dropped (${Math.round(performance.now() - started)} ms)`,
      Object.fromEntries(p.b.device.counters),
    );
    expect(thrown).toBe(0);
    // Every sample was consumed before the fuzz, so even an unchanged copy is a replay: every
    // input is dropped, and counted exactly once.
    expect(dropped).toBe(inputs);
    expect(p.b.received.length).toBe(received);
    await expectSessionWorks(p);
  });
});
