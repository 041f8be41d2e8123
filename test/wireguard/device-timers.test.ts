// Every WireGuard timer, driven by a fake clock and judged by the datagrams on the wire (the
// semantics of wireguard-go's device/timers.go and send.go): handshake retransmission and
// giving up, passive keepalive, new handshake when sent data goes unanswered, rekey by age on
// send and on receive, reject after 180 s, key zeroing after 540 s, persistent keepalive.

import { afterEach, describe, expect, it } from "vitest";
import {
  advanceExact,
  inject,
  ipv4,
  makePair,
  type Pair,
  recordWire,
  SteppingClock,
  settle,
  u32le,
  type WireRecord,
} from "./device-pair.ts";

const A = "a:1";
const B = "b:2";
const INITIATION = 1;
const TRANSPORT = 4;
const KEEPALIVE_SIZE = 32;

let pair: Pair | undefined;
afterEach(async () => {
  await pair?.close();
  pair = undefined;
});

async function setup(): Promise<Pair & { clock: SteppingClock }> {
  const clock = new SteppingClock();
  pair = await makePair({ clock });
  return { ...pair, clock };
}

const encoder = new TextEncoder();
const toB = (s: string) => ipv4("10.0.0.1", "10.0.0.2", encoder.encode(s));
const toA = (s: string) => ipv4("10.0.0.2", "10.0.0.1", encoder.encode(s));
const texts = (packets: Uint8Array[]) => packets.map((p) => new TextDecoder().decode(p.slice(20)));

function sent(log: WireRecord[], from: string, type: number, since = -Infinity): WireRecord[] {
  return log.filter((r) => r.from === from && r.type === type && r.at >= since);
}

function gaps(records: WireRecord[]): number[] {
  return records.slice(1).map((r, i) => r.at - records[i]!.at);
}

/** a sends one packet; the handshake completes and b receives it. Returns when (ms). */
async function handshake(p: Pair): Promise<number> {
  p.a.device.send(toB("first"));
  await settle();
  expect(texts(p.b.received)).toContain("first");
  return p.clock.now();
}

describe("handshake retransmission", () => {
  it("retries every 5 s + jitter, gives up after 20 initiations, and drops staged packets", async () => {
    const p = await setup();
    let blocked = true;
    const log = recordWire(p, (r) => (blocked && r.from === A ? "drop" : "deliver"));
    const t0 = p.clock.now();
    p.a.device.send(toB("lost 1"));
    p.a.device.send(toB("lost 2"));
    await settle();
    await advanceExact(p.clock, 200_000);

    const initiations = sent(log, A, INITIATION);
    // wireguard-go: handshakeAttempts counts retries and gives up once it exceeds
    // MaxTimerHandshakes (18), so the first initiation plus 19 retries go out: 20 in all.
    expect(initiations.length).toBe(20);
    expect(initiations[0]!.at).toBe(t0);
    for (const gap of gaps(initiations)) {
      expect(gap).toBeGreaterThanOrEqual(5000);
      expect(gap).toBeLessThan(5334);
    }
    expect(new Set(gaps(initiations)).size).toBeGreaterThan(1); // jittered, not constant
    expect(initiations.every((r) => r.size === 148)).toBe(true);
    expect(new Set(initiations.map((r) => u32le(r.bytes, 4))).size).toBe(20); // fresh index each
    expect(log.filter((r) => r.from === A).length).toBe(20); // nothing else went out

    // It gave up: the staged packets are gone, a new handshake carries only new data.
    blocked = false;
    p.a.device.send(toB("after"));
    await settle();
    expect(texts(p.b.received)).toEqual(["after"]);
  });
});

