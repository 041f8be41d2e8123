// Several control servers on one PostgreSQL (DESIGN §9.1), composed: the bus (pg-bus.ts), the
// change follower (follower.ts), cursors (cursor.ts), presence (presence.ts) and the leader's
// jobs. startControl (../index.ts) starts it when given `cluster` and hands its hooks to the hub
// and its MeshChanges to the API.
//
// A change's row is written by the change's own transaction (triggers.ts). The server that made
// it applies it at once (the API's caller sees it done); every server, that one too, applies it
// again when its follower reaches the row. Each application reads the current state from the
// database, so servers that apply the same rows in different interleavings end in the same
// state, and one that finds what it holds already sends nothing (mesh-changes.ts).

import { randomBytes } from "node:crypto";
import type { Logger } from "pino";
import type { PeerSignalMessage } from "../../../worker/control/messages.ts";
import type { ApprovalDesk } from "../approvals.ts";
import type { MeshChanges, NodeRefusal } from "../changes.ts";
import type { LocalDelivery } from "../signals.ts";
import type { Volatile, VolatileChange } from "../state/volatile.ts";
import { ApprovalBoard } from "./approval-board.ts";
import { CursorMap } from "./cursor.ts";
import { ChangeFollower } from "./follower.ts";
import {
  APPROVALS_CHANNEL,
  CHANGES_CHANNEL,
  type ChangeRow,
  type ClusterChange,
  PgBus,
  PRESENCE_CHANNEL,
  SIGNALS_CHANNEL,
} from "./pg-bus.ts";
import { Presence } from "./presence.ts";
import { SignalForward } from "./signal-forward.ts";
import { installTriggers, TRIGGER_VERSION } from "./triggers.ts";

/** How the cluster is configured. */
export interface ClusterOptions {
  /** postgres://... (the store's database). */
  connectionString: string;
  /** This server's id in rows and presence (default: random). */
  serverId?: string;
  /** Heartbeat and leader check period (default 5 s); a server silent 3 periods is gone. */
  heartbeatMs?: number;
  /** Catch-up read period (default 1 s). */
  pollMs?: number;
  /** Rows kept in cluster_changes (the leader trims; default 200,000). */
  keepChanges?: number;
}

/** What the hub asks of the cluster. */
export interface HubCluster {
  /** A node whose stream this server holds changed (attached at `attachedAt`, ended, endpoints). */
  presence(nodeId: number, change: VolatileChange, attachedAt?: number): void;
  /** Whether this server may mark `nodeId` offline (no other server took it meanwhile). */
  mayMarkOffline(nodeId: number): boolean;
  /** This server removed a node (ephemeral grace over, sign-out), ring at `localBefore` before. */
  removed(nodeId: number, refusal: NodeRefusal, localBefore: number): void;
  /** The cursor of a message covering ring position `localSeq`. */
  cursorAt(localSeq: number): string | undefined;
  /** The ring position to resume a client's cursor from, or null (full map). */
  localSeqOf(cursor: string): number | null;
  /** Waits (bounded) until the follower passed what `cursor` names. */
  prepareResume(cursor: string): Promise<void>;
}

/** The map side's MeshChanges, as the follower applies rows through it. */
export type LocalChanges = MeshChanges & {
  settled?(): Promise<void>;
  /** nodeChanged of several nodes with one read (mesh-changes.ts). */
  nodesChanged?(nodeIds: readonly number[]): Promise<void>;
};

/** What the cluster needs of the map side. */
export interface ClusterSide {
  /** The map side's own MeshChanges (mesh-changes.ts): applies other servers' rows. */
  local: LocalChanges;
  /** The change ring's position (mapper.log.seq). */
  localSeq(): number;
  patch(nodeId: number, change: VolatileChange): boolean;
  claimedElsewhere(nodeId: number): void;
  /** The nodes whose streams this server holds: facts, attach time (ms). */
  held(): Iterable<[number, Volatile, number?]>;
  /** A node nobody holds any more: an ephemeral one's grace starts (leader only). */
  orphaned(nodeId: number): void;
  /** Ephemeral nodes no server holds, for the leader's sweep after a start. */
  unheldEphemeral(holder: (nodeId: number) => string | undefined): number[];
  now(): number;
  /** This server's approval desk: its requests are shared with the others (approval-board.ts). */
  approvals?: ApprovalDesk;
  /** Delivers a signal forwarded by another server to a stream here (Hub.deliverSignal). */
  deliverSignal?(nodeId: number, message: PeerSignalMessage): LocalDelivery;
  /** The map's node id of a key, and a node's key (a forwarded signal's bye back). */
  nodeIdByKey?(nodeKey: string): number | undefined;
  nodeKeyOf?(nodeId: number): string | undefined;
}

