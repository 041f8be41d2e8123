// The attached map streams: one per node (the newest wins), each with its map session, its
// outbox, its keepalive and its relay-token refresh (the stream record and its timers:
// hub-link.ts). The hub sends a node its first map (or the
// delta that resumes its session), routes the mapper's deltas into outboxes, marks nodes online
// and offline, persists last seen when a stream ends, removes ephemeral nodes two minutes after
// their stream ended, and ends streams whose node key expires.

import type { Logger } from "pino";
import {
  CONTROL_CLOSE,
  type Hostinfo,
  type PeerSignalMessage,
} from "../../worker/control/messages.ts";
import type { NodeRefusal } from "./changes.ts";
import type { HubCluster } from "./cluster/index.ts";
import { Deadlines } from "./deadlines.ts";
import { hostFields } from "./host-fields.ts";
import {
  type Attached,
  type LinkTimerContext,
  type NodeLink,
  scheduleKeepalive,
  scheduleRefresh,
  send,
} from "./hub-link.ts";
import type { Mapper } from "./mapper/mapper.ts";
import { DEFAULT_OUTBOX_LIMITS, Outbox, type OutboxLimits } from "./mapper/outbox.ts";
import type { ControlMetrics, OutboxDepth } from "./metrics.ts";
import type { LocalDelivery } from "./signals.ts";
import type { Clock } from "./state/clock.ts";
import { SessionTable } from "./state/sessions.ts";
import type { Volatile, VolatileChange } from "./state/volatile.ts";
import type { NodeRecord, Store } from "./store/types.ts";
import type { RelayTokens } from "./tokens.ts";

/** Timing and bounds of the hub. */
export interface HubOptions {
  store: Store;
  mapper: Mapper;
  tokens: RelayTokens;
  clock: Clock;
  /** Keepalive period; each wait is drawn from ±10% around it. Default 50 s. */
  keepaliveMs?: number;
  /** How long an ephemeral node outlives its stream. Default 2 minutes. */
  ephemeralGraceMs?: number;
  outbox?: OutboxLimits;
  /** Random numbers in [0, 1) for the keepalive jitter (tests pass a fixed one). */
  random?: () => number;
  log?: Logger;
  metrics?: ControlMetrics;
  /** Several control servers on one database (cluster/): presence, removals, cursors. */
  cluster?: HubCluster;
}

export { KEEPALIVE_MS, type NodeLink } from "./hub-link.ts";

/** Ephemeral nodes are removed this long after their stream ends. */
export const EPHEMERAL_GRACE_MS = 2 * 60 * 1000;

/** The map streams of attached nodes. */
export class Hub {
  readonly sessions = new SessionTable();
  private readonly links = new Map<number, Attached>();
  private readonly ephemeral: Deadlines;
  private readonly expiry: Deadlines;
  private readonly mapper: Mapper;
  private readonly clock: Clock;
  /** What each stream's keepalive and token refresh read (hub-link.ts). */
  private readonly timers: LinkTimerContext;

  constructor(private readonly options: HubOptions) {
    this.mapper = options.mapper;
    this.clock = options.clock;
    this.timers = options;
    this.ephemeral = new Deadlines(options.clock);
    this.expiry = new Deadlines(options.clock);
    this.mapper.onDeliver((nodeId, parts, globalSeq) =>
      this.links.get(nodeId)?.outbox.add(parts, globalSeq),
    );
  }

  /** Nodes with an attached stream. */
  get attachedCount(): number {
    return this.links.size;
  }

  /** What waits in the attached streams' outboxes (the queue-depth gauges read it per scrape). */
  outboxDepth(): OutboxDepth {
    const depth: OutboxDepth = { backloggedStreams: 0, waitingPeers: 0, bufferedBytes: 0 };
    for (const { outbox, link } of this.links.values()) {
      if (outbox.waiting > 0) depth.backloggedStreams++;
      depth.waitingPeers += outbox.waiting;
      depth.bufferedBytes += link.bufferedAmount;
    }
    return depth;
  }

  /** Whether `nodeId` has an attached stream. */
  isAttached(nodeId: number): boolean {
    return this.links.has(nodeId);
  }

