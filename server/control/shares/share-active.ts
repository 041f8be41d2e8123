// The shares in force, as the share overlay (overlay.ts) takes them: read from the store's open
// acceptances (with their shares) and the addresses of their share nodes. Few rows (one per
// open acceptance), read again at every share change (MapSideChanges.sharesChanged).

import type { NodeRecord, OpenAcceptance, StoreTx } from "../store/types.ts";
import type { ActiveShare } from "./overlay.ts";

/**
 * Groups open acceptances by share. A share revoked or expired at `now` offers nothing (its
 * acceptances are being ended: until then they reach nothing); an acceptance whose node is gone
 * (or not made yet) is left out, so no rule names addresses another node may get next.
 */
export function activeShares(
  open: readonly OpenAcceptance[],
  nodeOf: (nodeId: number) => Pick<NodeRecord, "ipv4" | "ipv6" | "shareAcceptanceId"> | null,
  now: number,
): ActiveShare[] {
  const byShare = new Map<
    string,
    ActiveShare & { recipients: ActiveShare["recipients"][number][] }
  >();
  for (const { acceptance, share } of open) {
    if (share.revokedAt !== null || share.expiresAt <= now || acceptance.endedAt !== null) continue;
    if (acceptance.nodeId === null) continue;
    const node = nodeOf(acceptance.nodeId);
    // The node must be the acceptance's own (ids are not reused, but say so rather than trust).
    if (node === null || node.shareAcceptanceId !== acceptance.id) continue;
    let active = byShare.get(share.id);
    if (active === undefined) {
      active = {
        shareId: share.id,
        deviceNodeId: share.nodeId,
        sshUsers: [...share.sshUsers],
        ports: [...share.ports],
        recipients: [],
      };
      byShare.set(share.id, active);
    }
    active.recipients.push({
      acceptanceId: acceptance.id,
      nodeId: acceptance.nodeId,
      addresses: [node.ipv4, node.ipv6],
    });
  }
  return [...byShare.values()];
}

/** activeShares from the store (one read of the open acceptances, one per share node). */
export async function loadActiveShares(tx: StoreTx, now: number): Promise<ActiveShare[]> {
  const open = await tx.listOpenAcceptances();
  const nodes = new Map<number, NodeRecord | null>();
  for (const { acceptance } of open) {
    if (acceptance.nodeId !== null)
      nodes.set(acceptance.nodeId, await tx.nodeById(acceptance.nodeId));
  }
  return activeShares(open, (id) => nodes.get(id) ?? null, now);
}
