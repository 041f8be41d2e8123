// Volatile facts across control servers (DESIGN §9.1: online, last seen, endpoints, home relay
// live in memory, never written per change). Each server announces the changes of the nodes
// whose streams it holds as notifications (batched, <= 7.9 KB each), and applies the others'.
//
// Who holds a node: the server that last announced it online. An "offline" from any other
// server is stale (the node moved) and ignored, and a server that hears another took a node it
// holds closes its own stream (the newest stream wins, as on one server). A server that
// (re)joins says hello; every server answers with the state of the nodes it holds. Servers send
// "alive" every heartbeat; one silent for `deadAfterMs` is gone, and its nodes are offline.
//
// While the database is away (issue 18) nothing is heard and nothing can be sent. A server
// hears its own messages back through its listener, so one that has not heard itself for
// `deadAfterMs` (once it heard itself at all: a send path that echoes nothing proves nothing),
// or whose last send failed, knows it is the deaf one and ends nobody. Changes it could not
// send are kept (the newest fields of each node) and sent again on the heartbeat; and on
// rejoining it says hello and announces what it holds, since servers that rejoined before it
// said their hello to nobody, and what it sent meanwhile may have been heard by nobody.

import type { Logger } from "pino";
import * as v from "valibot";
import type { Volatile, VolatileChange } from "../state/volatile.ts";
import { NOTIFY_PAYLOAD_LIMIT } from "./pg-bus.ts";

/** What presence does to the map side. */
export interface PresenceHooks {
  /** Applies another server's change of a node; false when the node is not known (yet). */
  patch(nodeId: number, change: VolatileChange): boolean;
  /** Another server now holds `nodeId`: end this server's stream of it, cancel its removal. */
  claimedElsewhere(nodeId: number): void;
  /** The nodes whose streams this server holds, with their facts. */
  held(): Iterable<[number, Volatile]>;
  /** A node's server is gone and nobody holds it now. */
  orphaned(nodeId: number): void;
}

const MAX_ID = 2 ** 53 - 1;
const serverId = v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]{1,64}$/));
const change = v.strictObject({
  online: v.optional(v.boolean()),
  lastSeen: v.optional(v.nullable(v.pipe(v.number(), v.safeInteger(), v.minValue(0)))),
  endpoints: v.optional(v.pipe(v.array(v.pipe(v.string(), v.maxLength(64))), v.maxLength(64))),
  homeRelay: v.optional(v.pipe(v.string(), v.maxLength(64))),
});
const entry = v.tuple([
  v.pipe(v.number(), v.safeInteger(), v.minValue(1), v.maxValue(MAX_ID)),
  change,
]);

/** A presence notification. */
export const presenceMessage = v.variant("t", [
  v.strictObject({ t: v.literal("p"), s: serverId, n: v.pipe(v.array(entry), v.maxLength(1000)) }),
  v.strictObject({ t: v.literal("hello"), s: serverId }),
  v.strictObject({ t: v.literal("alive"), s: serverId }),
]);
/** A decoded presence notification. */
export type PresenceMessage = v.InferOutput<typeof presenceMessage>;

/** Decodes a notification's payload; null (and counted by the caller) when it is not one. */
export function decodePresence(payload: string): PresenceMessage | null {
  let json: unknown;
  try {
    json = JSON.parse(payload);
  } catch {
    return null;
  }
  const result = v.safeParse(presenceMessage, json);
  return result.success ? result.output : null;
}

/** Splits changes into "p" payloads of at most `limit` bytes each. */
export function encodeChanges(
  server: string,
  changes: Iterable<[number, VolatileChange]>,
  limit = NOTIFY_PAYLOAD_LIMIT,
): string[] {
  const head = `{"t":"p","s":${JSON.stringify(server)},"n":[`;
  const out: string[] = [];
  let parts: string[] = [];
  let size = head.length + 2;
  for (const item of changes) {
    const text = JSON.stringify(item);
    if (head.length + 2 + text.length > limit) continue; // cannot happen within the schema's bounds
    if (parts.length > 0 && (size + text.length + 1 > limit || parts.length >= 1000)) {
      out.push(`${head}${parts.join(",")}]}`);
      parts = [];
      size = head.length + 2;
    }
    parts.push(text);
    size += text.length + 1;
  }
  if (parts.length > 0) out.push(`${head}${parts.join(",")}]}`);
  return out;
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
  log?: Logger;
}

