// The packet filter's rules, compiled (packet-filter.ts): each FilterRule's selectors parsed
// once per map, and per peer the port ranges of every rule that selects it, per address, as a
// flat Int32Array that a packet is checked against without allocating.

import { type Prefix, parseCidr } from "../wireguard/allowed-ips.ts";
import { parseIp as parseAddress } from "../wireguard/ip-address.ts";
import { FLOW_ICMP, FLOW_TCP, FLOW_UDP } from "./flow-table.ts";
import type { FilterRule, PeerView } from "./types.ts";

// Protocol codes of compiled port ranges: 0 = any, else the FLOW_* class.
const ANY = 0;

/** A rule with its selectors parsed once per map. */
export interface CompiledRule {
  any: boolean;
  users: ReadonlySet<number>;
  tags: ReadonlySet<string>;
  cidrs: Prefix[];
  /** Acceptance ids of share recipients (SourceSelector.shares). */
  shares: ReadonlySet<number>;
  /** [proto, first, last] triples. */
  ranges: number[];
}

/** A peer as the filter sees it: its addresses and, per address, what rules open to it. */
export interface CompiledPeer {
  addresses: Uint8Array[];
  /** Per address: the [proto, first, last] triples of every rule that selects it. */
  ranges: Int32Array[];
}

/** Whether the [proto, first, last] triples open `port` of `flowProto` (ICMP: any range of its protocol). */
export function rangesAccept(ranges: Int32Array, flowProto: number, port: number): boolean {
  for (let i = 0; i < ranges.length; i += 3) {
    const proto = ranges[i]!;
    if (proto !== ANY && proto !== flowProto) continue;
    // ICMP has no ports: any range of a matching protocol opens it.
    if (flowProto === FLOW_ICMP || (ranges[i + 1]! <= port && port <= ranges[i + 2]!)) return true;
  }
  return false;
}

/** Byte equality. */
export function same(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The index of `address` in `addresses` (equal bytes), or -1. */
export function indexOf(addresses: readonly Uint8Array[], address: Uint8Array): number {
  outer: for (let i = 0; i < addresses.length; i++) {
    const a = addresses[i]!;
    if (a.length !== address.length) continue;
    for (let j = 0; j < a.length; j++) if (a[j] !== address[j]) continue outer;
    return i;
  }
  return -1;
}

/** Mesh addresses as bytes ("a.b.c.d" or "a.b.c.d/32"); what does not parse is left out. */
export function parseAddresses(texts: readonly string[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const text of texts) {
    try {
      // Addresses may come as "100.64.0.1" or "100.64.0.1/32": the host part is the address.
      const slash = text.indexOf("/");
      out.push(parseAddress(slash < 0 ? text : text.slice(0, slash)));
    } catch {
      // An address that does not parse matches no packet.
    }
  }
  return out;
}

function protoCode(proto: string): number {
  if (proto === "tcp") return FLOW_TCP;
  if (proto === "udp") return FLOW_UDP;
  if (proto === "icmp") return FLOW_ICMP;
  return ANY;
}

/** A rule with its selectors parsed; CIDRs that do not parse select nothing. */
export function compileRule(rule: FilterRule): CompiledRule {
  const cidrs: Prefix[] = [];
  for (const text of rule.src.cidrs ?? []) {
    try {
      cidrs.push(parseCidr(text, "filter source"));
    } catch {
      // Selects nothing.
    }
  }
  const ranges: number[] = [];
  for (const range of rule.ports) ranges.push(protoCode(range.proto), range.first, range.last);
  return {
    any: rule.src.any === true,
    users: new Set(rule.src.users ?? []),
    tags: new Set(rule.src.tags ?? []),
    cidrs,
    shares: new Set(rule.src.shares ?? []),
    ranges,
  };
}

function inPrefix(address: Uint8Array, prefix: Prefix): boolean {
  if (address.length !== prefix.addr.length) return false;
  let bits = prefix.bits;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((address[i]! & mask) !== prefix.addr[i]) return false;
  }
  return true;
}

/**
 * Which rules select the peer (by user, tag or, per address, CIDR), as flat port ranges. A
 * share recipient's node (`view.share`) is selected by the rules whose `shares` hold its
 * acceptance and by nothing else: not `any`, users, tags nor a CIDR covering its address.
 */
export function compilePeer(view: PeerView, rules: readonly CompiledRule[]): CompiledPeer {
  const addresses = parseAddresses(view.addresses);
  const share = view.share;
  if (share !== undefined) {
    const flat: number[] = [];
    for (const rule of rules) if (rule.shares.has(share.acceptanceId)) flat.push(...rule.ranges);
    const ranges = Int32Array.from(flat);
    return { addresses, ranges: addresses.map(() => ranges) };
  }
  const userId = view.user?.id;
  const byIdentity = rules.map(
    (rule) =>
      rule.any ||
      (userId !== undefined && rule.users.has(userId)) ||
      view.tags.some((tag) => rule.tags.has(tag)),
  );
  const ranges = addresses.map((address) => {
    const flat: number[] = [];
    rules.forEach((rule, i) => {
      if (byIdentity[i] || rule.cidrs.some((prefix) => inPrefix(address, prefix))) {
        flat.push(...rule.ranges);
      }
    });
    return Int32Array.from(flat);
  });
  return { addresses, ranges };
}
