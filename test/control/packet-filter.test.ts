// The inbound packet filter (worker/control/packet-filter.ts) on hand-laid IPv4/IPv6 packets:
// rules by user, tag and CIDR with port ranges, answers to flows this node opened (and their
// idle expiry on a fake clock), spoofed sources and the bounded flow table. Hostile packets and
// the fuzz are in packet-filter-fuzz.test.ts.

import { describe, expect, it } from "vitest";
import { PacketFilter } from "../../worker/control/packet-filter.ts";
import type { PeerView } from "../../worker/control/types.ts";
import { FakeClock } from "../../worker/wireguard/clock.ts";
import {
  ACK,
  alice,
  bob,
  carol,
  dropsOf,
  freshFilter,
  icmp,
  keyOf,
  mapWith,
  packet,
  RULES,
  SYN,
  self,
  server,
  tcp,
  udp,
  v4,
  v6,
} from "./packet-filter-fixtures.ts";

describe("rules", () => {
  const cases: [string, PeerView, (p: PeerView) => string, number, Uint8Array, boolean][] = [
    ["same user, ssh", alice, v4, 6, tcp(40000, 22, SYN), true],
    ["same user, ssh over IPv6", alice, v6, 6, tcp(40000, 22, SYN), true],
    ["same user, another TCP port", alice, v4, 6, tcp(40000, 23, SYN), false],
    ["same user, UDP to 22", alice, v4, 17, udp(40000, 22), false],
    ["another user, ssh", bob, v4, 6, tcp(40000, 22, SYN), false],
    ["tag:server, UDP low end", server, v4, 17, udp(1, 5000), true],
    ["tag:server, UDP high end over IPv6", server, v6, 17, udp(1, 5999), true],
    ["tag:server, UDP past the range", server, v4, 17, udp(1, 6000), false],
    ["tag:server, TCP in the UDP range", server, v4, 6, tcp(1, 5000, SYN), false],
    ["cidr source, ping", carol, v4, 1, icmp(8, 7), true],
    ["cidr source, ping over IPv6", carol, v6, 58, icmp(128, 7), true],
    ["cidr source, TCP", carol, v4, 6, tcp(1, 22, SYN), false],
    ["user 20, * on port 80 TCP", bob, v4, 6, tcp(1, 80, SYN), true],
    ["user 20, * on port 80 UDP over IPv6", bob, v6, 17, udp(1, 80), true],
    ["user 20, * lets ICMP in (ICMP ignores ports)", bob, v4, 1, icmp(8, 1), true],
    ["user 20, * on port 81", bob, v4, 6, tcp(1, 81, SYN), false],
  ];
  for (const [what, from, family, protocol, payload, accepted] of cases) {
    it(`${what}: ${accepted ? "accepted" : "dropped (noRule)"}`, () => {
      const filter = freshFilter();
      const dst = family === v4 ? v4(self) : v6(self);
      const ok = filter.inbound(packet(family(from), dst, protocol, payload), keyOf(from.id));
      expect(ok).toBe(accepted);
      expect(dropsOf(filter)).toEqual(accepted ? {} : { noRule: 1 });
      expect(filter.counters.acceptedByRule).toBe(accepted ? 1 : 0);
    });
  }

  it("any source, and several port ranges in one rule", () => {
    const filter = new PacketFilter({ clock: new FakeClock() });
    filter.setMap(
      mapWith([
        {
          src: { any: true },
          ports: [
            { proto: "tcp", first: 443, last: 443 },
            { proto: "udp", first: 60000, last: 61000 },
          ],
        },
      ]),
    );
    expect(filter.inbound(packet(v4(carol), v4(self), 6, tcp(1, 443, SYN)), keyOf(5))).toBe(true);
    expect(filter.inbound(packet(v6(server), v6(self), 17, udp(1, 60500)), keyOf(4))).toBe(true);
    expect(filter.inbound(packet(v4(bob), v4(self), 6, tcp(1, 444, SYN)), keyOf(3))).toBe(false);
    expect(filter.inbound(packet(v4(bob), v4(self), 1, icmp(8, 1)), keyOf(3))).toBe(false);
  });

  it("an empty filter drops everything a peer opens", () => {
    const filter = new PacketFilter({ clock: new FakeClock() });
    filter.setMap(mapWith([]));
    expect(filter.inbound(packet(v4(alice), v4(self), 6, tcp(1, 22, SYN)), keyOf(2))).toBe(false);
    expect(dropsOf(filter)).toEqual({ noRule: 1 });
  });

  it("a new map applies at once: a peer's user changing changes what it may open", () => {
    const filter = freshFilter();
    const ssh = () => filter.inbound(packet(v4(bob), v4(self), 6, tcp(1, 22, SYN)), keyOf(3));
    expect(ssh()).toBe(false);
    filter.setMap(
      mapWith(RULES, [alice, { ...bob, user: { id: 10, name: "", email: "", signedInAt: null } }]),
    );
    expect(ssh()).toBe(true);
    filter.setMap(mapWith(RULES, [alice]));
    expect(ssh()).toBe(false);
    expect(dropsOf(filter)).toEqual({ noRule: 1, unknownPeer: 1 });
  });
});

