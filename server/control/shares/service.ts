// Share links (docs/control.md, "Sharing"): a sharer offers one device (SSH as some local users,
// some TCP ports) through `<baseUrl>/s/<id>#<secret>`; a recipient's browser accepts with the
// public half of a WireGuard key it made, and gets an ephemeral *share node* that sees the
// device alone (the mapper's share overlay, shares/overlay.ts, decides what the maps say).
//
// Every change is one transaction with its audit entry; after the commit the map side hears of
// it: a share node created (nodeChanged), share nodes removed (nodeRemoved, their streams
// refused with share_revoked / share_expired), and the shares in force changed
// (sharesChanged, which re-applies the overlay). The secret is compared by its SHA-256 only and
// an unknown id answers exactly as a wrong secret does.

import { buildShareLink } from "../../../worker/control/share-link.ts";
import { hashSecret, randomToken, safeEqual } from "../auth/secrets.ts";
import type { MeshChanges, NodeRefusal } from "../changes.ts";
import type { CompiledPolicy } from "../policy/types.ts";
import { createNodeAllocated } from "../store/allocate.ts";
import { dnsLabel } from "../store/names.ts";
import {
  type ShareRecord,
  type Store,
  StoreConflictError,
  type StoreTx,
  type UserRecord,
} from "../store/types.ts";
import { ShareError, shareNotFound } from "./errors.ts";
import { checkSharerMayUse } from "./permitted.ts";
import { checkAudience, describe, gone, stateError } from "./rules.ts";
import { checkShareSpec, type ShareSpec } from "./validate.ts";
import {
  acceptanceViews,
  type ShareAcceptedBody,
  type ShareOffer,
  type ShareView,
  shareOffer,
  shareView,
} from "./views.ts";

/** Who acts, for permissions and the audit log (null user: a guest, or the expiry job). */
export interface ShareActor {
  user: UserRecord | null;
  /** "session", "apikey", "share" (a guest accepting), "system". */
  via: string;
  /** The request's source address ("" for the job). */
  source: string;
}

/** What accept needs beyond the link. */
export interface AcceptRequest {
  id: string;
  secret: string;
  /** The recipient's WireGuard public key (base64, 44 characters). */
  nodeKey: string;
  /** The recipient's host name (its share node is named after it). */
  hostname: string;
  userAgent: string;
  actor: ShareActor;
}

/** What the service needs. */
export interface ShareServiceDeps {
  store: Store;
  meshChanges: MeshChanges;
  /** The server's URL as browsers reach it: share URLs are `<baseUrl>/s/<id>#<secret>`. */
  baseUrl: string;
  now: () => number;
  /** Whether a node's map stream is up (the map side's memory); lists show offline without it. */
  online?: (nodeId: number) => boolean;
  /**
   * The policy in force (PolicyHolder.current()): a member may share only what it already lets
   * her use on the device. Without it, only admins and the owner may create shares.
   */
  policy?: () => CompiledPolicy;
}

/** A WireGuard public key as `wg` writes it. */
const WG_KEY = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;

/** Longest user agent kept with an acceptance. */
const USER_AGENT_MAX = 256;

/**
 * Most open acceptances of one share, even with no use limit: each is a node with addresses, a
 * peer of the device and rules in its map, so one leaked link must not fill the mesh.
 */
export const SHARE_OPEN_MAX = 100;

/** Share nodes outlive their share's expiry by this much at most (the expiry job's backstop). */
const KEY_GRACE_MS = 60_000;

/** An acceptance ended by a change: its share node (null when gone already) and its refusal. */
interface Removed {
  nodeId: number | null;
  refusal: NodeRefusal;
}

const REVOKED: NodeRefusal = {
  code: "share_revoked",
  message: "the share this node belonged to was revoked",
};
const EXPIRED: NodeRefusal = {
  code: "share_expired",
  message: "the share this node belonged to has expired",
};

function isAdmin(user: UserRecord | null): boolean {
  return user !== null && (user.role === "admin" || user.role === "owner");
}

/** How an actor is named in the log. */
function actorName(actor: ShareActor, fallback: string): string {
  return actor.user === null ? fallback : actor.user.email || actor.user.name;
}

