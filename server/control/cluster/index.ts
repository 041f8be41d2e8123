// Several control servers on one PostgreSQL (DESIGN §9.1), composed: the bus (pg-bus.ts), the
// change follower (follower.ts), cursors (cursor.ts), presence (presence.ts) and the leader's
// jobs. startControl (../index.ts) starts it when given `cluster` and hands its hooks to the hub
// and its MeshChanges to the API.
//
// A change is applied on the server that made it at once (the API's caller sees it done) and
// published as a row; every other server applies it when its follower reaches the row. Each
// application reads the current state from the database, so servers that apply the same rows
// in different interleavings with their own end in the same state.

import { randomBytes } from "node:crypto";
import type { Logger } from "pino";
import type { MeshChanges, NodeRefusal } from "../changes.ts";
import type { Volatile, VolatileChange } from "../state/volatile.ts";
import { CursorMap, type OwnChange } from "./cursor.ts";
import { ChangeFollower } from "./follower.ts";
import {
  CHANGES_CHANNEL,
  type ChangeRow,
  type ClusterChange,
  PgBus,
  PRESENCE_CHANNEL,
} from "./pg-bus.ts";
import { Presence } from "./presence.ts";

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

/** What the cluster needs of the map side. */
export interface ClusterSide {
  /** The map side's own MeshChanges (mesh-changes.ts): applies other servers' rows. */
  local: MeshChanges & { settled?(): Promise<void> };
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
}

/** A running cluster member. */
export interface Cluster {
  readonly serverId: string;
  readonly hub: HubCluster;
  /** MeshChanges for the API: applied here, then published. */
  readonly changes: MeshChanges;
  readonly follower: ChangeFollower;
  readonly presence: Presence;
  /** Publishes a change this server already applied (registration, host facts). */
  publishOwn(change: ClusterChange, localBefore: number): Promise<void>;
  isLeader(): boolean;
  /** Why the server is not ready, or [] (database reachable and caught up). */
  notReady(): string[];
  close(): Promise<void>;
}

/** Joins the cluster: connects, notes the newest row (call before loading the state). */
export async function joinCluster(
  options: ClusterOptions & { tag: string; log?: Logger },
): Promise<{ start(side: ClusterSide): Cluster; startSeq: number }> {
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
    startSeq = await bus.maxSeq();
  } catch (error) {
    await bus.close();
    throw error;
  }
  return {
    startSeq,
    start: (side) => startMember(bus, events, serverId, startSeq, options, side, log),
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
    localSeq: side.localSeq,
    serverId,
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
  let closed = false;
  let leaderSince: number | undefined;
  const publishing = new Publisher(bus, cursors, follower, side.now, log);

  events.notify = (channel, payload) => {
    if (channel === CHANGES_CHANNEL) {
      const seq = Number(payload);
      if (Number.isSafeInteger(seq) && seq > 0) follower.notified(seq);
    } else if (channel === PRESENCE_CHANNEL) presence.received(payload);
  };
  events.listening = () => {
    presence.rejoined();
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

  // The change is committed before any of this: it is published whether or not applying it
  // here worked. When it did not (the database went away mid-read), the row is not marked as
  // applied here, so this server's follower applies it when it comes by, like another's.
  const own = (change: ClusterChange, work: () => Promise<void>) => async () => {
    const mark = cursors.ownApplying(side.localSeq());
    let failure: unknown;
    try {
      await work();
    } catch (error) {
      failure = error;
    }
    await publishing.publish(change, mark, failure === undefined);
    if (failure !== undefined) throw failure;
  };
  const local = side.local;
  const changes: MeshChanges = {
    nodeChanged: (nodeId) => own({ kind: "node", nodeId }, () => local.nodeChanged(nodeId))(),
    nodeRemoved: (nodeId, refusal) =>
      own({ kind: "removed", nodeId, refusal }, () => local.nodeRemoved(nodeId, refusal))(),
    userChanged: (userId) => own({ kind: "user", userId }, () => local.userChanged(userId))(),
    // Its nodes' removals are published one by one (HubCluster.removed).
    userSignedOut: (userId) => local.userSignedOut(userId),
    policyChanged: () => own({ kind: "policy" }, () => local.policyChanged())(),
    sharesChanged: () =>
      own({ kind: "shares" }, () => local.sharesChanged?.() ?? Promise.resolve())(),
  };

  return {
    serverId,
    follower,
    presence,
    changes,
    publishOwn: (change, localBefore) =>
      publishing.publish(change, cursors.ownApplying(localBefore), true),
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
      removed: (nodeId, refusal, localBefore) => {
        presence.forget(nodeId);
        publishing
          .publish({ kind: "removed", nodeId, refusal }, cursors.ownApplying(localBefore), true)
          .catch(() => {});
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
      await publishing.drain(2000);
      await bus.close();
    },
  };
}

/** Resolves when `work` settles or after `ms`, whichever comes first; the timer goes either way. */
async function raceTimeout(work: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const late = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
    });
    await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Applies another server's change here; resolves once what it set off here is done too (a
 * share node's removal recomputes the share overlay): only then may a cursor claim the row.
 */
async function applyRow(
  local: MeshChanges & { settled?(): Promise<void> },
  row: ChangeRow,
): Promise<void> {
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

/**
 * Publishes this server's changes in the order they were made, retrying with backoff while the
 * database is away: the change is already committed and applied here, and the other servers
 * must hear of it. A caller waits at most 5 s; the retries go on behind it.
 */
class Publisher {
  private chain: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(
    private readonly bus: PgBus,
    private readonly cursors: CursorMap,
    private readonly follower: ChangeFollower,
    private readonly now: () => number,
    private readonly log: Logger | undefined,
  ) {}

  /** `appliedHere`: false when applying it on this server failed (the follower will). */
  publish(change: ClusterChange, mark: OwnChange, appliedHere: boolean): Promise<void> {
    const done = this.chain.then(() => this.attempt(change, mark, appliedHere));
    this.chain = done;
    return raceTimeout(done, 5000);
  }

  async drain(timeoutMs: number): Promise<void> {
    await raceTimeout(this.chain, timeoutMs);
    this.stopped = true;
  }

  private async attempt(
    change: ClusterChange,
    mark: OwnChange,
    appliedHere: boolean,
  ): Promise<void> {
    let wait = 250;
    for (;;) {
      try {
        const seq = await this.bus.publish(change, this.now());
        // Not applied here: no own mark, so the follower applies the row when it comes by.
        this.cursors.ownNumberedAs(mark, appliedHere ? seq : undefined);
        this.follower.notified(seq);
        return;
      } catch (error) {
        if (this.stopped) {
          this.cursors.ownNumberedAs(mark, undefined);
          this.log?.error(
            { change, err: String(error) },
            "cluster: change not published (stopping)",
          );
          return;
        }
        this.log?.warn(
          { change, err: String(error), retryInMs: wait },
          "cluster: change not published yet",
        );
        await new Promise((resolve) => setTimeout(resolve, wait));
        wait = Math.min(wait * 2, 5000);
      }
    }
  }
}
