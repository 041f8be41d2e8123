// RtcSessions (worker/path/rtc-sessions.ts) on a fake clock with a fake RtcFactory
// (rtc-fake.ts): an "offer" side and an "answer" side pass their signals to each other through
// arrays, and the test fires the platform's events. The exchange, early candidates, stale ids,
// timeouts and backoff, refusals, limits, the offer gap, replacement, the disable setting,
// retain/close, refused values. The seeded fuzz is rtc-sessions-fuzz.test.ts.

import { describe, expect, it } from "vitest";
import { CANDIDATE, CANDIDATES, OFFER } from "../control/signal-fixtures.ts";
import { ANSWER, exchange, kinds, pair, randomKey, settle } from "./rtc-fake.ts";

const TCP = "candidate:1 1 tcp 1518280447 192.168.1.20 9 typ host tcptype active";
const REFUSALS = ["not_supported", "unknown_peer", "not_visible", "disabled", "refused"];

describe("RtcSessions: the exchange", () => {
  it("offers, answers, trickles candidates both ways, opens, carries datagrams and closes", async () => {
    const { a, b } = pair();
    a.sessions.want(b.key);
    expect(a.factory.last.iceServers).toEqual(["stun:relay.example:3478"]);
    expect(a.sessions.stateOf(b.key)).toBe("connecting");
    await exchange(a, b);
    const [ca, cb] = [a.factory.last, b.factory.last];
    expect(cb.calls).toEqual(["answer"]);
    expect(ca.calls).toEqual(["offer", "acceptAnswer"]);
    ca.events.onCandidate({ candidate: CANDIDATE, mid: "0", mline: 0 });
    cb.events.onCandidate({ candidate: CANDIDATES[2]!, mid: "0", mline: 0 });
    await exchange(a, b);
    expect(cb.added).toEqual([{ candidate: CANDIDATE, mid: "0", mline: 0 }]);
    expect(ca.added).toEqual([{ candidate: CANDIDATES[2], mid: "0", mline: 0 }]);
    expect(new Set(a.sent.map((s) => s.sid))).toEqual(new Set(b.sent.map((s) => s.sid)));

    ca.events.onDatagram(new Uint8Array(3)); // before the channel opened: not a datagram yet
    ca.open();
    cb.open();
    expect([a.sessions.stateOf(b.key), b.sessions.stateOf(a.key)]).toEqual(["open", "open"]);
    expect([a.log.opened, b.log.opened]).toEqual([[b.key], [a.key]]);
    ca.events.onDatagram(new Uint8Array(5));
    cb.events.onDatagram(new Uint8Array(7));
    expect([a.log.datagrams, b.log.datagrams]).toEqual([[`${b.key}:5`], [`${a.key}:7`]]);

    ca.events.onClose("failed"); // the platform lost it: bye, and the peer ends its side
    await exchange(a, b);
    expect(a.log.closed).toEqual([b.key]);
    expect(b.log.closed).toEqual([a.key]);
    expect([ca.closes, cb.closes]).toEqual([1, 1]);
    expect(kinds(a)).toEqual(["offer", "candidate", "bye:closed"]);
    expect(kinds(b)).toEqual(["answer", "candidate"]); // never a bye for a bye
    expect(a.sessions.stats).toMatchObject({ offersSent: 1, opened: 1, failed: 1, byesSent: 1 });
    expect(b.sessions.stats).toMatchObject({ offersAnswered: 1, opened: 1, byesSent: 0 });
    expect([a.sessions.size, b.sessions.size]).toEqual([0, 0]);
  });

  it("keeps early remote candidates until the remote description is applied; 32 in all per attempt", async () => {
    const { a, b } = pair();
    a.factory.hold = true;
    a.sessions.want(b.key);
    a.factory.last.held.shift()!.resolve();
    await settle();
    const sid = a.sent[0]!.sid;
    for (let i = 0; i < 40; i++) {
      a.sessions.onSignal({
        type: "signal",
        from: b.key,
        sid,
        kind: "candidate",
        candidate: `c${i}`,
      });
    }
    a.sessions.onSignal({ type: "signal", from: b.key, sid, kind: "answer", sdp: ANSWER });
    const conn = a.factory.last;
    expect(conn.added).toHaveLength(0);
    conn.held.shift()!.resolve(); // the answer is applied
    await settle();
    expect(conn.added.map((c) => c.candidate)).toEqual(
      Array.from({ length: 32 }, (_, i) => `c${i}`),
    );
    // Each candidate is ICE checks to the address it names: a peer gets 32 per attempt in all.
    a.sessions.onSignal({ type: "signal", from: b.key, sid, kind: "candidate", candidate: "late" });
    expect(conn.added).toHaveLength(32);
    expect(a.sessions.stats.candidatesRefused).toBe(9);
  });

  it("ignores answers, candidates and byes of another attempt id", async () => {
    const { a, b } = pair();
    a.sessions.want(b.key);
    await settle();
    for (const kind of ["answer", "candidate", "bye"] as const) {
      const stale = { type: "signal", from: b.key, sid: "old-attempt", kind } as const;
      a.sessions.onSignal({ ...stale, sdp: ANSWER, candidate: CANDIDATE, reason: "refused" });
    }
    await settle();
    expect(a.factory.last.calls).toEqual(["offer"]);
    expect(a.factory.last.closes).toBe(0);
    expect(a.sessions.stateOf(b.key)).toBe("connecting");
    expect(kinds(a)).toEqual(["offer"]);
  });

  it("candidates reported before the offer is sent (32 at most) follow it to the answerer", async () => {
    const { a, b } = pair();
    a.factory.hold = true;
    a.sessions.want(b.key);
    // rtc-types: events may come at any time; werift emits candidates inside its own calls.
    const host = (i: number) => `candidate:${i} 1 udp 2122260223 192.168.1.${i + 1} 5000 typ host`;
    for (let i = 0; i < 40; i++)
      a.factory.last.events.onCandidate({ candidate: host(i), mid: "0" });
    expect(a.sent).toEqual([]);
    a.factory.last.held.shift()!.resolve();
    await exchange(a, b);
    expect(a.sent.slice(0, 2).map((x) => x.kind)).toEqual(["offer", "candidate"]);
    a.factory.last.held.shift()?.resolve();
    await exchange(a, b);
    const want = Array.from({ length: 32 }, (_, i) => host(i));
    expect(b.factory.last?.added.map((c) => c.candidate)).toEqual(want);
  });
});