/** The share service. */
export class ShareService {
  constructor(private readonly deps: ShareServiceDeps) {}

  /** Creates a share of `spec.nodeId`; returns it and its URL (the secret is not kept). */
  async create(spec: ShareSpec, actor: ShareActor): Promise<{ url: string; share: ShareView }> {
    const user = actor.user;
    if (user === null) throw new ShareError("share_forbidden", "sign in to share a device");
    const now = this.deps.now();
    const id = randomToken(16);
    const secret = randomToken(32);
    const share = await this.deps.store.transaction(async (tx) => {
      const node = await tx.nodeById(spec.nodeId);
      // A node the caller may not share is as unknown as a missing one.
      if (node === null || (node.userId !== user.id && !isAdmin(user))) {
        throw new ShareError("share_forbidden", `you have no node with id ${spec.nodeId} to share`);
      }
      if (node.shareAcceptanceId !== null) {
        throw new ShareError("share_forbidden", "a share node cannot be shared on");
      }
      const checked = checkShareSpec(spec, node);
      if (!isAdmin(user)) {
        // The sharer's sign-in as stored now (a check rule reads its age), not the session's copy.
        const sharer = (await tx.userById(user.id)) ?? user;
        const policy = this.deps.policy?.();
        if (policy === undefined) {
          throw new ShareError("share_forbidden", "only admins may share here");
        }
        checkSharerMayUse(policy, node, sharer, checked.sshUsers, checked.ports, now);
      }
      const made = await tx.createShare({
        id,
        secretHash: hashSecret(secret),
        nodeId: node.id,
        createdBy: user.id,
        sshUsers: checked.sshUsers,
        ports: checked.ports,
        audience: checked.audience,
        emails: checked.emails,
        expiresAt: now + checked.expiryMs,
        maxUses: checked.maxUses,
        note: checked.note,
      });
      await this.audit(tx, actor, "share.create", made, [
        `node ${node.id} ${node.name}`,
        describe(made),
      ]);
      return shareView(made, node.name, []);
    });
    return { url: buildShareLink(this.deps.baseUrl, id, secret), share };
  }

  /** What the link offers (before accepting); refuses an unusable link with its reason. */
  async offer(id: string, secret: string): Promise<ShareOffer> {
    const now = this.deps.now();
    return this.deps.store.transaction(async (tx) => {
      const share = await this.usable(tx, id, secret, now);
      const device = await tx.nodeById(share.nodeId);
      if (device === null) throw gone(share);
      const sharer = await tx.userById(share.createdBy);
      return shareOffer(share, device, sharer);
    });
  }

