// The inbound packet filter a node enforces (DESIGN: authorization at the destination). The
// device hands over each decrypted inner packet with the WireGuard key it came from; the filter
// looks that key up in the current map and lets the packet in only when its source is one of
// the peer's mesh addresses, its destination one of ours, and either a FilterRule of this node
// accepts it or it answers a flow this node opened (flow-table.ts). Everything else is dropped
// and counted by reason. Rules are compiled per peer on its first packet after a map change
// (which rules its user, tags and addresses select, as flat port ranges per address), so a
// packet costs a parse, a few comparisons and no allocation besides the parser's view object.

import {
  IPPROTO_ICMP,
  IPPROTO_ICMPV6,
  IPPROTO_TCP,
  IPPROTO_UDP,
  type IpPacket,
  parseIp,
} from "../net/wire/ip.ts";
import type { Clock } from "../wireguard/clock.ts";
import { keyToBase64 } from "../wireguard/keys.ts";
import {
  type CompiledPeer,
  type CompiledRule,
  compilePeer,
  compileRule,
  indexOf,
  parseAddresses,
  rangesAccept,
  same,
} from "./filter-rules.ts";
import {
  DEFAULT_FLOW_IDLE,
  DEFAULT_MAX_FLOWS,
  FLOW_ICMP,
  FLOW_OURS,
  FLOW_TCP,
  FLOW_THEIRS,
  FLOW_UDP,
  type FlowIdle,
  type FlowStats,
  FlowTable,
} from "./flow-table.ts";
import type { NetworkMap, PeerView } from "./types.ts";

/** Why the filter dropped an inbound packet. */
export type FilterDropReason =
  /** Not a complete, valid IP packet, or a TCP/UDP/ICMP header cut short. */
  | "malformed"
  /** A fragment: there is no reassembly. */
  | "fragment"
  /** Not TCP, UDP or ICMP (ICMPv6 over IPv6). */
  | "unknownProtocol"
  /** The WireGuard key is not a peer of the current map (or there is no map yet). */
  | "unknownPeer"
  /** The source address is not one of that peer's mesh addresses. */
  | "spoofedSource"
  /** The destination is not one of this node's addresses. */
  | "notForThisNode"
  /** No rule accepts it and it answers no flow this node opened. */
  | "noRule";

/** Every drop reason, in a stable order (for status and metrics). */
export const FILTER_DROP_REASONS: readonly FilterDropReason[] = [
  "malformed",
  "fragment",
  "unknownProtocol",
  "unknownPeer",
  "spoofedSource",
  "notForThisNode",
  "noRule",
];

/** The filter's counters; they only grow. */
export interface FilterCounters {
  /** Inbound packets a rule accepted. */
  acceptedByRule: number;
  /** Inbound packets accepted as answers to flows this node opened. */
  acceptedAsReply: number;
  /** Inbound packets dropped, per reason. */
  dropped: Record<FilterDropReason, number>;
}

/** The parts of a map the filter reads. */
export type FilterMap = Pick<NetworkMap, "self" | "peers" | "filter">;

/** Options of a PacketFilter. */
export interface PacketFilterOptions {
  clock: Clock;
  /** Flows tracked at once (default 4096); the least recently used go first. */
  maxFlows?: number;
  /** Idle time after which a flow is forgotten, per protocol (defaults in flow-table.ts). */
  idleMs?: Partial<FlowIdle>;
}

/** What one map compiles to. */
interface Compiled {
  self: Uint8Array[];
  peers: Map<string, PeerView>;
  rules: CompiledRule[];
  /** Per key object the device passes (one per peer): the compiled peer, null if unknown. */
  cache: WeakMap<Uint8Array, CompiledPeer | null>;
}

/** The inbound filter of one node, with its table of flows. */
export class PacketFilter {
  readonly counters: FilterCounters = {
    acceptedByRule: 0,
    acceptedAsReply: 0,
    dropped: {
      malformed: 0,
      fragment: 0,
      unknownProtocol: 0,
      unknownPeer: 0,
      spoofedSource: 0,
      notForThisNode: 0,
      noRule: 0,
    },
  };
  private readonly flows: FlowTable;
  private compiled: Compiled | undefined;