/** A running cluster member. */
export interface Cluster {
  readonly serverId: string;
  readonly hub: HubCluster;
  /** MeshChanges for the API: applied here at once (the row is the transaction's). */
  readonly changes: MeshChanges;
  readonly follower: ChangeFollower;
  readonly presence: Presence;
  /** The other servers' pending approvals (absent when the map side has no desk). */
  readonly approvals: ApprovalBoard | undefined;
  /** Signals for nodes held by other servers. */
  readonly signals: SignalForward;
  /**
   * A committed change this server applied from ring position `localBefore` on (registration,
   * host facts): cursors resent from before it until its row is passed. Its row is the
   * transaction's own (triggers.ts): nothing is written here.
   */
  publishOwn(change: ClusterChange, localBefore: number): Promise<void>;
  isLeader(): boolean;
  /** Why the server is not ready, or [] (database reachable and caught up). */
  notReady(): string[];
  close(): Promise<void>;
}

/** A joined cluster whose member has not started yet. */
export interface ClusterJoin {
  /** The newest change row when it joined. */
  startSeq: number;
  /** Starts the member; its close() then closes the bus (if this throws, this join's close() does). */
  start(side: ClusterSide): Cluster;
  /**
   * Closes the bus (listener and pool) of a join whose member never started: the map side
   * failed to start after joining, or start() threw. Nothing once the member started (its
   * close() does that).
   */
  close(): Promise<void>;
}

/** Joins the cluster: connects, notes the newest row (call before loading the state). */
export async function joinCluster(
  options: ClusterOptions & { tag: string; log?: Logger },
): Promise<ClusterJoin> {
  const serverId = options.serverId ?? randomBytes(9).toString("base64url");
  const log = options.log?.child({ component: "cluster", server: serverId });
  // Notifications before the member starts change nothing: it reads from startSeq on anyway.
  const events: BusEvents = { notify: () => {}, listening: () => {} };
  const bus = new PgBus({
    connectionString: options.connectionString,
    serverId,
    onNotify: (channel, payload) => events.notify(channel, payload),
    onListening: () => events.listening(),
    log,
  });
  await bus.start();
  let startSeq: number;
  try {
    // Before the newest row is read: every change committed after it has its row.
    const install = await installTriggers(options.connectionString);
    if (install.outcome === "installed") {
      log?.info(
        { version: TRIGGER_VERSION, dropped: install.dropped },
        "cluster: change triggers installed",
      );
    } else if (install.outcome === "newer") {
      // A newer server installed its own (a rolling upgrade): they stay, this one reads them.
      log?.warn(
        { version: TRIGGER_VERSION, installed: install.version },
        "cluster: a newer version's change triggers are installed; keeping them",
      );
    }
    startSeq = await bus.maxSeq();
  } catch (error) {
    await bus.close();
    throw error;
  }
  let started = false;
  return {
    startSeq,
    start: (side) => {
      // Set once the member exists: a start that throws leaves the bus to close() (the
      // member's timers start last, after everything that can throw).
      const member = startMember(bus, events, serverId, startSeq, options, side, log);
      started = true;
      return member;
    },
    close: async () => {
      if (!started) await bus.close();
    },
  };
}

interface BusEvents {
  notify(channel: string, payload: string): void;
  listening(): void;
}

