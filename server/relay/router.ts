// Forwarding by node key: the registry of authenticated sessions (newest wins), SEND → RECV,
// and PEER_GONE, both "not here" (rate-limited per sender and destination) and "disconnected"
// (to the clients that recently sent to a key that went away).

import {
  encodePeerGone,
  GONE_DISCONNECTED,
  GONE_NOT_HERE,
  RECV,
} from "../../worker/relay/frames.ts";
import type { RelayMetrics } from "./metrics.ts";
import { CLOSE_REPLACED, keyId, type RelaySession } from "./session.ts";

/** A sender counts as recent for PEER_GONE(disconnected) this long. */
export const RECENT_SENDER_MS = 60_000;
/** At most one PEER_GONE(not here) per sender and destination in this interval. */
export const NOT_HERE_INTERVAL_MS = 1_000;
/** Past this many remembered "not here" destinations, a sender's memory is cleared. */
const MAX_NOT_HERE = 4096;

/** The authenticated sessions by node key, and the forwarding between them. */
export class Router {
  private readonly byKey = new Map<string, RelaySession>();

  constructor(
    private readonly metrics: RelayMetrics,
    private readonly clock: () => number,
  ) {}

  /** Authenticated clients. */
  get size(): number {
    return this.byKey.size;
  }

  /** Every authenticated session. */
  sessions(): IterableIterator<RelaySession> {
    return this.byKey.values();
  }

  /** Registers a session; an older one with the same key is closed with 4409 "replaced". */
  register(session: RelaySession): RelaySession | undefined {
    const older = this.byKey.get(session.keyId);
    this.byKey.set(session.keyId, session);
    if (older !== undefined && older !== session) older.close(CLOSE_REPLACED, "replaced");
    return older;
  }

  /**
   * Removes a session that ended. When it was the registered one for its key, clients that
   * sent to it in the last minute get PEER_GONE(key, disconnected).
   */
  unregister(session: RelaySession): void {
    if (session.keyId === "" || this.byKey.get(session.keyId) !== session) return;
    this.byKey.delete(session.keyId);
    const now = this.clock();
    for (const [sender, at] of session.recentSenders) {
      if (!sender.ready || now - at >= RECENT_SENDER_MS || sender.keyId === session.keyId) continue;
      sender.send(encodePeerGone(session.key, GONE_DISCONNECTED), true);
    }
    session.recentSenders.clear();
  }

  /** SEND from `from`: rewrites `message` in place as RECV(source) and queues it. */
  forward(from: RelaySession, message: Buffer, destination: Uint8Array): void {
    const id = keyId(destination);
    const to = this.byKey.get(id);
    const now = this.clock();
    if (to === undefined) {
      this.metrics.drop("not_here");
      const last = from.notHere.get(id);
      if (last !== undefined && now - last < NOT_HERE_INTERVAL_MS) return;
      if (from.notHere.size >= MAX_NOT_HERE) from.notHere.clear();
      from.notHere.set(id, now);
      from.send(encodePeerGone(destination, GONE_NOT_HERE), true);
      return;
    }
    to.recentSenders.set(from, now);
    // SEND and RECV have the same layout: type, key, packet. Reuse the received buffer.
    message[0] = RECV;
    message.set(from.key, 1);
    to.send(message); // bounded per-destination queue: send() counts a drop and the cap
  }

  /** Forgets stale PEER_GONE bookkeeping (called from the keepalive sweep). */
  prune(): void {
    const now = this.clock();
    for (const session of this.byKey.values()) {
      for (const [sender, at] of session.recentSenders) {
        if (!sender.ready || now - at >= RECENT_SENDER_MS) session.recentSenders.delete(sender);
      }
      for (const [id, at] of session.notHere) {
        if (now - at >= NOT_HERE_INTERVAL_MS) session.notHere.delete(id);
      }
    }
  }
}