describe("who and where", () => {
  it("drops a source address that is not the peer's own (spoofed), in both families", () => {
    const filter = freshFilter();
    expect(filter.inbound(packet(v4(bob), v4(self), 6, tcp(1, 22, SYN)), keyOf(2))).toBe(false);
    expect(filter.inbound(packet(v6(bob), v6(self), 6, tcp(1, 22, SYN)), keyOf(2))).toBe(false);
    expect(filter.inbound(packet("100.64.0.99", v4(self), 6, tcp(1, 22, SYN)), keyOf(2))).toBe(
      false,
    );
    expect(dropsOf(filter)).toEqual({ spoofedSource: 3 });
  });

  it("drops keys not in the map, and everything before the first map", () => {
    const none = new PacketFilter({ clock: new FakeClock() });
    expect(none.inbound(packet(v4(alice), v4(self), 6, tcp(1, 22, SYN)), keyOf(2))).toBe(false);
    const filter = freshFilter();
    expect(filter.inbound(packet(v4(alice), v4(self), 6, tcp(1, 22, SYN)), keyOf(99))).toBe(false);
    expect(filter.inbound(packet(v4(alice), v4(self), 6, tcp(1, 22, SYN)), new Uint8Array(5))).toBe(
      false,
    );
    expect(dropsOf(none)).toEqual({ unknownPeer: 1 });
    expect(dropsOf(filter)).toEqual({ unknownPeer: 2 });
  });

  it("drops packets for an address that is not this node's", () => {
    const filter = freshFilter();
    expect(filter.inbound(packet(v4(alice), "100.64.0.9", 6, tcp(1, 22, SYN)), keyOf(2))).toBe(
      false,
    );
    expect(dropsOf(filter)).toEqual({ notForThisNode: 1 });
  });
});

