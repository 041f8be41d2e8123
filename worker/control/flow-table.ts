// The packet filter's connection table (packet-filter.ts): flows this node started, so that the
// answers to them are let in even when no rule of this node would accept them, and flows a
// peer started, so that this node's answers to those are not mistaken for flows of its own
// (which would keep a revoked peer's traffic coming in). Fixed-size typed arrays, chained
// buckets, idle expiry checked on lookup, bounded: no allocation per packet.

import type { Clock } from "../wireguard/clock.ts";

/** Who opened a flow. */
export const FLOW_OURS = 1;
/** A peer opened it and a rule let it in. */
export const FLOW_THEIRS = 2;

/** The protocol classes the table tracks (ICMP echo over IPv4 and IPv6 share one). */
export const FLOW_TCP = 6;
export const FLOW_UDP = 17;
export const FLOW_ICMP = 1;

/** How long a flow lives without a packet either way, per protocol (ms). */
export interface FlowIdle {
  tcp: number;
  udp: number;
  icmp: number;
}

/**
 * Defaults: TCP 2 h (an idle SSH session must still get its output), UDP 3 min (conntrack's
 * "stream" timeout), ICMP echo 30 s.
 */
export const DEFAULT_FLOW_IDLE: FlowIdle = { tcp: 2 * 3600_000, udp: 180_000, icmp: 30_000 };

/** Default number of flows kept at once. */
export const DEFAULT_MAX_FLOWS = 4096;

const FREE = 0;
const ADDRESS_BYTES = 16;

/** Counters of the table. */
export interface FlowStats {
  /** Flows recorded. */
  created: number;
  /** Flows found idle past their protocol's limit and forgotten. */
  expired: number;
  /** Live flows dropped to make room (the least recently used). */
  evicted: number;
}

/**
 * A bounded table of flows keyed by (protocol, local address, local port, remote address,
 * remote port); ICMP echo uses the echo identifier as both ports. Addresses are 4 or 16 bytes.
 */
export class FlowTable {
  readonly stats: FlowStats = { created: 0, expired: 0, evicted: 0 };
  private readonly capacity: number;
  private readonly mask: number;
  private readonly buckets: Int32Array;
  private readonly next: Int32Array;
  private readonly origin: Uint8Array;
  private readonly proto: Uint8Array;
  private readonly family: Uint8Array;
  private readonly localPort: Uint16Array;
  private readonly remotePort: Uint16Array;
  private readonly hashes: Uint32Array;
  private readonly seen: Float64Array;
  private readonly addresses: Uint8Array;
  private freeHead: number;
  private live = 0;
  /** Live flows a peer opened (they may fill at most half the table before evicting their own). */
  private theirs = 0;

  constructor(
    private readonly clock: Clock,
    maxFlows = DEFAULT_MAX_FLOWS,
    private readonly idle: FlowIdle = DEFAULT_FLOW_IDLE,
  ) {
    if (!Number.isInteger(maxFlows) || maxFlows < 2 || maxFlows > 1 << 20) {
      throw new RangeError(`flow table size must be an integer from 2 to 1048576, got ${maxFlows}`);
    }
    this.capacity = maxFlows;
    let buckets = 1;
    while (buckets < maxFlows) buckets <<= 1;
    this.mask = buckets - 1;
    this.buckets = new Int32Array(buckets).fill(-1);
    this.next = new Int32Array(maxFlows);
    for (let i = 0; i < maxFlows; i++) this.next[i] = i + 1 < maxFlows ? i + 1 : -1;
    this.freeHead = 0;
    this.origin = new Uint8Array(maxFlows);
    this.proto = new Uint8Array(maxFlows);
    this.family = new Uint8Array(maxFlows);
    this.localPort = new Uint16Array(maxFlows);
    this.remotePort = new Uint16Array(maxFlows);
    this.hashes = new Uint32Array(maxFlows);
    this.seen = new Float64Array(maxFlows);
    this.addresses = new Uint8Array(maxFlows * 2 * ADDRESS_BYTES);
  }

  /** Live flows (some may be idle past their limit until looked up or swept). */
  get size(): number {
    return this.live;
  }

  /**
   * The origin (FLOW_OURS or FLOW_THEIRS) of the live flow with this key, refreshing its idle
   * time, or 0 when there is none (an idle one found is forgotten).
   */
  touch(
    proto: number,
    local: Uint8Array,
    localPort: number,
    remote: Uint8Array,
    remotePort: number,
  ): number {
    const hash = flowHash(proto, local, localPort, remote, remotePort);
    const slot = this.find(hash, proto, local, localPort, remote, remotePort);
    if (slot < 0) return 0;
    const now = this.clock.now();
    if (now - this.seen[slot]! > this.idleOf(proto)) {
      this.release(slot, hash);
      this.stats.expired++;
      return 0;
    }
    this.seen[slot] = now;
    return this.origin[slot]!;
  }