  /** Accepts: one use, the acceptance and the share node, in one transaction. */
  async accept(request: AcceptRequest): Promise<ShareAcceptedBody> {
    if (!WG_KEY.test(request.nodeKey)) {
      throw new ShareError("share_invalid", "invalid body: nodeKey: expected a WireGuard key", [
        { path: "nodeKey", message: "expected a WireGuard public key (base64, 44 characters)" },
      ]);
    }
    const now = this.deps.now();
    const user = request.actor.user;
    const made = await this.deps.store.transaction(async (tx) => {
      let share = await this.usable(tx, request.id, request.secret, now);
      checkAudience(share, user);
      const device = await tx.nodeById(share.nodeId);
      if (device === null) throw gone(share);
      if ((await tx.nodeByKey(request.nodeKey)) !== null) {
        throw new ShareError("share_node_key_taken", "this node key belongs to a node already");
      }
      const open = (await tx.acceptancesOfShare(share.id)).filter((a) => a.endedAt === null);
      if (open.length >= SHARE_OPEN_MAX) {
        throw new ShareError(
          "share_busy",
          `this share has ${SHARE_OPEN_MAX} recipients connected already: try again when one has left`,
        );
      }
      if (!(await tx.useShare(share.id, now))) {
        // Another accept took the last use (or the share ended) since it was read.
        throw stateError((await tx.shareById(share.id)) ?? share, now);
      }
      share = { ...share, uses: share.uses + 1 };
      const acceptance = await tx.createAcceptance({
        shareId: share.id,
        userId: user?.id ?? null,
        guestName: user === null ? `Guest ${share.uses}` : user.name || user.email,
        userAgent: request.userAgent.slice(0, USER_AGENT_MAX),
        acceptedAt: now,
      });
      const settings = await tx.getSettings();
      if (settings === null) throw new Error("shares: the mesh settings are missing");
      const node = await createNodeAllocated(
        tx,
        {
          nodeKey: request.nodeKey,
          userId: null,
          tags: [],
          hostname: `share-${dnsLabel(request.hostname || "guest")}`,
          os: "browser",
          ephemeral: true,
          keyExpiry: share.expiresAt + KEY_GRACE_MS,
          sshHostKeys: [],
          sshUsers: null,
          lastSeen: null,
          authKeyId: null,
          shareAcceptanceId: acceptance.id,
        },
        settings.ipv6Prefix,
      ).catch((error: unknown) => {
        if (error instanceof StoreConflictError && error.field === "nodeKey") {
          throw new ShareError("share_node_key_taken", "this node key belongs to a node already");
        }
        throw error;
      });
      await this.audit(tx, { ...request.actor }, "share.accept", share, [
        `acceptance ${acceptance.id} ${acceptance.guestName}`,
        `node ${node.id} ${node.name} -> ${device.name}`,
      ]);
      return {
        acceptanceId: acceptance.id,
        node: { id: node.id, name: node.name, addresses: [node.ipv4, node.ipv6] },
        device: device.name,
        expiresAt: share.expiresAt,
      } satisfies ShareAcceptedBody;
    });
    await this.deps.meshChanges.nodeChanged(made.node.id);
    await this.deps.meshChanges.sharesChanged?.();
    return made;
  }

  /** The caller's shares (every share for admins), newest first, with their acceptances. */
  async list(actor: ShareActor): Promise<ShareView[]> {
    const user = actor.user;
    if (user === null) throw new ShareError("share_forbidden", "sign in to list shares");
    const now = this.deps.now();
    return this.deps.store.transaction(async (tx) => {
      const shares = await tx.listShares(isAdmin(user) ? undefined : user.id);
      const names = new Map((await tx.listNodes()).map((n) => [n.id, n.name]));
      const views: ShareView[] = [];
      for (const share of shares) {
        const acceptances = await tx.acceptancesOfShare(share.id);
        views.push(
          shareView(
            share,
            names.get(share.nodeId) ?? "",
            acceptanceViews(acceptances, names, this.deps.online),
            now,
          ),
        );
      }
      return views;
    });
  }

  /** Revokes a share: it accepts no one more, and every open acceptance ends now. */
  async revoke(id: string, actor: ShareActor): Promise<void> {
    const now = this.deps.now();
    const removed = await this.deps.store.transaction(async (tx) => {
      const share = await this.owned(tx, id, actor);
      await tx.revokeShare(share.id, now);
      const ended = await this.endOpen(tx, share.id, null, now, "revoked", REVOKED);
      await this.audit(tx, actor, "share.revoke", share, [`${ended.length} acceptance(s) ended`]);
      return ended;
    });
    await this.notify(removed);
  }

  /** Ends one acceptance of a share (its node is removed at once). */
  async revokeAcceptance(id: string, acceptanceId: number, actor: ShareActor): Promise<void> {
    const now = this.deps.now();
    const removed = await this.deps.store.transaction(async (tx) => {
      const share = await this.owned(tx, id, actor);
      const acceptance = await tx.acceptanceById(acceptanceId);
      if (acceptance === null || acceptance.shareId !== share.id) {
        throw new ShareError(
          "share_acceptance_not_found",
          `share ${share.id} has no acceptance with id ${acceptanceId}`,
        );
      }
      const ended = await this.endOpen(tx, share.id, acceptanceId, now, "revoked", REVOKED);
      await this.audit(tx, actor, "share.acceptance.revoke", share, [
        `acceptance ${acceptance.id} ${acceptance.guestName}`,
        ended.length === 0 ? "had ended already" : "",
      ]);
      return ended;
    });
    await this.notify(removed);
  }

