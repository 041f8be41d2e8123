// A node's outgoing deltas. Changes that arrive in the same turn of the event loop go out as
// one delta; while the socket still holds more than `highWaterBytes` unsent (a slow client, a
// slow link), they coalesce in a PendingDelta instead of piling up as messages. When even the
// coalesced backlog grows past `maxPendingEntries` peers, the client is too far behind to
// catch up by deltas: the outbox gives up (the stream closes 4429, the client resumes and gets
// what it missed, or a full map).

import { type DeltaParts, PendingDelta } from "./pending-delta.ts";

/** Where an outbox writes: a WebSocket in production, a recorder in tests. */
export interface OutboxSink {
  /** Bytes accepted but not yet written to the network. */
  readonly bufferedAmount: number;
  send(text: string): void;
}

/** Bounds of one outbox. */
export interface OutboxLimits {
  /** Hold deltas back while the socket buffers at least this many bytes. */
  highWaterBytes: number;
  /** Give up when more peers than this have changes waiting. */
  maxPendingEntries: number;
  /** At most one delta per this many milliseconds (0: one per turn). Default 50. */
  minIntervalMs?: number;
}

/**
 * Defaults: 256 KiB in the socket, 20,000 peers waiting (two full meshes of 10,000), a delta
 * every 50 ms at most (a person does not see 50 ms; a storm of changes costs 20 frames a second
 * per stream instead of one per change).
 */
export const DEFAULT_OUTBOX_LIMITS: OutboxLimits = {
  highWaterBytes: 256 * 1024,
  maxPendingEntries: 20_000,
  minIntervalMs: 50,
};

/** One node's outgoing delta queue. */
export class Outbox {
  private readonly pending = new PendingDelta();
  private covered = 0;
  private scheduled = false;
  private stopped = false;
  /** performance.now() of the last delta sent (monotonic: a wall-clock step changes nothing). */
  private sentAt = Number.NEGATIVE_INFINITY;
  private timer: NodeJS.Timeout | undefined;

  /**
   * `numberNext(globalSeq)` gives the session sequence number of the next delta, which covers
   * the global changes up to `globalSeq`; `overflow()` is called once when the bound is hit;
   * `cursorNow()`, on several servers, the cursor each delta carries (cluster/cursor.ts).
   */
  constructor(
    private readonly sink: OutboxSink,
    private readonly limits: OutboxLimits,
    private readonly numberNext: (globalSeq: number) => number,
    private readonly overflow: () => void,
    private readonly cursorNow?: () => string | undefined,
  ) {}

  /** Whether nothing at all waits (no peer, rules, self or token change). */
  get empty(): boolean {
    return this.pending.empty;
  }

  /** Peers with changes waiting. */
  get waiting(): number {
    return this.pending.entries;
  }

  /** Queues `parts`, which reflect the global changes up to `globalSeq`. */
  add(parts: DeltaParts, globalSeq: number): void {
    if (this.stopped) return;
    this.pending.add(parts);
    this.covered = Math.max(this.covered, globalSeq);
    // The bound first: reading the socket's buffered bytes on every add (once per change and
    // viewer) cost more than the rest of add, and only a backlog past the bound needs it.
    if (this.pending.entries > this.limits.maxPendingEntries && this.blocked() && this.overBound())
      return;
    if (!this.scheduled) this.schedule();
  }

  /** Sends what waits, unless the socket is still busy (call again when it drains). */
  flush(): void {
    if (this.stopped || this.pending.empty) return;
    if (this.blocked()) {
      this.overBound();
      return;
    }
    const message = this.pending.take(this.numberNext(this.covered));
    // Everything pending goes now: the node is up to date with the whole change log so far.
    const cursor = this.cursorNow?.();
    this.sink.send(JSON.stringify(cursor === undefined ? message : { ...message, cursor }));
    this.sentAt = performance.now();
  }

  /** Stops sending (the stream is closing). */
  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Flushes at the end of this turn, or at the end of the interval since the last delta. */
  private schedule(): void {
    this.scheduled = true;
    const run = (): void => {
      this.scheduled = false;
      this.timer = undefined;
      this.flush();
    };
    const interval = this.limits.minIntervalMs ?? 0;
    const wait = this.sentAt + interval - performance.now();
    if (interval === 0) {
      queueMicrotask(run);
    } else if (wait <= 0) {
      // After this turn's I/O (setImmediate, not a microtask): what the loop read from other
      // sockets in this turn coalesces too, and a change's cluster notification (a database
      // query: microtasks and ticks) leaves before this server writes to thousands of streams,
      // so the other servers' viewers do not wait for this server's own fan-out.
      setImmediate(run);
    } else {
      this.timer = setTimeout(run, wait);
      // A stream's pending delta never keeps the process alive on its own.
      this.timer.unref();
    }
  }

  private blocked(): boolean {
    return this.sink.bufferedAmount >= this.limits.highWaterBytes;
  }

  private overBound(): boolean {
    if (this.pending.entries <= this.limits.maxPendingEntries) return false;
    this.stopped = true;
    this.overflow();
    return true;
  }
}