  /** Whether an ephemeral node's removal is pending (its stream ended less than 2 min ago). */
  removalPending(nodeId: number): boolean {
    return this.ephemeral.has(nodeId);
  }

  /**
   * Attaches a node's stream (the node exists and its key is valid): replaces an older stream
   * of the node (4409), then sends the delta that resumes `resume` when possible, else a full
   * map in a new session.
   */
  attach(
    nodeId: number,
    link: NodeLink,
    resume?: { session: string; seq: number; cursor?: string },
  ): void {
    const node = this.mapper.node(nodeId);
    if (node === undefined) throw new Error(`hub: node ${nodeId} is not known`);
    const older = this.links.get(nodeId);
    if (older !== undefined) {
      this.release(nodeId, older);
      older.link.close(CONTROL_CLOSE.REPLACED, "replaced by a newer stream of this node");
    }
    this.ephemeral.cancel(nodeId);
    const now = this.clock.now();
    const token = this.options.tokens.grant(node.nodeKey, now);
    this.mapper.attach(nodeId);
    // Online first, so that the map (or resuming delta) carries it and peers hear of it.
    this.mapper.patch(nodeId, { online: true, lastSeen: now });
    const cluster = this.options.cluster;
    cluster?.presence(nodeId, { ...this.mapper.volatile.get(nodeId), online: true }, now);
    const { resumed, everyPatch } = this.sessions.resumeFrom(
      nodeId,
      resume,
      cluster && ((cursor) => cluster.localSeqOf(cursor)),
    );
    const parts = resumed ? this.mapper.resume(nodeId, resumed.globalSeq, everyPatch) : null;
    let session = resumed ? resumed.session : undefined;
    const cursor = cluster?.cursorAt(this.mapper.log.seq);
    const stamp = cursor === undefined ? {} : { cursor };
    if (resumed && parts !== null) {
      const seq = this.sessions.sent(resumed.session, this.mapper.log.seq);
      send(link, { type: "delta", seq, ...stamp, ...parts, token });
      this.options.metrics?.map("resumed");
    } else {
      session = this.sessions.open(nodeId, this.mapper.log.seq);
      send(link, {
        type: "map",
        session: session.id,
        seq: session.seq,
        ...stamp,
        map: this.mapper.fullMap(nodeId, token),
      });
      this.options.metrics?.map("full");
    }
    const current = session!;
    const outbox = new Outbox(
      link,
      this.options.outbox ?? DEFAULT_OUTBOX_LIMITS,
      (globalSeq) => {
        this.options.metrics?.delta();
        return this.sessions.sent(current, globalSeq);
      },
      () => {
        this.options.metrics?.slow();
        this.end(nodeId, CONTROL_CLOSE.TOO_SLOW, "too slow: reconnect and resume");
      },
      cluster === undefined ? undefined : () => cluster.cursorAt(this.mapper.log.seq),
    );
    const attached: Attached = { link, outbox, alive: true, attachedAt: now };
    this.links.set(nodeId, attached);
    scheduleRefresh(this.timers, nodeId, attached, this.options.tokens.refreshIn(token, now));
    scheduleKeepalive(this.timers, attached);
    if (node.keyExpiry !== null) this.armExpiry(nodeId, node.keyExpiry);
    this.options.log?.info({ node: nodeId, resumed: parts !== null }, "attached");
  }

  /**
   * Before attach: a client resuming with a cursor of a change this server has not read yet
   * (it came from another server, a moment ahead) waits for it, a few seconds at most.
   */
  async prepareResume(resume: { cursor?: string } | undefined): Promise<void> {
    if (resume?.cursor !== undefined) await this.options.cluster?.prepareResume(resume.cursor);
  }

  /** The stream `link` of `nodeId` ended (a replaced stream's end changes nothing). */
  detach(nodeId: number, link: NodeLink): void {
    const attached = this.links.get(nodeId);
    if (attached === undefined || attached.link !== link) return;
    this.release(nodeId, attached);
    this.options.log?.debug({ node: nodeId }, "stream ended");
    if (this.mapper.node(nodeId) === undefined) return; // removed: nothing to mark
    // Another server took the node meanwhile: it is online there, and removal is its business.
    if (this.options.cluster?.mayMarkOffline(nodeId) === false) return;
    const now = this.clock.now();
    this.mapper.patch(nodeId, { online: false, lastSeen: now });
    this.options.cluster?.presence(nodeId, { online: false, lastSeen: now });
    this.options.store.updateNode(nodeId, { lastSeen: now }).catch((error: unknown) => {
      this.options.log?.warn({ node: nodeId, err: String(error) }, "last seen not stored");
    });
    this.streamEnded(nodeId);
  }

