// Follows cluster_changes (pg-bus.ts): reads the rows after the last one passed, in order,
// applies each (this server's own too: their rows do not say who wrote them, and applying a
// change already applied finds nothing new, mesh-changes.ts) and records each position in the
// cursor map. A run of rows the caller can apply together (node rows) goes in one call. Runs when a notification names a newer row and on a timer,
// one read at a time. A row whose application fails (the database went away mid-read) is not
// passed: the next run tries it again, so nothing is skipped.

import type { Logger } from "pino";
import type { CursorMap } from "./cursor.ts";
import type { ChangeRow } from "./pg-bus.ts";

/** What the follower reads and applies. */
export interface FollowerOptions {
  changesAfter(seq: number, limit: number): Promise<ChangeRow[]>;
  maxSeq(): Promise<number>;
  /** Applies a change to the map side. */
  apply(row: ChangeRow): Promise<void>;
  /**
   * Applies a run of consecutive rows that `batchable` accepted, together (node rows: one read
   * for all). Without it every row goes through `apply`.
   */
  applyRun?(rows: readonly ChangeRow[]): Promise<void>;
  batchable?(row: ChangeRow): boolean;
  /** The local change ring's position (mapper.log.seq). */
  localSeq(): number;
  cursors: CursorMap;
  log?: Logger;
  /** Rows read at once (default 500). */
  batch?: number;
}

interface Waiter {
  seq: number;
  resolve: (reached: boolean) => void;
  timer: NodeJS.Timeout;
}

/** The change follower of one control server. */
export class ChangeFollower {
  private latest = 0;
  private running: Promise<void> | undefined;
  private again = false;
  private waiters: Waiter[] = [];
  private failing = false;

  constructor(private readonly options: FollowerOptions) {}

  /** The newest row passed. */
  get position(): number {
    return this.options.cursors.position;
  }

  /** Whether every row known to exist has been passed, and the last read worked. */
  get caughtUp(): boolean {
    return !this.failing && this.position >= this.latest;
  }

  /** A notification named row `seq`: read up to it. */
  notified(seq: number): void {
    if (seq > this.latest) this.latest = seq;
    if (seq > this.position) this.run();
  }

  /** Asks the database for its newest row and reads up to it (the timer, a reconnect). */
  async poll(): Promise<void> {
    // Own changes made before the read committed before it: their rows are at or before max.
    const ticket = this.options.cursors.ticket();
    try {
      const max = await this.options.maxSeq();
      this.options.cursors.bound(ticket, max);
      if (max > this.latest) this.latest = max;
      this.failing = false;
    } catch (error) {
      this.failed(error, "cluster: newest change not read");
      return;
    }
    await this.run();
  }

  /** Resolves true once row `seq` is passed, false after `timeoutMs`. */
  waitFor(seq: number, timeoutMs: number): Promise<boolean> {
    if (seq <= this.position) return Promise.resolve(true);
    this.notified(seq);
    return new Promise((resolve) => {
      const waiter: Waiter = {
        seq,
        resolve,
        timer: setTimeout(() => {
          this.waiters = this.waiters.filter((w) => w !== waiter);
          resolve(false);
        }, timeoutMs),
      };
      this.waiters.push(waiter);
    });
  }

  /** Ends every wait (false). */
  close(): void {
    for (const waiter of this.waiters) {
      clearTimeout(waiter.timer);
      waiter.resolve(false);
    }
    this.waiters = [];
  }

  /** Reads until nothing newer is known; a run requested meanwhile goes again after it. */
  private run(): Promise<void> {
    if (this.running !== undefined) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.again = false;
        await this.readAll();
      } while (this.again && !this.failing);
    })().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async readAll(): Promise<void> {
    const { cursors } = this.options;
    const batch = this.options.batch ?? 500;
    for (;;) {
      let rows: ChangeRow[];
      try {
        rows = await this.options.changesAfter(cursors.position, batch);
      } catch (error) {
        this.failed(error, "cluster: changes not read");
        return;
      }
      for (let i = 0; i < rows.length; ) {
        const run = this.runAt(rows, i);
        const last = run[run.length - 1]!;
        try {
          if (run.length === 1) await this.options.apply(last);
          else await this.options.applyRun!(run);
        } catch (error) {
          this.failing = true;
          this.options.log?.warn(
            { seq: run[0]!.seq, err: String(error) },
            "cluster: change not applied",
          );
          return;
        }
        // Only the run's last row is recorded: the ring position after the run is where all of
        // it is in, and an earlier row maps to the position before the run (cursor.ts: a
        // resume from there resends the run, never misses part of it).
        cursors.passed(last.seq, this.options.localSeq());
        if (last.seq > this.latest) this.latest = last.seq;
        i += run.length;
      }
      this.failing = false;
      this.release();
      if (rows.length < batch) return;
    }
  }

  /** The rows from `start` on that go together: one row, or a run that `batchable` accepts. */
  private runAt(rows: readonly ChangeRow[], start: number): readonly ChangeRow[] {
    const { applyRun, batchable } = this.options;
    if (applyRun === undefined || batchable === undefined) return [rows[start]!];
    let end = start;
    while (end < rows.length && batchable(rows[end]!)) end++;
    return end - start > 1 ? rows.slice(start, end) : [rows[start]!];
  }

  /** Marks the follower failing; logs the first failure only (an outage fails every poll). */
  private failed(error: unknown, what: string): void {
    if (!this.failing) this.options.log?.warn({ err: String(error) }, what);
    this.failing = true;
  }

  private release(): void {
    const position = this.position;
    this.waiters = this.waiters.filter((waiter) => {
      if (waiter.seq > position) return true;
      clearTimeout(waiter.timer);
      waiter.resolve(true);
      return false;
    });
  }
}