  /**
   * The expiry job: ends the open acceptances of shares expired at `now` ("expired"), and of
   * shares revoked or whose device is gone ("revoked", in case a change was cut short), with
   * one `share.expire` entry per expired share. Returns how many acceptances ended.
   */
  async expireDue(now: number = this.deps.now()): Promise<number> {
    const removed = await this.deps.store.transaction(async (tx) => {
      const open = await tx.listOpenAcceptances();
      const out: Removed[] = [];
      const expired = new Map<string, { share: ShareRecord; count: number }>();
      for (const { acceptance, share } of open) {
        const ends =
          share.expiresAt <= now
            ? "expired"
            : share.revokedAt !== null || (await tx.nodeById(share.nodeId)) === null
              ? "revoked"
              : null;
        if (ends === null) continue;
        const refusal = ends === "expired" ? EXPIRED : REVOKED;
        out.push(...(await this.endOpen(tx, share.id, acceptance.id, now, ends, refusal)));
        if (ends === "expired") {
          const seen = expired.get(share.id) ?? { share, count: 0 };
          seen.count++;
          expired.set(share.id, seen);
        }
      }
      for (const { share, count } of expired.values()) {
        await this.audit(tx, { user: null, via: "system", source: "" }, "share.expire", share, [
          `${count} acceptance(s) ended`,
        ]);
      }
      return out;
    });
    await this.notify(removed);
    return removed.length;
  }

  /** The share behind `id` + `secret`, usable at `now`; the refusal naming why otherwise. */
  private async usable(tx: StoreTx, id: string, secret: string, now: number): Promise<ShareRecord> {
    const share = await tx.shareById(id);
    // Hash the secret whether or not the id is known: both refusals take the same work.
    const hash = hashSecret(secret);
    if (share === null || !safeEqual(hash, share.secretHash)) throw shareNotFound();
    const why = stateError(share, now);
    if (why !== null) throw why;
    return share;
  }

  /** The share, when `actor` made it or is an admin (share_not_found otherwise). */
  private async owned(tx: StoreTx, id: string, actor: ShareActor): Promise<ShareRecord> {
    const share = await tx.shareById(id);
    if (share === null || actor.user === null) throw shareNotFound();
    if (share.createdBy !== actor.user.id && !isAdmin(actor.user)) throw shareNotFound();
    return share;
  }

  /** Ends the open acceptances of a share (or the one given) and removes their nodes. */
  private async endOpen(
    tx: StoreTx,
    shareId: string,
    only: number | null,
    now: number,
    reason: "revoked" | "expired",
    refusal: NodeRefusal,
  ): Promise<Removed[]> {
    const removed: Removed[] = [];
    for (const acceptance of await tx.acceptancesOfShare(shareId)) {
      if (only !== null && acceptance.id !== only) continue;
      if (acceptance.endedAt !== null) continue;
      await tx.endAcceptance(acceptance.id, now, reason);
      if (acceptance.nodeId !== null) await tx.deleteNode(acceptance.nodeId);
      removed.push({ nodeId: acceptance.nodeId, refusal });
    }
    return removed;
  }

  /**
   * After the commit: the removed nodes leave the map, then the overlay is read again. Nothing
   * ended, nothing to tell (the expiry job runs often: a no-op run must cost the maps nothing).
   */
  private async notify(ended: Removed[]): Promise<void> {
    if (ended.length === 0) return;
    for (const { nodeId, refusal } of ended) {
      if (nodeId !== null) await this.deps.meshChanges.nodeRemoved(nodeId, refusal);
    }
    await this.deps.meshChanges.sharesChanged?.();
  }

  private async audit(
    tx: StoreTx,
    actor: ShareActor,
    action: string,
    share: ShareRecord,
    detail: string[],
  ): Promise<void> {
    await tx.addAudit({
      at: this.deps.now(),
      actorId: actor.user?.id ?? null,
      actor: actorName(actor, actor.via === "system" ? "system" : "guest"),
      via: actor.via,
      action,
      target: `share ${share.id}`,
      detail: detail.filter((d) => d !== "").join("; "),
      source: actor.source,
    });
  }
}