  constructor(options: PacketFilterOptions) {
    this.flows = new FlowTable(options.clock, options.maxFlows ?? DEFAULT_MAX_FLOWS, {
      ...DEFAULT_FLOW_IDLE,
      ...options.idleMs,
    });
  }

  /** The flow table's counters. */
  get flowStats(): Readonly<FlowStats> {
    return this.flows.stats;
  }

  /** Flows tracked now. */
  get flowCount(): number {
    return this.flows.size;
  }

  /**
   * Takes a new map: the next packets are judged by its peers and rules. Flows stay (answers to
   * what this node opened are still answers). Addresses or CIDRs that do not parse select
   * nothing (the codec refuses them before they get here).
   */
  setMap(map: FilterMap): void {
    this.compiled = {
      self: parseAddresses(map.self.addresses),
      peers: new Map(map.peers.map((peer) => [peer.key, peer])),
      rules: map.filter.map(compileRule),
      cache: new WeakMap(),
    };
  }

  /**
   * Judges a packet the device decrypted from the peer with `peerPublicKey`: true to deliver
   * it, false when it is dropped (and counted). Never throws.
   */
  inbound(packet: Uint8Array, peerPublicKey: Uint8Array): boolean {
    const ip = parseIp(packet);
    if (!ip.ok) return this.drop(ip.fragment ? "fragment" : "malformed");
    const flowProto = flowClass(ip);
    if (flowProto < 0) return this.drop("unknownProtocol");
    const payload = ip.payload;
    if (!transportComplete(flowProto, payload)) return this.drop("malformed");
    const compiled = this.compiled;
    if (compiled === undefined) return this.drop("unknownPeer");
    if (indexOf(compiled.self, ip.destination) < 0) return this.drop("notForThisNode");
    const peer = this.peerOf(compiled, peerPublicKey);
    if (peer === null) return this.drop("unknownPeer");
    const at = indexOf(peer.addresses, ip.source);
    if (at < 0) return this.drop("spoofedSource");
    if (this.answersOurFlow(ip, flowProto, payload)) {
      this.counters.acceptedAsReply++;
      return true;
    }
    const port = flowProto === FLOW_ICMP ? 0 : (payload[2]! << 8) | payload[3]!;
    if (!rangesAccept(peer.ranges[at]!, flowProto, port)) return this.drop("noRule");
    if (flowProto === FLOW_UDP) {
      // Remember the peer opened it, so our answers do not count as flows of ours.
      const srcPort = (payload[0]! << 8) | payload[1]!;
      if (this.flows.touch(FLOW_UDP, ip.destination, port, ip.source, srcPort) === 0) {
        this.flows.insert(FLOW_UDP, ip.destination, port, ip.source, srcPort, FLOW_THEIRS);
      }
    }
    this.counters.acceptedByRule++;
    return true;
  }

  /**
   * Notes a packet this node sends into the tunnel: a TCP SYN, a UDP datagram on a flow nobody
   * opened yet, and an ICMP echo request open a flow whose answers {@link inbound} lets in;
   * other packets of a known flow keep it alive. Never throws.
   */
  outbound(packet: Uint8Array): void {
    const ip = parseIp(packet);
    if (!ip.ok) return;
    const flowProto = flowClass(ip);
    if (flowProto < 0) return;
    const p = ip.payload;
    if (!transportComplete(flowProto, p)) return;
    if (flowProto === FLOW_ICMP) {
      if (!isEchoRequest(ip.version, p[0]!)) return;
      const id = (p[4]! << 8) | p[5]!;
      if (this.flows.touch(FLOW_ICMP, ip.source, id, ip.destination, id) === 0) {
        this.flows.insert(FLOW_ICMP, ip.source, id, ip.destination, id, FLOW_OURS);
      }
      return;
    }
    const srcPort = (p[0]! << 8) | p[1]!;
    const dstPort = (p[2]! << 8) | p[3]!;
    const known = this.flows.touch(flowProto, ip.source, srcPort, ip.destination, dstPort);
    if (known !== 0) return;
    // TCP: only a SYN opens a flow; our answers to a peer's connection (SYN-ACK, ACK, RST) do not.
    if (flowProto === FLOW_TCP && (p[13]! & 0x12) !== 0x02) return;
    this.flows.insert(flowProto, ip.source, srcPort, ip.destination, dstPort, FLOW_OURS);
  }

