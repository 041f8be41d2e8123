// Volatile facts across control servers (DESIGN §9.1: online, last seen, endpoints, home relay
// live in memory, never written per change). Each server announces the changes of the nodes
// whose streams it holds as notifications (batched, <= 7.9 KB each), and applies the others'.
//
// Who holds a node: the server whose online claim has the newest attach time (that server's
// clock, ms; ties: the higher server id). Not "whoever spoke last": a late hello answer from a
// server with a stale half-open stream must not take the node from the server holding its new
// stream (both would close theirs, and nobody would ever say offline). An older claim is
// ignored, facts and all; an "offline" from a server not holding the node is stale (the node
// moved) and ignored; a server that hears a newer claim for a node it holds closes its own
// stream (the newest stream wins, as on one server). A server that (re)joins says hello; every
// server answers with the state of the nodes it holds. Servers send "alive" every heartbeat;
// one silent for `deadAfterMs` is gone, and its nodes are offline (the leader alone starts
// their ephemeral grace). One heard from again that was not counted alive (new, or declared
// dead by a stall) is asked for what it holds, so its nodes come back online; a removal
// re-checks that nobody holds the node (HubCluster.mayMarkOffline).
//
// Changes for a node not known yet (its row not applied here yet) wait, and are applied when a
// newer change of the node arrives (under it) or on the heartbeat, never over newer facts.
//
// While the database is away (issue 18) nothing is heard and nothing can be sent. A server
// hears its own messages back through its listener, so one that has not heard itself for
// `deadAfterMs` (once it heard itself at all: a send path that echoes nothing proves nothing),
// or whose last send failed, knows it is the deaf one and ends nobody. Changes it could not
// send are kept (the newest fields of each node) and sent again on the heartbeat; and on
// rejoining it says hello and announces what it holds, since servers that rejoined before it
// said their hello to nobody, and what it sent meanwhile may have been heard by nobody.

import type { Logger } from "pino";
import type { Volatile, VolatileChange } from "../state/volatile.ts";
import { decodePresence, encodeChanges, type PresenceEntry } from "./presence-wire.ts";

/** A server's presence changes go out at most once per this many milliseconds. */
const PRESENCE_BATCH_MS = 20;

/** What presence does to the map side. */
export interface PresenceHooks {
  /** Applies another server's change of a node; false when the node is not known (yet). */
  patch(nodeId: number, change: VolatileChange): boolean;
  /** Another server now holds `nodeId`: end this server's stream of it, cancel its removal. */
  claimedElsewhere(nodeId: number): void;
  /** The nodes whose streams this server holds, with their facts and attach times (ms). */
  held(): Iterable<[number, Volatile, number?]>;
  /** A node's server is gone and nobody holds it now. */
  orphaned(nodeId: number): void;
}

/** What Presence needs. */
export interface PresenceOptions {
  serverId: string;
  hooks: PresenceHooks;
  /** Sends one payload on the presence channel. */
  send(payload: string): Promise<void>;
  now(): number;
  /** A server silent this long is gone (default 15 s: three heartbeats). */
  deadAfterMs?: number;
  /** Whether this server leads: only the leader orphans a gone server's nodes (default: yes). */
  leading?(): boolean;
  log?: Logger;
}

/** Who holds a node, and the attach time of its stream there. */
interface Claim {
  server: string;
  attachedAt: number;
}

/** Whether claim `a` is newer than `b` (attach time, then server id). */
function newer(a: Claim, b: Claim): boolean {
  return a.attachedAt !== b.attachedAt ? a.attachedAt > b.attachedAt : a.server > b.server;
}

/** A change waiting for its node, from `server`, since `at`. */
interface Waiting {
  server: string;
  change: VolatileChange;
  at: number;
}

/** The presence of every node across the servers. */
export class Presence {
  private readonly owner = new Map<number, Claim>();
  private readonly alive = new Map<string, number>();
  private readonly waitingNodes = new Map<number, Waiting>();
  private queue = new Map<number, { change: VolatileChange; attachedAt?: number }>();
  /** When this server last asked every server for what it holds. */
  private helloAt: number | undefined;
  private flushing = false;
  /** performance.now() when the last batch went out. */
  private flushedAt = Number.NEGATIVE_INFINITY;
  /** The last send failed: the queue waits for the heartbeat instead of spinning. */
  private stalled = false;
  /** When this server last heard one of its own messages (its listener works). */
  private heardSelfAt: number | undefined;
  /** The last send failed. */
  private sendFailed = false;
  /** Notifications that were not presence messages. */
  malformed = 0;

  constructor(private readonly options: PresenceOptions) {}

  /** The server holding `nodeId`, if any is known to. */
  holder(nodeId: number): string | undefined {
    return this.owner.get(nodeId)?.server;
  }