  /** Records a flow that {@link touch} did not find, making room when the table is full. */
  insert(
    proto: number,
    local: Uint8Array,
    localPort: number,
    remote: Uint8Array,
    remotePort: number,
    origin: typeof FLOW_OURS | typeof FLOW_THEIRS,
  ): void {
    if (this.freeHead < 0) this.makeRoom(origin);
    const slot = this.freeHead;
    this.freeHead = this.next[slot]!;
    const hash = flowHash(proto, local, localPort, remote, remotePort);
    this.origin[slot] = origin;
    this.proto[slot] = proto;
    this.family[slot] = local.length;
    this.localPort[slot] = localPort;
    this.remotePort[slot] = remotePort;
    this.hashes[slot] = hash;
    this.seen[slot] = this.clock.now();
    const base = slot * 2 * ADDRESS_BYTES;
    this.addresses.fill(0, base, base + 2 * ADDRESS_BYTES);
    this.addresses.set(local, base);
    this.addresses.set(remote, base + ADDRESS_BYTES);
    const bucket = hash & this.mask;
    this.next[slot] = this.buckets[bucket]!;
    this.buckets[bucket] = slot;
    this.live++;
    if (origin === FLOW_THEIRS) this.theirs++;
    this.stats.created++;
  }

  /** Forgets every flow. */
  clear(): void {
    for (let slot = 0; slot < this.capacity; slot++) {
      if (this.origin[slot] !== FREE) this.release(slot, this.hashes[slot]!);
    }
  }

  private idleOf(proto: number): number {
    return proto === FLOW_TCP ? this.idle.tcp : proto === FLOW_UDP ? this.idle.udp : this.idle.icmp;
  }

  private find(
    hash: number,
    proto: number,
    local: Uint8Array,
    localPort: number,
    remote: Uint8Array,
    remotePort: number,
  ): number {
    for (let slot = this.buckets[hash & this.mask]!; slot >= 0; slot = this.next[slot]!) {
      if (
        this.hashes[slot] === hash &&
        this.proto[slot] === proto &&
        this.family[slot] === local.length &&
        this.localPort[slot] === localPort &&
        this.remotePort[slot] === remotePort &&
        this.sameAddress(slot * 2 * ADDRESS_BYTES, local) &&
        this.sameAddress(slot * 2 * ADDRESS_BYTES + ADDRESS_BYTES, remote)
      ) {
        return slot;
      }
    }
    return -1;
  }

  private sameAddress(at: number, address: Uint8Array): boolean {
    for (let i = 0; i < address.length; i++)
      if (this.addresses[at + i] !== address[i]) return false;
    return true;
  }

  /**
   * Frees the expired flows; when none is, evicts the least recently used one, taken among the
   * peers' flows once they hold half the table, so that a peer opening flows to us cannot push
   * out the flows whose answers we wait for.
   */
  private makeRoom(incoming: number): void {
    const now = this.clock.now();
    const theirsFull = incoming === FLOW_THEIRS && this.theirs >= this.capacity / 2;
    let oldest = -1;
    for (let slot = 0; slot < this.capacity; slot++) {
      const origin = this.origin[slot]!;
      if (origin === FREE) continue;
      if (now - this.seen[slot]! > this.idleOf(this.proto[slot]!)) {
        this.release(slot, this.hashes[slot]!);
        this.stats.expired++;
        continue;
      }
      if (theirsFull && origin !== FLOW_THEIRS) continue;
      if (oldest < 0 || this.seen[slot]! < this.seen[oldest]!) oldest = slot;
    }
    if (this.freeHead >= 0) return;
    this.release(oldest, this.hashes[oldest]!);
    this.stats.evicted++;
  }

  private release(slot: number, hash: number): void {
    const bucket = hash & this.mask;
    let previous = -1;
    for (let at = this.buckets[bucket]!; at >= 0; at = this.next[at]!) {
      if (at === slot) break;
      previous = at;
    }
    if (previous < 0) this.buckets[bucket] = this.next[slot]!;
    else this.next[previous] = this.next[slot]!;
    if (this.origin[slot] === FLOW_THEIRS) this.theirs--;
    this.origin[slot] = FREE;
    this.next[slot] = this.freeHead;
    this.freeHead = slot;
    this.live--;
  }
}

/** FNV-1a over the key's fields (no allocation). */
function flowHash(
  proto: number,
  local: Uint8Array,
  localPort: number,
  remote: Uint8Array,
  remotePort: number,
): number {
  let h = 0x811c9dc5 ^ proto;
  h = Math.imul(h ^ localPort, 0x01000193);
  h = Math.imul(h ^ remotePort, 0x01000193);
  for (let i = 0; i < local.length; i++) h = Math.imul(h ^ local[i]!, 0x01000193);
  for (let i = 0; i < remote.length; i++) h = Math.imul(h ^ remote[i]!, 0x01000193);
  return h >>> 0;
}