  /**
   * A node has no stream (its stream ended, or never attached: it closed while registering, or
   * it was loaded at start): an ephemeral one is removed after the grace period.
   */
  streamEnded(nodeId: number): void {
    const node = this.mapper.node(nodeId);
    if (node === undefined || !node.ephemeral || this.links.has(nodeId)) return;
    this.ephemeral.set(
      nodeId,
      this.clock.now() + (this.options.ephemeralGraceMs ?? EPHEMERAL_GRACE_MS),
      () => {
        // Another server took the node meanwhile (or holds it again after a stall): keep it.
        if (this.options.cluster?.mayMarkOffline(nodeId) === false) return;
        this.removeNode(nodeId, "ephemeral").catch((error: unknown) => {
          this.options.log?.warn(
            { node: nodeId, err: String(error) },
            "ephemeral node not removed",
          );
        });
      },
    );
  }

  /** Whether a node with this key is registered (logins of others count as registrations). */
  knows(nodeKey: string): boolean {
    return this.mapper.nodeIdByKey(nodeKey) !== undefined;
  }

  /**
   * Stores the host facts from an `update` when they differ; returns the changed record for
   * the mapper, or null when nothing changed.
   */
  async hostinfo(nodeId: number, hostinfo: Hostinfo): Promise<NodeRecord | null> {
    const node = this.mapper.node(nodeId);
    if (node === undefined) return null;
    const fields = hostFields(node, hostinfo);
    if (fields === null) return null;
    await this.options.store.updateNode(nodeId, fields);
    const current = this.mapper.node(nodeId);
    return current === undefined ? null : { ...current, ...fields };
  }

  /**
   * A peer's signal for `nodeId` (signals.ts), sent at once on its stream (not through the
   * outbox: signals are not map state, and an ICE exchange waits on each one).
   */
  deliverSignal(nodeId: number, message: PeerSignalMessage): LocalDelivery {
    const attached = this.links.get(nodeId);
    if (attached === undefined) return "offline";
    if (attached.link.signals !== true) return "not_supported";
    const limits = this.options.outbox ?? DEFAULT_OUTBOX_LIMITS;
    if (attached.link.bufferedAmount >= limits.highWaterBytes) return "busy";
    send(attached.link, message);
    return "delivered";
  }

  /** Volatile facts from the node's `update`. */
  update(nodeId: number, change: VolatileChange): void {
    if (!this.links.has(nodeId)) return;
    // The other servers first: their notification is queued before this server's own deltas.
    this.options.cluster?.presence(nodeId, change);
    this.mapper.patch(nodeId, change);
  }

  /**
   * Another control server now holds the node's stream (cluster/presence.ts): this server's
   * stream of it, if any, is an older one and ends; its removal, if pending, is called off.
   */
  claimedElsewhere(nodeId: number): void {
    this.ephemeral.cancel(nodeId);
    const attached = this.links.get(nodeId);
    if (attached === undefined) return;
    this.release(nodeId, attached);
    attached.link.close(CONTROL_CLOSE.REPLACED, "replaced by a newer stream of this node");
  }

  /** The nodes whose streams this server holds, with their volatile facts and attach times. */
  *held(): Iterable<[number, Volatile, number]> {
    for (const [nodeId, { attachedAt }] of this.links) {
      yield [nodeId, this.mapper.volatile.get(nodeId), attachedAt];
    }
  }

  /** The node's socket drained: send what waits. */
  drain(nodeId: number): void {
    this.links.get(nodeId)?.outbox.flush();
  }

  /** Re-checks a changed node's key expiry (an admin expired it, or a rotation extended it). */
  checkExpiry(nodeId: number): void {
    const node = this.mapper.node(nodeId);
    if (node === undefined || !this.links.has(nodeId)) return;
    if (node.keyExpiry === null) this.expiry.cancel(nodeId);
    else if (node.keyExpiry <= this.clock.now()) this.expire(nodeId, node.keyExpiry);
    else this.armExpiry(nodeId, node.keyExpiry);
  }

