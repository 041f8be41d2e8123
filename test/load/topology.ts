// The mesh a load run builds, and what each node must therefore see. A company-shaped mesh:
// `servers` tagged nodes (tag:server) that every member reaches, and clients owned by users in
// groups of `groupSize` nodes (one user per group: a person's or a team's devices), which reach
// each other through autogroup:self and nobody else's. So a server's change reaches every client
// (the fan-out the benchmark's "10,000 peers" means), a client's change reaches its group and
// the servers, and no node's map holds the whole mesh except the servers' (a full mesh of
// 10,000 would be 10^8 peer entries on the client side alone).
//
// Node indexes: 0 .. servers-1 are the servers, the rest clients; client i is in group
// floor((i - servers) / groupSize), owned by member user number `group`.

/** The policy in force at the start (stored before the map side starts). */
export const BASE_POLICY = `{
  // Load rig: servers every member reaches; each user's own devices reach each other.
  "tagOwners": { "tag:server": [] },
  "acls": [
    { "action": "accept", "src": ["autogroup:member"], "dst": ["autogroup:self:*"] },
    { "action": "accept", "src": ["autogroup:member"], "dst": ["tag:server:22,443"] },
  ],
}
`;

/**
 * The changed policy: servers also reach members on port 22, and members reach one more port
 * of the servers. Every node's filter changes (clients: a new rule; servers: their ports), nobody
 * appears or disappears from a map.
 */
export const CHANGED_POLICY = `{
  "tagOwners": { "tag:server": [] },
  "acls": [
    { "action": "accept", "src": ["autogroup:member"], "dst": ["autogroup:self:*"] },
    { "action": "accept", "src": ["autogroup:member"], "dst": ["tag:server:22,443,8443"] },
    { "action": "accept", "src": ["tag:server"], "dst": ["autogroup:member:22"] },
  ],
}
`;

/** The tag servers carry. */
export const SERVER_TAG = "tag:server";

/** The shape of a run. */
export interface Topology {
  /** Every node. */
  total: number;
  servers: number;
  clients: number;
  groupSize: number;
  /** Member users (one per group). */
  users: number;
}

/** A topology of `total` nodes; throws when there is no client left. */
export function topology(total: number, servers: number, groupSize: number): Topology {
  const clients = total - servers;
  if (!Number.isInteger(total) || servers < 1 || clients < 1 || groupSize < 1) {
    throw new RangeError(`topology: ${total} nodes with ${servers} servers leaves no client`);
  }
  return { total, servers, clients, groupSize, users: Math.ceil(clients / groupSize) };
}

/** Whether node `index` is a server. */
export function isServer(t: Topology, index: number): boolean {
  return index < t.servers;
}

/** The group (and member user number) of client `index`. */
export function groupOf(t: Topology, index: number): number {
  return Math.floor((index - t.servers) / t.groupSize);
}

/** The client indexes of `group`. */
export function groupMembers(t: Topology, group: number): number[] {
  const first = t.servers + group * t.groupSize;
  const end = Math.min(t.total, first + t.groupSize);
  return Array.from({ length: end - first }, (_, i) => first + i);
}

/** The indexes of the nodes that must hold node `index` as a peer (its viewers). */
export function viewersOf(t: Topology, index: number): number[] {
  if (isServer(t, index)) return Array.from({ length: t.clients }, (_, i) => t.servers + i);
  const servers = Array.from({ length: t.servers }, (_, i) => i);
  return [...servers, ...groupMembers(t, groupOf(t, index)).filter((i) => i !== index)];
}

/** How many peers node `index`'s map must hold once every node joined. */
export function peerCount(t: Topology, index: number): number {
  if (isServer(t, index)) return t.clients;
  return t.servers + groupMembers(t, groupOf(t, index)).length - 1;
}

/** A distinct hostname per node (distinct names register fastest: no name stem to count). */
export function hostnameOf(t: Topology, index: number): string {
  return isServer(t, index) ? `server-${index}` : `client-${index}`;
}
