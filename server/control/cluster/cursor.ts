// Cursors: where a map message leaves a node in the mesh-wide change log (cluster_changes), so
// that any control server on the same database resumes the node with a delta (DESIGN §9.1).
// Each server numbers its own change ring (state/change-log.ts); this maps between the two.
//
// As the follower passes database row p (applying it, or finding it is this server's own and
// already applied), it records the local ring position at that moment. A message that covered
// local position L carries the newest p passed at or before L: the node has every change up to
// p. Another server resumes that node from its own position at p, minus one subtlety: its own
// changes are applied at once, before the follower reaches their rows, so a change of its own
// numbered after p may sit in its ring before its position at p. Those pull the resume point
// back to just before them: a change sent twice is harmless (upserts replace, removals of
// unknown peers are ignored), a change missed is not.
//
// A change's row is written by its own transaction (triggers.ts), so the server does not learn
// its number; it learns a bound instead: the newest row in the database, read after the change
// committed (the follower's next poll), is at or after it. Until then the change pulls back
// every resume; after, every resume from a row before the bound.

/** How many positions are remembered (as many as the change ring holds by default). */
export const DEFAULT_CURSOR_WINDOW = 65536;

/** A change of this server's own, applied here before the follower reached its row. */
export interface OwnChange {
  /** The local ring position just before it was applied. */
  readonly localBefore: number;
  /** Its place among own changes: a bound read after `ticket()` returned more covers it. */
  readonly ticket: number;
  /** A row number at or after its row's (the newest row, read after it committed). */
  dbSeq?: number;
}

/** The map between database rows and this server's ring positions. */
export class CursorMap {
  private readonly db: number[] = [];
  private readonly local: number[] = [];
  private readonly own = new Set<OwnChange>();
  private ownNumbered: OwnChange[] = [];
  private tickets = 0;

  /** `tag` tells databases apart (a cursor from another mesh's database never matches). */
  constructor(
    readonly tag: string,
    private readonly window = DEFAULT_CURSOR_WINDOW,
  ) {
    if (!/^[A-Za-z0-9_]{1,32}$/.test(tag)) throw new RangeError(`cursor tag ${tag} is not valid`);
  }

  /** The newest row passed (0 before any). */
  get position(): number {
    return this.db.length === 0 ? 0 : this.db[this.db.length - 1]!;
  }

  /** Starts at row `seq` (the newest row when the server loaded its state) at ring position `localSeq`. */
  startAt(seq: number, localSeq: number): void {
    if (this.db.length > 0) throw new Error("cursor map: startAt() after rows were passed");
    this.db.push(seq);
    this.local.push(localSeq);
  }

  /** The follower passed row `seq` with the ring at `localSeq`. Rows come in increasing order. */
  passed(seq: number, localSeq: number): void {
    if (seq <= this.position) return;
    this.db.push(seq);
    this.local.push(localSeq);
    if (this.db.length > this.window) {
      const drop = this.db.length - this.window;
      this.db.splice(0, drop);
      this.local.splice(0, drop);
      const oldest = this.db[0]!;
      this.ownNumbered = this.ownNumbered.filter((c) => c.dbSeq! > oldest);
    }
  }

  /** A change of this server's own, committed already, is about to be applied (ring at `localSeq`). */
  ownApplying(localSeq: number): OwnChange {
    const change: OwnChange = { localBefore: localSeq, ticket: ++this.tickets };
    this.own.add(change);
    return change;
  }

  /** The ticket of the newest own change so far: call before reading the newest row. */
  ticket(): number {
    return this.tickets;
  }

  /**
   * `newest` is the newest row in the database, read after `ticket()` returned `ticket`: every
   * own change up to that ticket committed before the read, so its row is at or before it.
   */
  bound(ticket: number, newest: number): void {
    for (const change of this.own) {
      if (change.ticket > ticket) continue;
      this.own.delete(change);
      change.dbSeq = newest;
      this.ownNumbered.push(change);
    }
  }

  /** The cursor for a message covering ring position `localSeq`, or undefined (none passed). */
  cursorAt(localSeq: number): string | undefined {
    let lo = 0;
    let hi = this.local.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.local[mid]! <= localSeq) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found < 0 ? undefined : `${this.tag}-${this.db[found]!}`;
  }

  /** The row number a cursor names, or null when it is not one of this database's. */
  parse(cursor: string): number | null {
    const dash = cursor.lastIndexOf("-");
    if (dash < 0 || cursor.slice(0, dash) !== this.tag) return null;
    const digits = cursor.slice(dash + 1);
    if (!/^[0-9]{1,15}$/.test(digits)) return null;
    return Number(digits);
  }

  /**
   * The ring position to resume a node from whose state reaches row `seq`, or null: a row this
   * server has not passed yet (wait for the follower), or older than it remembers (full map).
   */
  localSeqOf(seq: number): number | null {
    if (this.db.length === 0 || seq > this.position || seq < this.db[0]!) return null;
    let lo = 0;
    let hi = this.db.length - 1;
    let found = 0;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.db[mid]! <= seq) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    let from = this.local[found]!;
    for (const change of this.own) from = Math.min(from, change.localBefore);
    for (const change of this.ownNumbered) {
      if (change.dbSeq! > seq) from = Math.min(from, change.localBefore);
    }
    return from;
  }
}
