// A new node's name and addresses, chosen and written in one go. Two registrations running at
// once (two PostgreSQL transactions, or two control servers) can pick the same free name or
// address; the unique constraints let only one of them write it, and the other picks again.
// The failed insert leaves the caller's transaction usable (both adapters), so this runs inside
// the registration's transaction with the rest of it (auth key use, ...).

import { IPV4_CAPACITY, IPV4_FIRST, IPV4_LAST, ipv6ForIpv4 } from "./addresses.ts";
import { dnsLabel, uniqueName } from "./names.ts";
import { type NewNode, type NodeRecord, StoreConflictError, type StoreTx } from "./types.ts";

/** A node to register: everything but what allocation chooses. */
export type NodeToAllocate = Omit<NewNode, "name" | "ipv4" | "ipv6">;

/** Thrown when every IPv4 address of the mesh is taken. */
export class AddressesExhaustedError extends Error {
  constructor() {
    super(`all ${IPV4_CAPACITY} IPv4 addresses of 100.64.0.0/10 are taken: remove nodes first`);
    this.name = "AddressesExhaustedError";
  }
}

/**
 * Conflicts that a new choice can get around (any other conflict is the caller's):
 * "allocation" is an insert that met a row removed before its conflict could be named.
 */
const RETRIED = new Set(["name", "ipv4", "ipv6", "allocation"]);

/**
 * Creates the node with a unique name from its hostname and the next free addresses (IPv6 from
 * `ipv6Prefix`, the mesh's /48). Throws StoreConflictError for a taken node key (the caller's
 * to handle), AddressesExhaustedError, or the last conflict after `attempts` lost races.
 */
export async function createNodeAllocated(
  tx: StoreTx,
  node: NodeToAllocate,
  ipv6Prefix: string,
  attempts = 64,
): Promise<NodeRecord> {
  const base = dnsLabel(node.hostname);
  let lastConflict: StoreConflictError | undefined;
  for (let i = 0; i < attempts; i++) {
    const name = await uniqueName(tx, base);
    const ipv4 = await tx.freeIpv4(IPV4_FIRST, IPV4_LAST);
    if (ipv4 === null) throw new AddressesExhaustedError();
    try {
      return await tx.createNode({ ...node, name, ipv4, ipv6: ipv6ForIpv4(ipv6Prefix, ipv4) });
    } catch (error) {
      if (!(error instanceof StoreConflictError) || !RETRIED.has(error.field)) throw error;
      lastConflict = error;
    }
  }
  throw lastConflict ?? new Error("createNodeAllocated: attempts must be at least 1");
}