  /** Sends `refused` and closes the node's stream, if it has one. */
  refuse(nodeId: number, code: string, message: string): void {
    const attached = this.links.get(nodeId);
    if (attached === undefined) return;
    send(attached.link, { type: "refused", code, message });
    this.end(nodeId, CONTROL_CLOSE.REFUSED, code);
  }

  /**
   * Removes a node from the store and the map (ephemeral expiry, sign-out), ending its stream
   * with `refused` "node_removed". Returns false when it was already gone.
   */
  async removeNode(nodeId: number, why: string): Promise<boolean> {
    this.ephemeral.cancel(nodeId);
    if (this.mapper.node(nodeId) === undefined) return false;
    await this.options.store.deleteNode(nodeId);
    // On several servers the deletion's row may have been applied meanwhile (the follower, on
    // its notification): the node is gone from the map already, and its stream refused.
    if (this.mapper.node(nodeId) === undefined) return true;
    const before = this.mapper.log.seq;
    const refusal = {
      code: "node_removed",
      message: `this node was removed from the mesh (${why})`,
    };
    this.forget(nodeId, why, refusal);
    this.options.cluster?.removed(nodeId, refusal, before);
    return true;
  }

  /**
   * A node already deleted from the store leaves the map (MeshChanges.nodeRemoved). Its stream
   * is refused with `refusal` when given (a share node: share_revoked, share_expired), else
   * "node_removed" saying `why`.
   */
  forget(nodeId: number, why: string, refusal?: NodeRefusal): void {
    // Out of the map first: its peers get a removal, not an offline patch, and the stream's
    // end below finds no node to mark offline or to store a last seen for.
    this.mapper.removeNode(nodeId);
    if (refusal === undefined) {
      this.refuse(nodeId, "node_removed", `this node was removed from the mesh (${why})`);
    } else {
      this.refuse(nodeId, refusal.code, refusal.message);
    }
    this.ephemeral.cancel(nodeId);
    this.sessions.delete(nodeId);
    this.options.log?.info({ node: nodeId, why }, "node removed");
  }

  /** Closes every stream with 1012 (server restarting), stops every timer, stores last seen. */
  async close(): Promise<void> {
    const now = this.clock.now();
    const writes: Promise<void>[] = [];
    for (const [nodeId, attached] of [...this.links]) {
      this.release(nodeId, attached);
      attached.link.close(1012, "server restarting");
      writes.push(this.options.store.updateNode(nodeId, { lastSeen: now }));
    }
    this.ephemeral.clear();
    this.expiry.clear();
    // Last seen of every node that was online, before the caller closes the store.
    const failed = (await Promise.allSettled(writes)).filter((r) => r.status === "rejected");
    if (failed.length > 0) this.options.log?.warn({ count: failed.length }, "last seen not stored");
  }

  private armExpiry(nodeId: number, at: number): void {
    this.expiry.set(nodeId, at, () => this.expire(nodeId, at));
  }

  private expire(nodeId: number, at: number): void {
    this.expiry.cancel(nodeId);
    this.refuse(
      nodeId,
      "key_expired",
      `this node's key expired at ${new Date(at).toISOString()}: rotate it or register again`,
    );
  }

  /**
   * Closes a node's stream without refusing it: the client reconnects and resumes (4429 for a
   * client too far behind; 1012 when draining a server for a restart).
   */
  disconnect(nodeId: number, code: number, reason: string): void {
    this.end(nodeId, code, reason);
  }

  private end(nodeId: number, code: number, reason: string): void {
    const attached = this.links.get(nodeId);
    if (attached === undefined) return;
    // What waits in the outbox is not sent: a refused node has no use for it (and nothing may
    // follow `refused`), and a node told to come back gets it when it resumes.
    attached.outbox.stop();
    attached.link.close(code, reason);
  }

  private release(nodeId: number, attached: Attached): void {
    attached.outbox.stop();
    attached.alive = false;
    attached.keepalive?.();
    attached.refresh?.();
    this.links.delete(nodeId);
    this.mapper.detach(nodeId);
    this.expiry.cancel(nodeId);
  }
}