describe("passive keepalive", () => {
  it("answers received data with a keepalive after 10 s of sending nothing", async () => {
    const p = await setup();
    const log = recordWire(p);
    const t0 = await handshake(p);
    await advanceExact(p.clock, 60_000);
    const fromB = sent(log, B, TRANSPORT);
    expect(fromB.map((r) => [r.at - t0, r.size])).toEqual([[10_000, KEEPALIVE_SIZE]]);
    // a heard back within 15 s, so it started no new handshake.
    expect(sent(log, A, INITIATION).length).toBe(1);
    expect(log.length).toBe(4); // initiation, response, a's data, b's keepalive
  });

  it("sends no keepalive when it sent data in the meantime", async () => {
    const p = await setup();
    const log = recordWire(p);
    await handshake(p);
    await advanceExact(p.clock, 30_000);
    const t1 = p.clock.now();
    p.a.device.send(toB("one"));
    await advanceExact(p.clock, 5_000);
    p.b.device.send(toA("reply"));
    await advanceExact(p.clock, 60_000);
    const fromB = sent(log, B, TRANSPORT, t1);
    expect(fromB.map((r) => r.at - t1)).toEqual([5_000]);
    expect(fromB[0]!.size).toBeGreaterThan(KEEPALIVE_SIZE);
    // a got data at +5 s and sent nothing after it: its keepalive goes at +15 s.
    const fromA = sent(log, A, TRANSPORT, t1);
    expect(fromA.map((r) => [r.at - t1, r.size > KEEPALIVE_SIZE])).toEqual([
      [0, true],
      [15_000, false],
    ]);
  });
});

describe("new handshake when sent data goes unanswered", () => {
  it("initiates 15 s + jitter after sending data that nothing came back for", async () => {
    const p = await setup();
    let mute = false;
    const log = recordWire(p, (r) => (mute && r.from === B ? "drop" : "deliver"));
    await handshake(p);
    await advanceExact(p.clock, 30_000);
    mute = true;
    const t1 = p.clock.now();
    p.a.device.send(toB("anyone there?"));
    await advanceExact(p.clock, 16_000);
    const initiations = sent(log, A, INITIATION, t1);
    expect(initiations.length).toBe(1);
    expect(initiations[0]!.at - t1).toBeGreaterThanOrEqual(15_000);
    expect(initiations[0]!.at - t1).toBeLessThan(15_334);
  });
});