  /**
   * A node this server holds changed (its stream opened or ended, its endpoints). An online
   * claim carries its stream's attach time (default: now); it is made newer than any claim
   * heard already, since this stream came after it whatever the clocks say.
   */
  local(nodeId: number, change: VolatileChange, attachedAt?: number): void {
    const self = this.options.serverId;
    const queued = this.queue.get(nodeId);
    let claimedAt = queued?.attachedAt;
    if (change.online === true) {
      const known = this.owner.get(nodeId);
      claimedAt = attachedAt ?? this.options.now();
      if (known !== undefined && known.server !== self && known.attachedAt >= claimedAt) {
        claimedAt = known.attachedAt + 1;
      }
      this.owner.set(nodeId, { server: self, attachedAt: claimedAt });
    }
    if (change.online === false && this.owner.get(nodeId)?.server === self) {
      this.owner.delete(nodeId);
    }
    this.waitingNodes.delete(nodeId); // this server's facts are the newest
    this.queue.set(nodeId, { change: { ...queued?.change, ...change }, attachedAt: claimedAt });
    if (!this.stalled) this.scheduleFlush();
  }

  /** Whether this server may mark `nodeId` offline (no other server took it meanwhile). */
  mayMarkOffline(nodeId: number): boolean {
    const holder = this.owner.get(nodeId)?.server;
    return holder === undefined || holder === this.options.serverId;
  }

  /** The node was removed: what is known of it goes (the maps would only grow otherwise). */
  forget(nodeId: number): void {
    this.owner.delete(nodeId);
    this.waitingNodes.delete(nodeId);
  }

  /** A payload from the presence channel. */
  received(payload: string): void {
    const message = decodePresence(payload);
    if (message === null) {
      this.malformed++;
      return;
    }
    if (message.s === this.options.serverId) {
      const now = this.options.now();
      // Deaf until now: the others' silence meanwhile says nothing about them.
      if (this.heardSelfAt !== undefined && now - this.heardSelfAt > this.deadAfter()) {
        this.forgive(now);
      }
      this.heardSelfAt = now;
      return;
    }
    const now = this.options.now();
    const known = this.alive.has(message.s);
    this.alive.set(message.s, now);
    if (message.t === "hello") {
      if (message.to === undefined || message.to === this.options.serverId) this.announceHeld();
      return;
    }
    // New, or declared dead (a stall, a cut from the database) though alive: ask what it holds,
    // unless every server was asked a moment ago. Its nodes would stay offline otherwise.
    if (!known && (this.helloAt === undefined || now - this.helloAt > this.deadAfter())) {
      this.options
        .send(JSON.stringify({ t: "hello", s: this.options.serverId, to: message.s }))
        .catch(() => {});
    }
    if (message.t === "alive") return;
    for (const [nodeId, fields, attachedAt] of message.n) {
      this.remote(message.s, nodeId, fields, attachedAt ?? now);
    }
  }

  /** The listener (re)connected: ask everyone for what they hold; forgive missed heartbeats. */
  rejoined(): void {
    this.helloAt = this.options.now();
    this.forgive(this.helloAt);
    this.options.send(JSON.stringify({ t: "hello", s: this.options.serverId })).catch(() => {});
    this.announceHeld();
    if (this.queue.size > 0) this.scheduleFlush();
  }

  /**
   * The map side knows `nodeId` now (the follower applied its row): facts that came before it
   * apply at once, not at the next heartbeat (the node would look offline until then).
   */
  nodeKnown(nodeId: number): void {
    const waiting = this.waitingNodes.get(nodeId);
    if (waiting === undefined) return;
    const holder = this.owner.get(nodeId)?.server;
    if (holder !== undefined && holder !== waiting.server) {
      this.waitingNodes.delete(nodeId);
      return;
    }
    if (this.options.hooks.patch(nodeId, waiting.change)) this.waitingNodes.delete(nodeId);
  }

  /** The heartbeat: says alive, retries waiting changes, and ends servers gone silent. */
  tick(): void {
    const now = this.options.now();
    this.options.send(JSON.stringify({ t: "alive", s: this.options.serverId })).then(
      () => {
        this.sendFailed = false;
      },
      () => {
        this.sendFailed = true;
      },
    );
    if (this.stalled && this.queue.size > 0) this.scheduleFlush();
    for (const [nodeId, { server, change, at }] of this.waitingNodes) {
      const holder = this.owner.get(nodeId)?.server;
      // From a server that no longer holds the node: stale, dropped.
      const stale = holder !== undefined && holder !== server;
      if (stale || now - at > 60_000 || this.options.hooks.patch(nodeId, change)) {
        this.waitingNodes.delete(nodeId);
      }
    }
    const deadAfter = this.deadAfter();
    if (this.deaf(now, deadAfter)) {
      // The others' silence says nothing now; count it from when this server hears again.
      this.forgive(now);
      return;
    }
    for (const [server, last] of this.alive) {
      if (now - last <= deadAfter) continue;
      this.alive.delete(server);
      let count = 0;
      const leading = this.options.leading?.() ?? true;
      for (const [nodeId, holder] of this.owner) {
        if (holder.server !== server) continue;
        this.owner.delete(nodeId);
        this.options.hooks.patch(nodeId, { online: false, lastSeen: last });
        if (leading) this.options.hooks.orphaned(nodeId);
        count++;
      }
      this.options.log?.warn(
        { server, nodes: count },
        "control server gone silent: its nodes are offline",
      );
    }
  }