describe("RtcSessions: limits and failures", () => {
  it("ends an attempt that does not open in 15 s and backs off 2 s, 4 s, ... up to 1 min", async () => {
    const { clock, a, b } = pair();
    const waits: number[] = [];
    a.sessions.want(b.key);
    for (let round = 0; round < 10; round++) {
      const conn = a.factory.last;
      await settle();
      clock.advance(14_999);
      expect(conn.closes).toBe(0);
      clock.advance(1);
      expect(conn.closes).toBe(1);
      expect(a.sent.at(-1)).toMatchObject({ kind: "bye", reason: "timeout", to: b.key });
      const count = a.factory.conns.length;
      let waited = 0;
      while (a.factory.conns.length === count) {
        clock.advance(1000);
        waited += 1000;
        a.sessions.want(b.key);
      }
      waits.push(waited);
    }
    const doubling = [2, 4, 8, 16, 32, 60, 60, 60, 60, 60].map((s) => s * 1000);
    expect(waits).toEqual(doubling);
    expect(a.sessions.stats.failed).toBe(10);
  });

  it("after a refusal waits 10 min; after another bye only the backoff; never byes back", async () => {
    for (const reason of [...REFUSALS, "busy"]) {
      const { clock, a, b } = pair();
      a.sessions.want(b.key);
      await settle();
      const sid = a.sent[0]!.sid;
      a.sessions.onSignal({ type: "signal", from: b.key, sid, kind: "bye", reason });
      expect(a.factory.last.closes).toBe(1);
      expect(kinds(a)).toEqual(["offer"]);
      const wait = reason === "busy" ? 2000 : 600_000;
      clock.advance(wait - 1);
      a.sessions.want(b.key);
      expect(a.factory.conns).toHaveLength(1);
      clock.advance(1);
      a.sessions.want(b.key);
      expect(a.factory.conns).toHaveLength(2);
      expect(a.sessions.stats.refused).toBe(reason === "busy" ? 0 : 1);
    }
  });

  it("holds at most maxChannels; the answerer says busy to one more", async () => {
    const { a, b } = pair({ maxChannels: 2 });
    const peers = [randomKey(), randomKey(), randomKey()];
    for (const key of peers) a.sessions.want(key);
    expect(a.factory.conns).toHaveLength(2);
    expect(a.sessions.stateOf(peers[2]!)).toBeUndefined();
    let free = 0; // the platform's own limit (the page's hosting tabs) is asked too
    const capped = pair({ capacity: () => free }).a;
    capped.sessions.want(peers[0]!);
    free = 1;
    capped.sessions.want(peers[1]!);
    expect(capped.factory.conns).toHaveLength(1);
    expect(capped.sessions.stateOf(peers[1]!)).toBe("connecting");
    for (const [i, key] of peers.entries()) {
      b.sessions.onSignal({
        type: "signal",
        from: key,
        sid: `offer-${i}-x`,
        kind: "offer",
        sdp: OFFER,
      });
    }
    await settle();
    expect(b.factory.conns).toHaveLength(2);
    const byes = b.sent.filter((s) => s.kind === "bye");
    expect(byes).toEqual([{ to: peers[2], sid: "offer-2-x", kind: "bye", reason: "busy" }]);
    expect(b.sessions.stats.offersRefused).toBe(1);
    b.factory.conns[0]!.events.onClose("failed");
    b.sessions.onSignal({
      type: "signal",
      from: peers[2]!,
      sid: "again-2-x",
      kind: "offer",
      sdp: OFFER,
    });
    expect(b.factory.conns).toHaveLength(3);
    expect(b.sessions.size).toBe(2);
  });

  it("answers one offer per peer per second; a later offer replaces the connection", async () => {
    const { clock, a, b } = pair();
    const offer = (sid: string) =>
      b.sessions.onSignal({ type: "signal", from: a.key, sid, kind: "offer", sdp: OFFER });
    offer("first-offer");
    await settle();
    const first = b.factory.last;
    first.open();
    clock.advance(999);
    offer("second-offer");
    expect(b.sent.at(-1)).toMatchObject({
      sid: "second-offer",
      kind: "bye",
      reason: "rate_limited",
    });
    expect([b.factory.conns.length, first.closes, b.sessions.stateOf(a.key)]).toEqual([
      1,
      0,
      "open",
    ]);
    clock.advance(1);
    offer("third-offer");
    await settle();
    expect(first.closes).toBe(1);
    expect(b.log.closed).toEqual([a.key]);
    expect(b.factory.conns).toHaveLength(2);
    expect(b.sessions.stateOf(a.key)).toBe("connecting");
    expect(b.sent.filter((s) => s.sid === "first-offer").map((s) => s.kind)).toEqual(["answer"]);
    expect(b.sent.at(-1)).toMatchObject({ sid: "third-offer", kind: "answer" });
  });

  it("setEnabled(false) closes everything and refuses offers; true allows them again", async () => {
    const { clock, a, b } = pair();
    a.sessions.want(b.key);
    await exchange(a, b);
    a.factory.last.open();
    b.factory.last.open();
    b.sessions.setEnabled(false);
    expect(b.sent.at(-1)).toMatchObject({ kind: "bye", reason: "disabled" });
    await exchange(a, b);
    expect([a.sessions.size, b.sessions.size, a.log.closed.length, b.log.closed.length]).toEqual([
      0, 0, 1, 1,
    ]);
    expect(a.sessions.stats.refused).toBe(1);
    b.sessions.onSignal({
      type: "signal",
      from: a.key,
      sid: "offer-while-off",
      kind: "offer",
      sdp: OFFER,
    });
    expect(b.sent.at(-1)).toMatchObject({ sid: "offer-while-off", reason: "disabled" });
    expect(b.factory.conns).toHaveLength(1);
    a.sessions.setEnabled(false);
    a.sessions.want(randomKey());
    expect(a.factory.conns).toHaveLength(1);
    a.sessions.setEnabled(true);
    b.sessions.setEnabled(true);
    clock.advance(1000); // past the offer gap of the first offer
    a.sessions.want(randomKey());
    b.sessions.onSignal({
      type: "signal",
      from: a.key,
      sid: "offer-when-on",
      kind: "offer",
      sdp: OFFER,
    });
    expect([a.factory.conns.length, b.factory.conns.length]).toEqual([2, 2]);
  });

  it("an offerer answers an offer with bye not_supported", () => {
    const { b: _b, a } = pair();
    const from = randomKey();
    a.sessions.onSignal({ type: "signal", from, sid: "offer-to-page", kind: "offer", sdp: OFFER });
    expect(a.sent).toEqual([
      { to: from, sid: "offer-to-page", kind: "bye", reason: "not_supported" },
    ]);
    expect([a.factory.conns.length, a.sessions.stats.offersRefused]).toEqual([0, 1]);
  });

  it("retain() closes the peers gone; close() says bye to all and ends everything", async () => {
    const { a } = pair();
    const [k1, k2, k3] = [randomKey(), randomKey(), randomKey()];
    for (const key of [k1, k2, k3]) a.sessions.want(key);
    await settle();
    a.sessions.retain(new Set([k1, k3]));
    expect(a.sent.at(-1)).toMatchObject({ to: k2, kind: "bye", reason: "peer_gone" });
    expect(a.factory.conns.map((c) => c.closes)).toEqual([0, 1, 0]);
    a.sessions.close();
    expect(a.sent.slice(-2).map((s) => [s.to, s.reason])).toEqual([
      [k1, "closed"],
      [k3, "closed"],
    ]);
    expect(a.factory.conns.map((c) => c.closes)).toEqual([1, 1, 1]);
    a.sessions.want(k1);
    a.sessions.onSignal({
      type: "signal",
      from: k1,
      sid: "offer-after",
      kind: "offer",
      sdp: OFFER,
    });
    expect([a.factory.conns.length, a.sent.length]).toEqual([3, 6]);
  });

  it("counts a candidate the checks refuse and goes on", async () => {
    const { a, b } = pair();
    a.sessions.want(b.key);
    await exchange(a, b);
    a.factory.last.events.onCandidate({ candidate: TCP, mid: "0", mline: 0 });
    a.factory.last.events.onCandidate({ candidate: CANDIDATE, mid: "0", mline: 0 });
    await exchange(a, b);
    expect(a.sessions.stats.candidatesSkipped).toBe(1);
    expect(b.factory.last.added.map((c) => c.candidate)).toEqual([CANDIDATE]);
    expect([a.sessions.stateOf(b.key), b.sessions.stateOf(a.key)]).toEqual([
      "connecting",
      "connecting",
    ]);
  });

  it("ends an attempt whose offer or answer cannot be sent: no stream, or SDP the checks refuse", async () => {
    const { a, b } = pair();
    a.stream = false;
    a.sessions.want(b.key);
    await settle();
    expect([a.factory.last.closes, a.sessions.stats.offersSent, a.sessions.stats.failed]).toEqual([
      1, 0, 1,
    ]);
    a.stream = true;
    const other = randomKey();
    a.factory.offerSdp = "v=0\r\n";
    a.sessions.want(other);
    await settle();
    expect(a.sent).toEqual([{ to: other, sid: a.sent[0]!.sid, kind: "bye", reason: "bad_sdp" }]);
    expect(a.factory.last.closes).toBe(1);

    b.factory.answerSdp = "v=0\r\n";
    b.sessions.onSignal({
      type: "signal",
      from: a.key,
      sid: "offer-bad-ans",
      kind: "offer",
      sdp: OFFER,
    });
    await settle();
    expect(b.sent).toEqual([{ to: a.key, sid: "offer-bad-ans", kind: "bye", reason: "bad_sdp" }]);
    b.factory.answerSdp = ANSWER;
    b.stream = false;
    const c = randomKey();
    b.sessions.onSignal({
      type: "signal",
      from: c,
      sid: "offer-no-stream",
      kind: "offer",
      sdp: OFFER,
    });
    await settle();
    expect([b.factory.last.closes, b.sessions.size, b.sessions.stats.offersAnswered]).toEqual([
      1, 0, 0,
    ]);
  });

  it("takes only the first of two answers to one offer", async () => {
    const { a, b } = pair();
    a.factory.hold = true;
    a.sessions.want(b.key);
    a.factory.last.held.shift()!.resolve();
    await settle();
    const sid = a.sent[0]!.sid;
    for (let i = 0; i < 2; i++) {
      a.sessions.onSignal({ type: "signal", from: b.key, sid, kind: "answer", sdp: ANSWER });
    }
    expect(a.factory.last.calls).toEqual(["offer", "acceptAnswer"]);
  });
});
