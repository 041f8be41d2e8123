// Share records as the API shows them (worker/control/api-views.ts): the sharer's view with its
// acceptances, and the offer the recipient's page reads before accepting. Never the secret or
// its hash.

import type {
  ShareAcceptanceView,
  ShareOffer,
  ShareState,
  ShareView,
} from "../../../worker/control/api-views.ts";
import type { NodeRecord, ShareAcceptanceRecord, ShareRecord, UserRecord } from "../store/types.ts";

export type {
  ShareAcceptanceView,
  ShareAcceptedBody,
  ShareOffer,
  ShareView,
} from "../../../worker/control/api-views.ts";

/** Where a share stands at `now`. */
export function shareState(share: ShareRecord, now: number): ShareState {
  if (share.revokedAt !== null) return "revoked";
  if (share.expiresAt <= now) return "expired";
  if (share.maxUses !== null && share.uses >= share.maxUses) return "used-up";
  return "active";
}

/**
 * Acceptances with their nodes' names (`names`: node id -> name) and whether each node's map
 * stream is up (`online`, from the map side's memory; false when not given).
 */
export function acceptanceViews(
  acceptances: readonly ShareAcceptanceRecord[],
  names: ReadonlyMap<number, string>,
  online: (nodeId: number) => boolean = () => false,
): ShareAcceptanceView[] {
  return acceptances.map((a) => ({
    id: a.id,
    nodeId: a.nodeId,
    nodeName: a.nodeId === null ? null : (names.get(a.nodeId) ?? null),
    userId: a.userId,
    name: a.guestName,
    userAgent: a.userAgent,
    acceptedAt: a.acceptedAt,
    endedAt: a.endedAt,
    endReason: a.endReason,
    online: a.nodeId !== null && a.endedAt === null && online(a.nodeId),
  }));
}

/** The sharer's view of a share. */
export function shareView(
  share: ShareRecord,
  nodeName: string,
  acceptances: ShareAcceptanceView[],
  now: number = share.createdAt,
): ShareView {
  return {
    id: share.id,
    nodeId: share.nodeId,
    nodeName,
    createdBy: share.createdBy,
    sshUsers: [...share.sshUsers],
    ports: [...share.ports],
    audience: share.audience,
    emails: [...share.emails],
    expiresAt: share.expiresAt,
    maxUses: share.maxUses,
    uses: share.uses,
    note: share.note,
    createdAt: share.createdAt,
    revokedAt: share.revokedAt,
    state: shareState(share, now),
    acceptances,
  };
}

/** What the link offers, as the recipient's page shows it. */
export function shareOffer(
  share: ShareRecord,
  device: NodeRecord,
  sharer: UserRecord | null,
): ShareOffer {
  return {
    id: share.id,
    device: { name: device.name, os: device.os },
    sharedBy: sharer === null ? "" : sharer.name || sharer.email,
    sshUsers: [...share.sshUsers],
    ports: [...share.ports],
    audience: share.audience,
    expiresAt: share.expiresAt,
    usesLeft: share.maxUses === null ? null : Math.max(0, share.maxUses - share.uses),
    note: share.note,
  };
}