  /** Forgets every flow (for a node that starts over). */
  clearFlows(): void {
    this.flows.clear();
  }

  private drop(reason: FilterDropReason): false {
    this.counters.dropped[reason]++;
    return false;
  }

  private peerOf(compiled: Compiled, key: Uint8Array): CompiledPeer | null {
    const cached = compiled.cache.get(key);
    if (cached !== undefined) return cached;
    const view = key.length === 32 ? compiled.peers.get(keyToBase64(key)) : undefined;
    const peer = view === undefined ? null : compilePeer(view, compiled.rules);
    compiled.cache.set(key, peer);
    return peer;
  }

  /** Whether the packet answers a flow this node opened (ICMP errors about one included). */
  private answersOurFlow(ip: IpPacket, flowProto: number, p: Uint8Array): boolean {
    if (flowProto === FLOW_ICMP) {
      const type = p[0]!;
      if (isEchoReply(ip.version, type)) {
        const id = (p[4]! << 8) | p[5]!;
        return this.flows.touch(FLOW_ICMP, ip.destination, id, ip.source, id) === FLOW_OURS;
      }
      if (!isIcmpError(ip.version, type)) return false;
      // The quoted packet is one we sent: its source is us, its destination the peer.
      const quoted = parseIp(p.subarray(8), { quoted: true });
      if (!quoted.ok) return false;
      // In the mesh there are no routers between: the peer reports on a packet we sent to it.
      if (!same(quoted.source, ip.destination) || !same(quoted.destination, ip.source))
        return false;
      const proto = flowClass(quoted);
      if (proto !== FLOW_TCP && proto !== FLOW_UDP) return false;
      const q = quoted.payload;
      if (q.length < 4) return false;
      const srcPort = (q[0]! << 8) | q[1]!;
      const dstPort = (q[2]! << 8) | q[3]!;
      return (
        this.flows.touch(proto, quoted.source, srcPort, quoted.destination, dstPort) === FLOW_OURS
      );
    }
    const srcPort = (p[0]! << 8) | p[1]!;
    const dstPort = (p[2]! << 8) | p[3]!;
    return this.flows.touch(flowProto, ip.destination, dstPort, ip.source, srcPort) === FLOW_OURS;
  }
}

/** The flow class of a parsed packet, or -1 for a protocol the filter does not pass. */
function flowClass(ip: IpPacket): number {
  switch (ip.protocol) {
    case IPPROTO_TCP:
      return FLOW_TCP;
    case IPPROTO_UDP:
      return FLOW_UDP;
    case IPPROTO_ICMP:
      return ip.version === 4 ? FLOW_ICMP : -1;
    case IPPROTO_ICMPV6:
      return ip.version === 6 ? FLOW_ICMP : -1;
    default:
      return -1;
  }
}

/** Whether the transport header is all there (checksums are the IP stack's business). */
function transportComplete(flowProto: number, p: Uint8Array): boolean {
  if (flowProto === FLOW_TCP) {
    if (p.length < 20) return false;
    const offset = (p[12]! >> 4) * 4;
    return offset >= 20 && offset <= p.length;
  }
  if (flowProto === FLOW_UDP) {
    if (p.length < 8) return false;
    const length = (p[4]! << 8) | p[5]!;
    return length >= 8 && length <= p.length;
  }
  return p.length >= 8;
}

function isEchoRequest(version: 4 | 6, type: number): boolean {
  return version === 4 ? type === 8 : type === 128;
}

function isEchoReply(version: 4 | 6, type: number): boolean {
  return version === 4 ? type === 0 : type === 129;
}

/** Destination unreachable and time exceeded (v4: 3, 11; v6: 1, 2 packet too big, 3). */
function isIcmpError(version: 4 | 6, type: number): boolean {
  return version === 4 ? type === 3 || type === 11 : type === 1 || type === 2 || type === 3;
}