/** The presence of every node across the servers. */
export class Presence {
  private readonly owner = new Map<number, string>();
  private readonly alive = new Map<string, number>();
  private readonly waitingNodes = new Map<number, { change: VolatileChange; at: number }>();
  private queue = new Map<number, VolatileChange>();
  private flushing = false;
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
    return this.owner.get(nodeId);
  }

  /** A node this server holds changed (its stream opened or ended, its endpoints). */
  local(nodeId: number, change: VolatileChange): void {
    if (change.online === true) this.owner.set(nodeId, this.options.serverId);
    if (change.online === false && this.owner.get(nodeId) === this.options.serverId) {
      this.owner.delete(nodeId);
    }
    const merged = { ...this.queue.get(nodeId), ...change };
    this.queue.set(nodeId, merged);
    if (!this.stalled) this.scheduleFlush();
  }

  /** Whether this server may mark `nodeId` offline (no other server took it meanwhile). */
  mayMarkOffline(nodeId: number): boolean {
    const holder = this.owner.get(nodeId);
    return holder === undefined || holder === this.options.serverId;
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
    this.alive.set(message.s, this.options.now());
    if (message.t === "hello") {
      this.announceHeld();
      return;
    }
    if (message.t === "alive") return;
    for (const [nodeId, fields] of message.n) this.remote(message.s, nodeId, fields);
  }

  /** The listener (re)connected: ask everyone for what they hold; forgive missed heartbeats. */
  rejoined(): void {
    this.forgive(this.options.now());
    this.options.send(JSON.stringify({ t: "hello", s: this.options.serverId })).catch(() => {});
    this.announceHeld();
    if (this.queue.size > 0) this.scheduleFlush();
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
    for (const [nodeId, { change, at }] of this.waitingNodes) {
      if (this.options.hooks.patch(nodeId, change) || now - at > 60_000) {
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
      for (const [nodeId, holder] of this.owner) {
        if (holder !== server) continue;
        this.owner.delete(nodeId);
        this.options.hooks.patch(nodeId, { online: false, lastSeen: last });
        this.options.hooks.orphaned(nodeId);
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

  private scheduleFlush(): void {
    if (this.flushing) return;
    this.flushing = true;
    setTimeout(() => void this.flush(), 20);
  }

  private remote(server: string, nodeId: number, fields: VolatileChange): void {
    if (fields.online === true) {
      const before = this.owner.get(nodeId);
      this.owner.set(nodeId, server);
      if (before !== server) this.options.hooks.claimedElsewhere(nodeId);
    } else if (this.owner.get(nodeId) !== server) {
      return; // from a server that no longer holds it (or never announced it)
    } else if (fields.online === false) {
      this.owner.delete(nodeId);
    }
    if (!this.options.hooks.patch(nodeId, fields)) {
      const before = this.waitingNodes.get(nodeId)?.change;
      this.waitingNodes.set(nodeId, { change: { ...before, ...fields }, at: this.options.now() });
    }
  }

  private announceHeld(): void {
    const items: [number, VolatileChange][] = [];
    for (const [nodeId, facts] of this.options.hooks.held()) items.push([nodeId, { ...facts }]);
    for (const payload of encodeChanges(this.options.serverId, items)) {
      this.options.send(payload).catch(() => {});
    }
  }

  private async flush(): Promise<void> {
    const batch = this.queue;
    this.queue = new Map();
    try {
      for (const payload of encodeChanges(this.options.serverId, batch)) {
        await this.options.send(payload);
      }
      this.stalled = false;
    } catch (error) {
      // Kept for the next heartbeat, under whatever changed since (newer fields win); a part
      // already sent goes again, which changes nothing. Nothing durable depends on it.
      for (const [nodeId, change] of batch) {
        this.queue.set(nodeId, { ...change, ...this.queue.get(nodeId) });
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