describe("rekey", () => {
  it("the initiator rekeys on sending once its keypair is older than 120 s", async () => {
    const p = await setup();
    const log = recordWire(p);
    const t0 = await handshake(p);
    const oldIndex = u32le(sent(log, A, TRANSPORT)[0]!.bytes, 4);
    await advanceExact(p.clock, 119_000);
    p.a.device.send(toB("at 119 s"));
    await settle();
    expect(sent(log, A, INITIATION, t0 + 1).length).toBe(0);
    await advanceExact(p.clock, 1_500);
    p.a.device.send(toB("at 120.5 s"));
    await settle();
    const rekey = sent(log, A, INITIATION, t0 + 1);
    expect(rekey.map((r) => r.at - t0)).toEqual([120_500]);
    // The data still went under the old keypair (valid for 180 s); later data uses the new one.
    expect(texts(p.b.received)).toEqual(["first", "at 119 s", "at 120.5 s"]);
    p.a.device.send(toB("new keys"));
    await settle();
    const last = sent(log, A, TRANSPORT).at(-1)!;
    expect(u32le(last.bytes, 4)).not.toBe(oldIndex);
    expect(texts(p.b.received).at(-1)).toBe("new keys");
  });

  it("the responder never rekeys by age; the initiator's keepalives do after 120 s", async () => {
    const p = await setup();
    const log = recordWire(p);
    const t0 = await handshake(p);
    // Only b sends data; a answers each packet with a keepalive 10 s later (at 20 .. 120 s).
    for (let s = 10; s <= 110; s += 10) {
      await advanceExact(p.clock, 10_000);
      p.b.device.send(toA(`b at ${s}`));
    }
    await advanceExact(p.clock, 11_000);
    for (let s = 121; s < 130; s++) {
      p.b.device.send(toA(`b at ${s}`)); // past 120 s, under b's responder keypair
      await advanceExact(p.clock, 1_000);
    }
    await advanceExact(p.clock, 5_000);
    expect(sent(log, B, INITIATION).length).toBe(0);
    // a's keepalive at exactly 120 s does not rekey (older than, not as old as); the one at
    // 131 s does: wireguard-go runs keepKeyFreshSending after every send, keepalives too. The
    // second keepalive at 131 s confirms the new session.
    const keepalives = sent(log, A, TRANSPORT, t0 + 1).filter((r) => r.size === KEEPALIVE_SIZE);
    expect(keepalives.map((r) => r.at - t0).slice(-4)).toEqual([
      110_000, 120_000, 131_000, 131_000,
    ]);
    expect(sent(log, A, INITIATION, t0 + 1).map((r) => r.at - t0)).toEqual([131_000]);
    expect(p.a.received.length).toBe(20);
  });

  it("the initiator rekeys on receiving once its keypair is older than 165 s", async () => {
    const p = await setup();
    const log = recordWire(p);
    const t0 = await handshake(p);
    // b sends keepalives every 10 s; a sends nothing at all, so only the receive path rekeys.
    await p.b.device.addPeer({ publicKey: p.a.device.publicKey, persistentKeepalive: 10 });
    await advanceExact(p.clock, 200_000);
    // REJECT_AFTER_TIME - KEEPALIVE_TIMEOUT - REKEY_TIMEOUT = 165 s: b's keepalive at 170 s.
    expect(sent(log, A, INITIATION, t0 + 1).map((r) => r.at - t0)).toEqual([170_000]);
    expect(sent(log, B, INITIATION).length).toBe(0);
  });

  it("either side rekeys after REKEY_AFTER_MESSAGES, and stops at REJECT_AFTER_MESSAGES", async () => {
    const p = await setup();
    const log = recordWire(p);
    await handshake(p);
    p.b.device.send(toA("confirm"));
    await settle();
    // 2^60 messages cannot be sent in a test; the device's limit as a number is 2^53 - 2^20.
    const keypairOfB = p.b.device.peerByKey(p.a.device.publicKey)!.keypairs.current!;
    expect(keypairOfB.isInitiator).toBe(false);
    keypairOfB.sendCounter = 2 ** 53 - 2 ** 20 + 1;
    const t1 = p.clock.now();
    p.b.device.send(toA("many messages later"));
    await settle();
    expect(sent(log, B, INITIATION, t1).length).toBe(1);
    expect(texts(p.a.received)).toEqual(["confirm", "many messages later"]);

    const keypairOfA = p.a.device.peerByKey(p.b.device.publicKey)!.keypairs.current!;
    keypairOfA.sendCounter = Number.MAX_SAFE_INTEGER; // REJECT_AFTER_MESSAGES as a number
    await advanceExact(p.clock, 6_000);
    const t2 = p.clock.now();
    p.a.device.send(toB("needs new keys"));
    await settle();
    const fromA = log.filter((r) => r.from === A && r.at >= t2);
    expect(fromA[0]!.type).toBe(INITIATION); // nothing under the exhausted keypair
    expect(texts(p.b.received).at(-1)).toBe("needs new keys");
  });
});