describe("answers to flows this node opened", () => {
  it("TCP: a SYN out lets the answers in, until the flow is idle for 2 hours", () => {
    const clock = new FakeClock();
    const filter = freshFilter(clock);
    // bob may not open anything on 443 here, but we connect to him.
    const answer = (flags: number) =>
      filter.inbound(packet(v4(bob), v4(self), 6, tcp(443, 40001, flags)), keyOf(3));
    expect(answer(SYN | ACK)).toBe(false);
    filter.outbound(packet(v4(self), v4(bob), 6, tcp(40001, 443, SYN)));
    expect(answer(SYN | ACK)).toBe(true);
    // Another port of ours, or of his, is not the same flow.
    expect(filter.inbound(packet(v4(bob), v4(self), 6, tcp(443, 40002, ACK)), keyOf(3))).toBe(
      false,
    );
    expect(filter.inbound(packet(v4(bob), v4(self), 6, tcp(444, 40001, ACK)), keyOf(3))).toBe(
      false,
    );
    clock.advance(2 * 3600_000 - 1);
    expect(answer(ACK)).toBe(true); // refreshed by the answer
    clock.advance(2 * 3600_000 + 1);
    expect(answer(ACK)).toBe(false);
    expect(filter.counters.acceptedAsReply).toBe(2);
    expect(dropsOf(filter)).toEqual({ noRule: 4 });
    expect(filter.flowStats.expired).toBe(1);
  });

  it("UDP over IPv6: answers accepted, forgotten after 3 minutes idle; our packets keep it alive", () => {
    const clock = new FakeClock();
    const filter = freshFilter(clock);
    const out = () => filter.outbound(packet(v6(self), v6(alice), 17, udp(50000, 53)));
    const answer = () => filter.inbound(packet(v6(alice), v6(self), 17, udp(53, 50000)), keyOf(2));
    out();
    expect(answer()).toBe(true);
    clock.advance(170_000);
    out();
    clock.advance(170_000);
    expect(answer()).toBe(true);
    clock.advance(180_001);
    expect(answer()).toBe(false);
    expect(dropsOf(filter)).toEqual({ noRule: 1 });
  });

  // alice may open no ICMP here (bob's "*" rule would let his ICMP in).
  it("ICMP echo: the reply with our identifier, over IPv4 and IPv6, for 30 s", () => {
    const clock = new FakeClock();
    const filter = freshFilter(clock);
    filter.outbound(packet(v4(self), v4(alice), 1, icmp(8, 0x1234)));
    filter.outbound(packet(v6(self), v6(alice), 58, icmp(128, 0x1234)));
    expect(filter.inbound(packet(v4(alice), v4(self), 1, icmp(0, 0x1234)), keyOf(2))).toBe(true);
    expect(filter.inbound(packet(v6(alice), v6(self), 58, icmp(129, 0x1234)), keyOf(2))).toBe(true);
    expect(filter.inbound(packet(v4(alice), v4(self), 1, icmp(0, 0x4321)), keyOf(2))).toBe(false);
    // An echo *request* from him is not an answer.
    expect(filter.inbound(packet(v4(alice), v4(self), 1, icmp(8, 0x1234)), keyOf(2))).toBe(false);
    // Another peer answering our identifier is not the flow we opened.
    expect(filter.inbound(packet(v4(server), v4(self), 1, icmp(0, 0x1234)), keyOf(4))).toBe(false);
    clock.advance(30_001);
    expect(filter.inbound(packet(v4(alice), v4(self), 1, icmp(0, 0x1234)), keyOf(2))).toBe(false);
    expect(dropsOf(filter)).toEqual({ noRule: 4 });
  });

  it("ICMP errors about a datagram we sent are let in; about one we never sent, not", () => {
    const filter = freshFilter();
    const sent = packet(v4(self), v4(alice), 17, udp(50001, 9999));
    filter.outbound(sent);
    expect(
      filter.inbound(packet(v4(alice), v4(self), 1, icmp(3, 0, sent.subarray(0, 28))), keyOf(2)),
    ).toBe(true);
    const never = packet(v4(self), v4(alice), 17, udp(50002, 9999));
    expect(
      filter.inbound(packet(v4(alice), v4(self), 1, icmp(3, 0, never.subarray(0, 28))), keyOf(2)),
    ).toBe(false);
    // server reporting on our datagram to alice: not its to report on.
    expect(
      filter.inbound(packet(v4(server), v4(self), 1, icmp(3, 0, sent.subarray(0, 28))), keyOf(4)),
    ).toBe(false);
    const sent6 = packet(v6(self), v6(alice), 6, tcp(50003, 80, SYN));
    filter.outbound(sent6);
    expect(
      filter.inbound(packet(v6(alice), v6(self), 58, icmp(2, 0, sent6.subarray(0, 48))), keyOf(2)),
    ).toBe(true);
    expect(filter.counters.acceptedAsReply).toBe(2);
  });

  it("our answers to a peer's connection open nothing: revoking the rule stops its packets", () => {
    const filter = freshFilter();
    // alice opens SSH (allowed), we answer; server sends to UDP 5000 (allowed), we answer.
    expect(filter.inbound(packet(v4(alice), v4(self), 6, tcp(41000, 22, SYN)), keyOf(2))).toBe(
      true,
    );
    filter.outbound(packet(v4(self), v4(alice), 6, tcp(22, 41000, SYN | ACK)));
    expect(filter.inbound(packet(v4(server), v4(self), 17, udp(7000, 5000)), keyOf(4))).toBe(true);
    filter.outbound(packet(v4(self), v4(server), 17, udp(5000, 7000)));
    filter.setMap(mapWith([]));
    expect(filter.inbound(packet(v4(alice), v4(self), 6, tcp(41000, 22, ACK)), keyOf(2))).toBe(
      false,
    );
    expect(filter.inbound(packet(v4(server), v4(self), 17, udp(7000, 5000)), keyOf(4))).toBe(false);
    expect(dropsOf(filter)).toEqual({ noRule: 2 });
  });

  it("flows we opened survive a map change", () => {
    const filter = freshFilter();
    filter.outbound(packet(v4(self), v4(bob), 6, tcp(40010, 8080, SYN)));
    filter.setMap(mapWith([]));
    expect(
      filter.inbound(packet(v4(bob), v4(self), 6, tcp(8080, 40010, SYN | ACK)), keyOf(3)),
    ).toBe(true);
  });
});

describe("the flow table is bounded", () => {
  it("keeps the most recent flows and evicts the least recently used", () => {
    const clock = new FakeClock();
    const filter = freshFilter(clock, 8);
    for (let i = 0; i < 20; i++) {
      filter.outbound(packet(v4(self), v4(bob), 17, udp(30000 + i, 53)));
      clock.advance(1);
    }
    expect(filter.flowCount).toBe(8);
    expect(filter.flowStats.evicted).toBe(12);
    const answer = (i: number) =>
      filter.inbound(packet(v4(bob), v4(self), 17, udp(53, 30000 + i)), keyOf(3));
    expect(answer(0)).toBe(false);
    expect(answer(11)).toBe(false);
    for (let i = 12; i < 20; i++) expect(answer(i)).toBe(true);
  });

  it("a peer opening many flows to us cannot push out the flows whose answers we wait for", () => {
    const clock = new FakeClock();
    const filter = freshFilter(clock, 8);
    for (let i = 0; i < 4; i++) filter.outbound(packet(v4(self), v4(bob), 17, udp(30000 + i, 53)));
    for (let i = 0; i < 200; i++) {
      clock.advance(1);
      expect(filter.inbound(packet(v4(server), v4(self), 17, udp(10000 + i, 5000)), keyOf(4))).toBe(
        true,
      );
    }
    expect(filter.flowCount).toBe(8);
    for (let i = 0; i < 4; i++) {
      expect(filter.inbound(packet(v4(bob), v4(self), 17, udp(53, 30000 + i)), keyOf(3))).toBe(
        true,
      );
    }
  });
});
