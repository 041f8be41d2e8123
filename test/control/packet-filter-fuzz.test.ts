// The inbound packet filter (worker/control/packet-filter.ts) against hostile packets: every
// malformed, truncated, fragmented or unknown-protocol packet dropped under its reason, and a
// seeded fuzz of random and mutated packets that must never throw and must count each once.

import { describe, expect, it } from "vitest";
import { FILTER_DROP_REASONS, type FilterDropReason } from "../../worker/control/packet-filter.ts";
import { FakeClock } from "../../worker/wireguard/clock.ts";
import { seededBytes, seededInts } from "../helpers/seeded.ts";
import {
  alice,
  bob,
  carol,
  freshFilter,
  icmp,
  keyOf,
  packet,
  SYN,
  self,
  server,
  tcp,
  udp,
  v4,
  v6,
} from "./packet-filter-fixtures.ts";

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
