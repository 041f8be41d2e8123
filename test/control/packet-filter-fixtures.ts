// Hand-laid packets and a small map for the packet filter tests (packet-filter*.test.ts):
// TCP/UDP/ICMP headers built byte by byte, wrapped in IPv4 or IPv6 by the addresses.

import {
  type FilterDropReason,
  type FilterMap,
  PacketFilter,
} from "../../worker/control/packet-filter.ts";
import type { FilterRule, PeerView } from "../../worker/control/types.ts";
import { buildIp } from "../../worker/net/wire/ip.ts";
import { FakeClock } from "../../worker/wireguard/clock.ts";
import { parseIp } from "../../worker/wireguard/ip-address.ts";
import { keyToBase64 } from "../../worker/wireguard/keys.ts";

export const keyOf = (n: number) => new Uint8Array(32).fill(n);

export function peer(
  id: number,
  user: number | null,
  tags: string[],
  v4: string,
  v6: string,
): PeerView {
  return {
    id,
    key: keyToBase64(keyOf(id)),
    name: `node-${id}`,
    addresses: [v4, v6],
    user: user === null ? null : { id: user, name: `user ${user}`, email: "", signedInAt: null },
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

export const self = peer(1, 10, [], "100.64.0.1", "fd7a:115c:a1e0::1");
export const alice = peer(2, 10, [], "100.64.0.2", "fd7a:115c:a1e0::2");
export const bob = peer(3, 20, [], "100.64.0.3", "fd7a:115c:a1e0::3");
export const server = peer(4, null, ["tag:server"], "100.64.0.4", "fd7a:115c:a1e0::4");
export const carol = peer(5, 30, [], "100.64.0.5", "fd7a:115c:a1e0::5");

export const RULES: FilterRule[] = [
  { src: { users: [10] }, ports: [{ proto: "tcp", first: 22, last: 22 }] },
  { src: { tags: ["tag:server"] }, ports: [{ proto: "udp", first: 5000, last: 5999 }] },
  {
    src: { cidrs: ["100.64.0.5/32", "fd7a:115c:a1e0::5/128"] },
    ports: [{ proto: "icmp", first: 0, last: 65535 }],
  },
  { src: { users: [20] }, ports: [{ proto: "*", first: 80, last: 80 }] },
];

export function mapWith(
  filter: FilterRule[] = RULES,
  peers = [alice, bob, server, carol],
): FilterMap {
  return { self, peers, filter };
}

export const ip = (text: string) => parseIp(text);

/** A TCP header (20 bytes, no options) with the given flags; checksum left 0 (not the filter's business). */
export function tcp(srcPort: number, dstPort: number, flags: number): Uint8Array {
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

export function udp(srcPort: number, dstPort: number, data = 4): Uint8Array {
  const h = new Uint8Array(8 + data);
  h[0] = srcPort >> 8;
  h[1] = srcPort & 0xff;
  h[2] = dstPort >> 8;
  h[3] = dstPort & 0xff;
  h[4] = h.length >> 8;
  h[5] = h.length & 0xff;
  return h;
}

export function icmp(type: number, id: number, body: Uint8Array = new Uint8Array(8)): Uint8Array {
  const h = new Uint8Array(8 + body.length);
  h[0] = type;
  h[4] = id >> 8;
  h[5] = id & 0xff;
  h.set(body, 8);
  return h;
}

export const SYN = 0x02;
export const ACK = 0x10;

/** An IP packet (IPv4 or IPv6 by the addresses) carrying `payload` of `protocol`. */
export function packet(
  src: string,
  dst: string,
  protocol: number,
  payload: Uint8Array,
): Uint8Array {
  return buildIp({ source: ip(src), destination: ip(dst), protocol }, payload);
}

export const v4 = (p: PeerView) => p.addresses[0]!;
export const v6 = (p: PeerView) => p.addresses[1]!;

export function freshFilter(clock = new FakeClock(), maxFlows?: number): PacketFilter {
  const filter = new PacketFilter({ clock, maxFlows });
  filter.setMap(mapWith());
  return filter;
}

export function dropsOf(filter: PacketFilter): Partial<Record<FilterDropReason, number>> {
  return Object.fromEntries(
    Object.entries(filter.counters.dropped).filter(([, n]) => n > 0),
  ) as Partial<Record<FilterDropReason, number>>;
}
