// The inbound packet filter (worker/control/packet-filter.ts) on hand-laid IPv4/IPv6 packets:
// rules by user, tag and CIDR with port ranges, answers to flows this node opened (and their
// idle expiry on a fake clock), spoofed sources, malformed packets counted by reason, the
// bounded flow table, and a seeded fuzz that must never throw.

import { describe, expect, it } from "vitest";
import {
  FILTER_DROP_REASONS,
  type FilterDropReason,
  type FilterMap,
  PacketFilter,
} from "../../worker/control/packet-filter.ts";
import type { FilterRule, PeerView } from "../../worker/control/types.ts";
import { buildIp } from "../../worker/net/wire/ip.ts";
import { FakeClock } from "../../worker/wireguard/clock.ts";
import { parseIp } from "../../worker/wireguard/ip-address.ts";
import { keyToBase64 } from "../../worker/wireguard/keys.ts";
import { seededBytes, seededInts } from "../helpers/seeded.ts";

const keyOf = (n: number) => new Uint8Array(32).fill(n);

function peer(id: number, user: number | null, tags: string[], v4: string, v6: string): PeerView {
  return {
    id,
    key: keyToBase64(keyOf(id)),
    name: `node-${id}`,
    addresses: [v4, v6],
    user: user === null ? null : { id: user, name: `user ${user}`, email: "" },
    tags,
    hostname: `node-${id}`,
    os: "linux",
    ephemeral: false,
    keyExpiry: null,
    sshHostKeys: [],
    online: true,
    lastSeen: null,
    endpoints: [],
    homeRelay: "default",
  };
}

const self = peer(1, 10, [], "100.64.0.1", "fd7a:115c:a1e0::1");
const alice = peer(2, 10, [], "100.64.0.2", "fd7a:115c:a1e0::2");
const bob = peer(3, 20, [], "100.64.0.3", "fd7a:115c:a1e0::3");
const server = peer(4, null, ["tag:server"], "100.64.0.4", "fd7a:115c:a1e0::4");
const carol = peer(5, 30, [], "100.64.0.5", "fd7a:115c:a1e0::5");

const RULES: FilterRule[] = [
  { src: { users: [10] }, ports: [{ proto: "tcp", first: 22, last: 22 }] },
  { src: { tags: ["tag:server"] }, ports: [{ proto: "udp", first: 5000, last: 5999 }] },
  {
    src: { cidrs: ["100.64.0.5/32", "fd7a:115c:a1e0::5/128"] },
    ports: [{ proto: "icmp", first: 0, last: 65535 }],
  },
  { src: { users: [20] }, ports: [{ proto: "*", first: 80, last: 80 }] },
];

function mapWith(filter: FilterRule[] = RULES, peers = [alice, bob, server, carol]): FilterMap {
  return { self, peers, filter };
}

const ip = (text: string) => parseIp(text);

/** A TCP header (20 bytes, no options) with the given flags; checksum left 0 (not the filter's business). */
function tcp(srcPort: number, dstPort: number, flags: number): Uint8Array {
  const h = new Uint8Array(20);
  h[0] = srcPort >> 8;
  h[1] = srcPort & 0xff;
  h[2] = dstPort >> 8;
  h[3] = dstPort & 0xff;
  h[12] = 5 << 4;
  h[13] = flags;
  h[15] = 0xff;
  return h;
}

function udp(srcPort: number, dstPort: number, data = 4): Uint8Array {
  const h = new Uint8Array(8 + data);
  h[0] = srcPort >> 8;
  h[1] = srcPort & 0xff;
  h[2] = dstPort >> 8;
  h[3] = dstPort & 0xff;
  h[4] = h.length >> 8;
  h[5] = h.length & 0xff;
  return h;
}

function icmp(type: number, id: number, body: Uint8Array = new Uint8Array(8)): Uint8Array {
  const h = new Uint8Array(8 + body.length);
  h[0] = type;
  h[4] = id >> 8;
  h[5] = id & 0xff;
  h.set(body, 8);
  return h;
}

const SYN = 0x02;
const ACK = 0x10;

/** An IP packet (IPv4 or IPv6 by the addresses) carrying `payload` of `protocol`. */
function packet(src: string, dst: string, protocol: number, payload: Uint8Array): Uint8Array {
  return buildIp({ source: ip(src), destination: ip(dst), protocol }, payload);
}

const v4 = (p: PeerView) => p.addresses[0]!;
const v6 = (p: PeerView) => p.addresses[1]!;

function freshFilter(clock = new FakeClock(), maxFlows?: number): PacketFilter {
  const filter = new PacketFilter({ clock, maxFlows });
  filter.setMap(mapWith());
  return filter;
}

function dropsOf(filter: PacketFilter): Partial<Record<FilterDropReason, number>> {
  return Object.fromEntries(
    Object.entries(filter.counters.dropped).filter(([, n]) => n > 0),
  ) as Partial<Record<FilterDropReason, number>>;
}

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
    filter.setMap(mapWith(RULES, [alice, { ...bob, user: { id: 10, name: "", email: "" } }]));
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

