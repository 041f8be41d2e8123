// How a node is shown to its peers (and to itself): the store's durable record, the owner's
// name and email, and the volatile facts held in memory.

import type { PeerView } from "../../../worker/control/types.ts";
import type { Principal } from "../policy/types.ts";
import type { Volatile } from "../state/volatile.ts";
import type { NodeRecord, UserRecord } from "../store/types.ts";

/**
 * A node's principal: the acceptance of a share's recipient node (which has no owner and no
 * tags), else its owner, or its tags when it has no owner.
 */
export function principalOf(
  node: Pick<NodeRecord, "userId" | "tags"> & { shareAcceptanceId?: number | null },
): Principal {
  if (node.shareAcceptanceId !== undefined && node.shareAcceptanceId !== null)
    return { kind: "share", acceptanceId: node.shareAcceptanceId };
  return node.userId !== null
    ? { kind: "user", userId: node.userId }
    : { kind: "tags", tags: node.tags };
}

/** The PeerView of `node`; `owner` is its user (undefined for tagged nodes). */
export function peerView(
  node: NodeRecord,
  owner: UserRecord | undefined,
  state: Volatile,
): PeerView {
  return {
    id: node.id,
    key: node.nodeKey,
    name: node.name,
    addresses: [node.ipv4, node.ipv6],
    user:
      node.userId === null
        ? null
        : {
            id: node.userId,
            name: owner?.name ?? "",
            email: owner?.email ?? "",
            signedInAt: owner?.lastLoginAt ?? null,
          },
    tags: node.userId === null ? [...node.tags] : [],
    hostname: node.hostname,
    os: node.os,
    ephemeral: node.ephemeral,
    keyExpiry: node.keyExpiry,
    sshHostKeys: [...node.sshHostKeys],
    online: state.online,
    lastSeen: state.lastSeen,
    endpoints: [...state.endpoints],
    homeRelay: state.homeRelay,
    // Marks a share recipient's node: enforcers match it by `shares` rules alone (issue 17).
    ...(node.shareAcceptanceId !== null && node.shareAcceptanceId !== undefined
      ? { share: { acceptanceId: node.shareAcceptanceId } }
      : {}),
  };
}