describe("reject after 180 s and zeroing after 540 s", () => {
  /** Handshake, then capture (and drop) `count` more transport messages from a. */
  async function withHeldMessages(p: Pair, count: number) {
    let hold = false;
    const held: Uint8Array[] = [];
    const log = recordWire(p, (r) => {
      if (hold && r.from === A && r.type === TRANSPORT) {
        held.push(r.bytes);
        return "drop";
      }
      return "deliver";
    });
    const t0 = await handshake(p);
    hold = true;
    for (let i = 0; i < count; i++) p.a.device.send(toB(`held ${i}`));
    await settle();
    hold = false;
    expect(held.length).toBe(count);
    return { log, held, t0 };
  }

  it("neither sends nor accepts under a keypair older than REJECT_AFTER_TIME", async () => {
    const p = await setup();
    const { log, held, t0 } = await withHeldMessages(p, 2);
    const oldIndex = u32le(held[0]!, 4);
    await advanceExact(p.clock, 179_000);
    inject(p, "b", held[0]!);
    expect(texts(p.b.received).at(-1)).toBe("held 0");
    await advanceExact(p.clock, 2_000);
    inject(p, "b", held[1]!);
    expect(p.b.device.counters.get("expiredKeypair")).toBe(1);
    expect(p.b.received.length).toBe(2);

    const t1 = p.clock.now();
    expect(t1 - t0).toBe(181_000);
    p.a.device.send(toB("late"));
    await settle();
    const fromA = log.filter((r) => r.from === A && r.at >= t1);
    expect(fromA.map((r) => r.type)).toEqual([INITIATION, TRANSPORT]);
    expect(u32le(fromA[1]!.bytes, 4)).not.toBe(oldIndex);
    expect(texts(p.b.received).at(-1)).toBe("late");
  });

  it("zeroes every keypair 540 s after the last one was derived", async () => {
    const p = await setup();
    const { log, held } = await withHeldMessages(p, 1);
    await advanceExact(p.clock, 539_000);
    expect(p.a.device.indices.size).toBe(1);
    expect(p.b.device.indices.size).toBe(1);
    inject(p, "b", held[0]!);
    expect(p.b.device.counters.get("expiredKeypair")).toBe(1); // still known at 539 s
    await advanceExact(p.clock, 2_000);
    expect(p.a.device.indices.size).toBe(0);
    expect(p.b.device.indices.size).toBe(0);
    inject(p, "b", held[0]!);
    expect(p.b.device.counters.get("unknownReceiver")).toBe(1); // its index is gone
    const t1 = p.clock.now();
    p.a.device.send(toB("after zeroing"));
    await settle();
    expect(log.filter((r) => r.from === A && r.at >= t1).map((r) => r.type)).toEqual([
      INITIATION,
      TRANSPORT,
    ]);
    expect(texts(p.b.received).at(-1)).toBe("after zeroing");
  });
});

describe("persistent keepalive", () => {
  it("sends a keepalive after every 25 s without traffic either way", async () => {
    const p = await setup();
    const log = recordWire(p);
    await handshake(p);
    await advanceExact(p.clock, 30_000);
    const t1 = p.clock.now();
    await p.a.device.addPeer({ publicKey: p.b.device.publicKey, persistentKeepalive: 25 });
    await advanceExact(p.clock, 80_000);
    const keepalives = () =>
      sent(log, A, TRANSPORT, t1)
        .filter((r) => r.size === KEEPALIVE_SIZE)
        .map((r) => r.at - t1);
    expect(keepalives()).toEqual([0, 25_000, 50_000, 75_000]);
    // Traffic restarts the interval: b's data at +80 s, a's passive keepalive at +90 s, then
    // persistent ones 25 s after that. (The one at +115 s, the keypair being 145 s old, also
    // rekeys; the new session's confirmation is one more keepalive at +115 s.)
    p.b.device.send(toA("hello"));
    await advanceExact(p.clock, 70_000);
    expect(keepalives().slice(4)).toEqual([90_000, 115_000, 115_000, 140_000]);
    expect(sent(log, B, TRANSPORT, t1).length).toBe(1); // keepalives need no answer
  });

  it("keeps retrying a peer that is down: initiations count as traffic for the interval", async () => {
    const p = await setup();
    const log = recordWire(p, (r) => (r.from === A ? "drop" : "deliver"));
    const t0 = p.clock.now();
    await p.a.device.addPeer({ publicKey: p.b.device.publicKey, persistentKeepalive: 25 });
    await advanceExact(p.clock, 300_000);
    const initiations = sent(log, A, INITIATION);
    expect(initiations[0]!.at).toBe(t0);
    // 20 initiations 5 s apart, give up, then 25 s after the last one a new attempt begins.
    expect(gaps(initiations)[19]).toBe(25_000);
    expect(initiations.length).toBeGreaterThan(40);
  });

  it("rekeys from a persistent keepalive once the keypair is older than 120 s", async () => {
    const p = await setup();
    const log = recordWire(p);
    const t0 = await handshake(p);
    await advanceExact(p.clock, 30_000);
    await p.a.device.addPeer({ publicKey: p.b.device.publicKey, persistentKeepalive: 25 });
    await advanceExact(p.clock, 120_000);
    // Keepalives at 30, 55, 80, 105, 130 s: the one at 130 s (past 120 s) starts a rekey.
    expect(sent(log, A, INITIATION, t0 + 1).map((r) => r.at - t0)).toEqual([130_000]);
  });
});