describe("hostile packets", () => {
  const good = () => packet(v4(alice), v4(self), 6, tcp(1, 22, SYN));

  it("drops malformed, truncated, fragmented and unknown-protocol packets, by reason", () => {
    const filter = freshFilter();
    const from = keyOf(2);
    const badChecksum = good();
    badChecksum[10]! ^= 0xff;
    // A first fragment (More Fragments set) with its header checksum recomputed.
    const mf = good();
    mf[6] = 0x20;
    mf[10] = 0;
    mf[11] = 0;
    let sum = 0;
    for (let i = 0; i < 20; i += 2) sum += (mf[i]! << 8) | mf[i + 1]!;
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
    mf[10] = (~sum >> 8) & 0xff;
    mf[11] = ~sum & 0xff;
    const shortTcp = packet(v4(alice), v4(self), 6, tcp(1, 22, SYN).subarray(0, 10));
    const badOffset = tcp(1, 22, SYN);
    badOffset[12] = 15 << 4; // 60-byte header in a 20-byte segment
    const longUdp = udp(1, 5000);
    longUdp[5] = 200;
    const cases: [Uint8Array, FilterDropReason][] = [
      [new Uint8Array(0), "malformed"],
      [good().subarray(0, 12), "malformed"],
      [badChecksum, "malformed"],
      [new Uint8Array([0x75, 0, 0, 0]), "malformed"],
      [mf, "fragment"],
      [shortTcp, "malformed"],
      [packet(v4(alice), v4(self), 6, badOffset), "malformed"],
      [packet(v4(server), v4(self), 17, longUdp), "malformed"],
      [packet(v4(carol), v4(self), 1, new Uint8Array(4)), "malformed"],
      [packet(v4(alice), v4(self), 47, new Uint8Array(24)), "unknownProtocol"],
      [packet(v6(alice), v6(self), 1, icmp(8, 1)), "unknownProtocol"],
      [packet(v4(alice), v4(self), 58, icmp(128, 1)), "unknownProtocol"],
    ];
    for (const [bytes, reason] of cases) {
      const before = filter.counters.dropped[reason];
      expect(filter.inbound(bytes, from)).toBe(false);
      expect(filter.counters.dropped[reason], reason).toBe(before + 1);
    }
    expect(filter.counters.acceptedByRule).toBe(0);
    // The IPv6 fragment header: also a fragment.
    const frag6 = new Uint8Array(8 + 20);
    frag6[0] = 6; // next header: TCP
    frag6[3] = 1; // offset 0, more fragments
    frag6.set(tcp(1, 22, SYN), 8);
    expect(filter.inbound(packet(v6(alice), v6(self), 44, frag6), from)).toBe(false);
    expect(filter.counters.dropped.fragment).toBe(2);
  });

  it("a seeded fuzz of random and mutated packets never throws, and every packet is counted once", () => {
    const clock = new FakeClock();
    const filter = freshFilter(clock, 64);
    const bytes = seededBytes(0xf117e4);
    const int = seededInts(0xf117e5);
    const peers = [alice, bob, server, carol];
    const seeds = [
      () => packet(v4(alice), v4(self), 6, tcp(int(65536), 22, SYN)),
      () => packet(v6(server), v6(self), 17, udp(int(65536), 5000 + int(1200))),
      () => packet(v4(carol), v4(self), 1, icmp(int(256), int(65536))),
      () => packet(v6(bob), v6(self), 58, icmp(129, int(65536))),
      () =>
        packet(
          v4(bob),
          v4(self),
          1,
          icmp(3, 0, packet(v4(self), v4(bob), 17, udp(1, 2)).subarray(0, 28)),
        ),
      () => packet(v4(self), v4(bob), 6, tcp(int(65536), 80, int(256))),
    ];
    let n = 0;
    for (let round = 0; round < 30_000; round++) {
      let p: Uint8Array;
      const how = int(4);
      if (how === 0) p = bytes(int(120));
      else {
        p = seeds[int(seeds.length)]!();
        if (how === 1) for (let k = 1 + int(4); k > 0; k--) p[int(p.length)] = int(256);
        else if (how === 2) p = p.subarray(0, int(p.length + 1));
        else {
          const longer = new Uint8Array(p.length + int(40));
          longer.set(p);
          longer.set(bytes(longer.length - p.length), p.length);
          p = longer;
        }
      }
      const key = int(8) === 0 ? bytes(32) : keyOf(peers[int(peers.length)]!.id);
      filter.inbound(p, key);
      filter.outbound(p);
      if (int(100) === 0) clock.advance(int(60_000));
      n++;
    }
    const dropped = FILTER_DROP_REASONS.reduce((s, r) => s + filter.counters.dropped[r], 0);
    expect(filter.counters.acceptedByRule + filter.counters.acceptedAsReply + dropped).toBe(n);
    expect(filter.flowCount).toBeLessThanOrEqual(64);
    console.log(`packet filter fuzz: ${n} inputs (inbound and outbound), ${dropped} dropped`);
  });
});