function startMember(
  bus: PgBus,
  events: BusEvents,
  serverId: string,
  startSeq: number,
  options: ClusterOptions & { tag: string },
  side: ClusterSide,
  log: Logger | undefined,
): Cluster {
  const cursors = new CursorMap(options.tag);
  cursors.startAt(startSeq, side.localSeq());
  const follower = new ChangeFollower({
    changesAfter: (seq, limit) => bus.changesAfter(seq, limit),
    maxSeq: () => bus.maxSeq(),
    apply: async (row) => {
      if (row.kind === "removed" && row.nodeId !== undefined) presence.forget(row.nodeId);
      await applyRow(side.local, row);
      // Its presence may have come first (another server's notification beats its row here).
      if (row.kind === "node" && row.nodeId !== undefined) presence.nodeKnown(row.nodeId);
    },
    // A run of node rows: their nodes read at once (one query, not one per row).
    batchable: (row) => row.kind === "node" && row.nodeId !== undefined,
    applyRun:
      side.local.nodesChanged === undefined
        ? undefined
        : async (rows) => {
            const ids = rows.map((row) => row.nodeId!);
            await side.local.nodesChanged!(ids);
            await side.local.settled?.();
            for (const id of ids) presence.nodeKnown(id);
          },
    localSeq: side.localSeq,
    cursors,
    log,
  });
  const presence = new Presence({
    serverId,
    hooks: side,
    send: (payload) => bus.notify(PRESENCE_CHANNEL, payload),
    now: side.now,
    deadAfterMs: 3 * (options.heartbeatMs ?? 5000),
    leading: () => bus.isLeader,
    log,
  });
  const desk = side.approvals;
  const approvals =
    desk === undefined
      ? undefined
      : new ApprovalBoard({
          serverId,
          desk,
          send: (payload) => bus.notify(APPROVALS_CHANNEL, payload),
          now: side.now,
          log,
        });
  desk?.share(approvals);
  const signals = new SignalForward({
    serverId,
    holder: (nodeId) => presence.holder(nodeId),
    send: (payload) => bus.notify(SIGNALS_CHANNEL, payload),
    deliver: (nodeId, message) => side.deliverSignal?.(nodeId, message) ?? "offline",
    idOf: (nodeKey) => side.nodeIdByKey?.(nodeKey),
    keyOf: (nodeId) => side.nodeKeyOf?.(nodeId),
    log,
  });
  let closed = false;
  let leaderSince: number | undefined;

  events.notify = (channel, payload) => {
    if (channel === CHANGES_CHANNEL) {
      const seq = Number(payload);
      if (Number.isSafeInteger(seq) && seq > 0) follower.notified(seq);
    } else if (channel === PRESENCE_CHANNEL) presence.received(payload);
    else if (channel === APPROVALS_CHANNEL) approvals?.received(payload);
    else if (channel === SIGNALS_CHANNEL) signals.received(payload);
  };
  events.listening = () => {
    presence.rejoined();
    approvals?.rejoined();
    void follower.poll();
  };
  events.listening();

  const poll = setInterval(() => void follower.poll(), options.pollMs ?? 1000);
  const heartbeatMs = options.heartbeatMs ?? 5000;
  const heartbeat = setInterval(() => {
    presence.tick();
    void bus
      .checkListener()
      .then(() => bus.tryLead())
      .then((leading) => {
        if (closed) return;
        if (!leading) {
          leaderSince = undefined;
          return;
        }
        const now = side.now();
        leaderSince ??= now;
        // After three heartbeats every live server has answered the hello: a node held by none
        // of them is offline, and an ephemeral one goes after its grace.
        if (now - leaderSince >= 3 * heartbeatMs) {
          for (const nodeId of side.unheldEphemeral((id) => presence.holder(id)))
            side.orphaned(nodeId);
        }
        bus.trim(options.keepChanges ?? 200_000).catch(() => {});
      });
  }, heartbeatMs);
  poll.unref();
  heartbeat.unref();

  // The change and its row are committed before any of this. Applying it here may fail (the
  // database went away mid-read): the follower applies the row when it comes by, as it does
  // every row.
  const own = (work: () => Promise<void>) => async () => {
    cursors.ownApplying(side.localSeq());
    await work();
  };
  const local = side.local;
  const changes: MeshChanges = {
    nodeChanged: (nodeId) => own(() => local.nodeChanged(nodeId))(),
    nodeRemoved: (nodeId, refusal) => own(() => local.nodeRemoved(nodeId, refusal))(),
    userChanged: (userId) => own(() => local.userChanged(userId))(),
    // Its nodes' removals are marked one by one (HubCluster.removed).
    userSignedOut: (userId) => local.userSignedOut(userId),
    policyChanged: () => own(() => local.policyChanged())(),
    sharesChanged: () => own(() => local.sharesChanged?.() ?? Promise.resolve())(),
  };

  return {
    serverId,
    follower,
    presence,
    approvals,
    signals,
    changes,
    publishOwn: async (_change, localBefore) => {
      cursors.ownApplying(localBefore);
    },
    isLeader: () => bus.isLeader,
    notReady() {
      const reasons: string[] = [];
      if (!bus.listening) reasons.push("cluster: not listening to the database");
      if (!follower.caughtUp)
        reasons.push(`cluster: changes not caught up (at ${follower.position})`);
      return reasons;
    },
    hub: {
      presence: (nodeId, change, attachedAt) => presence.local(nodeId, change, attachedAt),
      mayMarkOffline: (nodeId) => presence.mayMarkOffline(nodeId),
      removed: (nodeId, _refusal, localBefore) => {
        presence.forget(nodeId);
        cursors.ownApplying(localBefore);
      },
      cursorAt: (localSeq) => cursors.cursorAt(localSeq),
      localSeqOf(cursor) {
        const seq = cursors.parse(cursor);
        return seq === null ? null : cursors.localSeqOf(seq);
      },
      async prepareResume(cursor) {
        // The cursor is the client's word: wait only for a row the database really holds (a
        // made-up or stale number ahead of it means a full map, never a wait or a stuck
        // readiness).
        const seq = cursors.parse(cursor);
        if (seq === null || seq <= follower.position) return;
        const newest = await bus.maxSeq().catch(() => 0);
        if (seq <= newest) await follower.waitFor(seq, 3000);
      },
    },
    async close() {
      closed = true;
      clearInterval(poll);
      clearInterval(heartbeat);
      follower.close();
      approvals?.close();
      desk?.share(undefined);
      await bus.close();
    },
  };
}

/**
 * Applies a change here; resolves once what it set off here is done too (a
 * share node's removal recomputes the share overlay): only then may a cursor claim the row.
 */
async function applyRow(local: LocalChanges, row: ChangeRow): Promise<void> {
  await applyKind(local, row);
  await local.settled?.();
}

function applyKind(local: MeshChanges, row: ChangeRow): Promise<void> {
  switch (row.kind) {
    case "unreadable":
      return Promise.resolve();
    case "node":
      return local.nodeChanged(row.nodeId!);
    case "removed":
      return local.nodeRemoved(row.nodeId!, row.refusal);
    case "user":
      return local.userChanged(row.userId!);
    case "policy":
      return local.policyChanged();
    case "shares":
      return local.sharesChanged?.() ?? Promise.resolve();
  }
}