  private deaf(now: number, deadAfter: number): boolean {
    if (this.sendFailed || this.stalled) return true;
    return this.heardSelfAt !== undefined && now - this.heardSelfAt > deadAfter;
  }

  private deadAfter(): number {
    return this.options.deadAfterMs ?? 15_000;
  }

  /** Counts every known server alive as of `now`. */
  private forgive(now: number): void {
    for (const server of this.alive.keys()) this.alive.set(server, now);
  }

  /**
   * The first change after a quiet spell goes once this turn's code is done (what the other servers'
   * viewers wait for: cross-server fan-out); changes within 20 ms of the last batch wait for
   * the interval's end and go together, so a join storm costs a NOTIFY per 20 ms, not per node.
   */
  private scheduleFlush(): void {
    if (this.flushing) return;
    this.flushing = true;
    const wait = this.flushedAt + PRESENCE_BATCH_MS - performance.now();
    if (wait <= 0) queueMicrotask(() => void this.flush());
    else setTimeout(() => void this.flush(), wait);
  }

  private remote(server: string, nodeId: number, fields: VolatileChange, attachedAt: number): void {
    const before = this.owner.get(nodeId);
    if (fields.online === true) {
      const claim = { server, attachedAt };
      if (before !== undefined && before.server !== server && !newer(claim, before)) {
        return; // an older stream's claim, heard late (a hello answer): its facts are old too
      }
      this.owner.set(nodeId, claim);
      if (before?.server !== server) this.options.hooks.claimedElsewhere(nodeId);
    } else if (before?.server !== server) {
      return; // from a server that no longer holds it (or never announced it)
    } else if (fields.online === false) {
      this.owner.delete(nodeId);
    }
    // Anything still waiting for the node is older than this: under it, or dropped if it came
    // from another server.
    const waiting = this.waitingNodes.get(nodeId);
    this.waitingNodes.delete(nodeId);
    const merged = waiting?.server === server ? { ...waiting.change, ...fields } : fields;
    if (!this.options.hooks.patch(nodeId, merged)) {
      this.waitingNodes.set(nodeId, { server, change: merged, at: this.options.now() });
    }
  }

  private announceHeld(): void {
    const self = this.options.serverId;
    const items: PresenceEntry[] = [];
    for (const [nodeId, facts, attachedAt] of this.options.hooks.held()) {
      // The claim as sent when attaching, which may have been made newer than the hub's time.
      const own = this.owner.get(nodeId);
      const mine = own?.server === self ? own.attachedAt : 0;
      const at = Math.max(mine, attachedAt ?? (mine || this.options.now()));
      items.push(facts.online ? [nodeId, { ...facts }, at] : [nodeId, { ...facts }]);
    }
    for (const payload of encodeChanges(self, items)) {
      this.options.send(payload).catch(() => {});
    }
  }

  /** The queue's entries as sent: online claims with their attach times. */
  private *entries(
    batch: Map<number, { change: VolatileChange; attachedAt?: number }>,
  ): Iterable<PresenceEntry> {
    for (const [nodeId, { change, attachedAt }] of batch) {
      yield change.online === true && attachedAt !== undefined
        ? [nodeId, change, attachedAt]
        : [nodeId, change];
    }
  }

  private async flush(): Promise<void> {
    this.flushedAt = performance.now();
    const batch = this.queue;
    this.queue = new Map();
    try {
      for (const payload of encodeChanges(this.options.serverId, this.entries(batch))) {
        await this.options.send(payload);
      }
      this.stalled = false;
    } catch (error) {
      // Kept for the next heartbeat, under whatever changed since (newer fields win); a part
      // already sent goes again, which changes nothing. Nothing durable depends on it.
      for (const [nodeId, old] of batch) {
        const later = this.queue.get(nodeId);
        this.queue.set(nodeId, {
          change: { ...old.change, ...later?.change },
          attachedAt: later?.attachedAt ?? old.attachedAt,
        });
      }
      if (!this.stalled) {
        this.options.log?.warn({ err: String(error) }, "cluster: presence not sent (kept)");
      }
      this.stalled = true;
    } finally {
      this.flushing = false;
      if (this.queue.size > 0 && !this.stalled) this.scheduleFlush();
    }
  }
}
