// Connection slots: how many WebSockets the relay holds, in total and per source address, and
// how many of them have not finished the hello yet. A slot is taken when an upgrade is accepted
// and given back when its TCP socket is gone (not when the relay decides to close it: a peer
// that never completes the close handshake still holds a file descriptor and memory).
//
// Unauthenticated sockets have their own, smaller caps, so sockets that never say hello cannot
// take the places of clients that did; the per-address caps keep one machine from taking all.

import { isIPv4 } from "node:net";
import { formatIp, parseIp } from "../../worker/wireguard/ip-address.ts";

/** The caps; see RelayOptions for their meaning and defaults. */
export interface ConnectionLimits {
  maxConnections: number;
  maxUnauthenticated: number;
  maxConnectionsPerAddress: number;
  maxUnauthenticatedPerAddress: number;
}

/** Which cap refused a connection (the `reason` of corridor_relay_upgrades_rejected_total). */
export type SlotRefusal =
  | "max_connections"
  | "max_unauthenticated"
  | "per_address"
  | "unauthenticated_per_address";

interface AddressCount {
  all: number;
  unauthenticated: number;
}

/**
 * The group a remote address counts against: an IPv4 address (IPv4-mapped IPv6 unmapped) or
 * an IPv6 /64, since one IPv6 host is given a whole /64 and can pick any address in it.
 */
export function addressGroup(remote: string | undefined): string {
  if (remote === undefined || remote === "") return "?";
  if (isIPv4(remote)) return remote;
  let bytes: Uint8Array;
  try {
    bytes = parseIp(remote.split("%")[0] ?? "");
  } catch {
    return remote;
  }
  if (bytes.length === 4) return formatIp(bytes);
  const mapped = bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff;
  if (mapped && bytes[11] === 0xff) return formatIp(bytes.subarray(12));
  const prefix = new Uint8Array(16);
  prefix.set(bytes.subarray(0, 8));
  return `${formatIp(prefix)}/64`;
}

/** One accepted connection's place. release() and authenticated() may be called repeatedly. */
export class ConnectionSlot {
  private unauthenticated = true;
  private released = false;

  constructor(
    private readonly slots: ConnectionSlots,
    /** The address group (addressGroup()) this slot counts against. */
    readonly group: string,
  ) {}

  /** The hello succeeded: the slot no longer counts as unauthenticated. */
  authenticated(): void {
    if (this.released || !this.unauthenticated) return;
    this.unauthenticated = false;
    this.slots.leaveUnauthenticated(this.group);
  }

  /** The socket is gone. */
  release(): void {
    if (this.released) return;
    this.released = true;
    this.slots.leave(this.group, this.unauthenticated);
  }
}

/** The counts behind the caps. */
export class ConnectionSlots {
  /** Open sockets. */
  total = 0;
  /** Open sockets that have not been welcomed. */
  unauthenticated = 0;
  private readonly byGroup = new Map<string, AddressCount>();

  constructor(private readonly limits: ConnectionLimits) {}

  /** Takes a slot for a new socket from `remote`, or says which cap refuses it. */
  acquire(remote: string | undefined): ConnectionSlot | SlotRefusal {
    const group = addressGroup(remote);
    const count = this.byGroup.get(group) ?? { all: 0, unauthenticated: 0 };
    if (this.total >= this.limits.maxConnections) return "max_connections";
    if (count.all >= this.limits.maxConnectionsPerAddress) return "per_address";
    if (this.unauthenticated >= this.limits.maxUnauthenticated) return "max_unauthenticated";
    if (count.unauthenticated >= this.limits.maxUnauthenticatedPerAddress) {
      return "unauthenticated_per_address";
    }
    count.all++;
    count.unauthenticated++;
    this.byGroup.set(group, count);
    this.total++;
    this.unauthenticated++;
    return new ConnectionSlot(this, group);
  }

  /** Open sockets from one address group (for tests and logs). */
  countOf(group: string): number {
    return this.byGroup.get(group)?.all ?? 0;
  }

  /** @internal ConnectionSlot.authenticated() */
  leaveUnauthenticated(group: string): void {
    this.unauthenticated--;
    const count = this.byGroup.get(group);
    if (count !== undefined) count.unauthenticated--;
  }

  /** @internal ConnectionSlot.release() */
  leave(group: string, unauthenticated: boolean): void {
    this.total--;
    if (unauthenticated) this.unauthenticated--;
    const count = this.byGroup.get(group);
    if (count === undefined) return;
    count.all--;
    if (unauthenticated) count.unauthenticated--;
    if (count.all <= 0) this.byGroup.delete(group);
  }
}
