// Review findings on the WebRTC attempts, each as the behaviour a user relies on: a page offers
// only to peers it talks to (startsTalk: a peer that initiates a handshake does not learn the
// browser's addresses), new attempts are spaced (a burst would meet the server's signal rate),
// a duplicate offer does not end the live attempt, a channel the path chooser cannot take is
// ended, and the map relays' STUN servers are what ICE gets.

import { describe, expect, it } from "vitest";
import { iceServersOf, startsTalk } from "../../worker/mesh/mesh-direct.ts";
import { OFFER } from "../control/signal-fixtures.ts";
import { kinds, pair, randomKey, settle } from "./rtc-fake.ts";

describe("who the page offers to", () => {
  it("offers on its own handshake initiation or data, never on a response, cookie or keepalive", () => {
    const message = (type: number, length: number) => {
      const m = new Uint8Array(length);
      m[0] = type;
      return m;
    };
    expect(startsTalk(message(1, 148))).toBe(true); // our handshake initiation
    expect(startsTalk(message(4, 32 + 84))).toBe(true); // data (a TCP segment inside)
    expect(startsTalk(message(2, 92))).toBe(false); // our response to the peer's initiation
    expect(startsTalk(message(3, 64))).toBe(false); // a cookie reply
    expect(startsTalk(message(4, 32))).toBe(false); // a keepalive the peer can draw from us
    expect(startsTalk(new Uint8Array(0))).toBe(false);
  });

  it("gives ICE the map relays' STUN servers, at most 4, and none without", () => {
    const relay = (stun?: string) => ({ id: "r", region: "", url: "ws://r/relay", key: "", stun });
    expect(iceServersOf(undefined)).toEqual([]);
    expect(iceServersOf({ relays: [relay(), relay("")] })).toEqual([]);
    expect(
      iceServersOf({ relays: [relay("192.0.2.1:3478"), relay("[2001:db8::1]:3478")] }),
    ).toEqual(["stun:192.0.2.1:3478", "stun:[2001:db8::1]:3478"]);
    expect(
      iceServersOf({ relays: Array.from({ length: 6 }, () => relay("192.0.2.1:3478")) }),
    ).toHaveLength(4);
  });
});

describe("RtcSessions after review", () => {
  it("spaces new attempts 250 ms apart", async () => {
    const { clock, a } = pair({ timings: { attemptGapMs: 250 } });
    const [p, q] = [randomKey(), randomKey()];
    a.sessions.want(p);
    a.sessions.want(q);
    expect(a.sessions.size).toBe(1);
    clock.advance(249);
    a.sessions.want(q);
    expect(a.sessions.size).toBe(1);
    clock.advance(1);
    a.sessions.want(q);
    expect(a.sessions.size).toBe(2);
  });

  it("ignores a duplicate of the offer it is answering", async () => {
    const { a, b } = pair();
    const offer = {
      type: "signal" as const,
      from: a.key,
      sid: "dup-offer-1",
      kind: "offer" as const,
      sdp: OFFER,
    };
    b.sessions.onSignal(offer);
    await settle();
    b.sessions.onSignal(offer);
    await settle();
    expect(b.factory.conns).toHaveLength(1);
    expect(b.factory.last.closes).toBe(0);
    expect(kinds(b)).toEqual(["answer"]);
  });

  it("drop() ends an open channel the path chooser cannot take, with a bye and a backoff", async () => {
    const { a, b } = pair();
    a.sessions.want(b.key);
    await settle();
    a.factory.last.open();
    expect(a.sessions.stateOf(b.key)).toBe("open");
    a.sessions.drop(b.key, "not_taken");
    expect(a.sessions.stateOf(b.key)).toBeUndefined();
    expect(a.log.closed).toEqual([b.key]);
    expect(kinds(a).at(-1)).toBe("bye:not_taken");
    a.sessions.want(b.key); // backed off: no new attempt at once
    expect(a.sessions.size).toBe(0);
  });
});
