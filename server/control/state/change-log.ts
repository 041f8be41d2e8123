// The global change sequence and a bounded ring of recent changes. Every committed change the
// map side hears of gets the next sequence number; a node that reconnects with the sequence
// it last applied gets a delta built from the entries after it, as long as the ring still
// holds them (else a full map). Entries name *what* changed, not the new values: the delta is
// built from the current state, so a node changed five times while a client was away costs
// one upsert.

/** One entry of the ring. */
export type ChangeEntry =
  | {
      seq: number;
      /** A node's durable fields changed, or it was created. */
      kind: "node";
      nodeId: number;
      /** Its principal (owner or tags) changed: its whole peer set did too. */
      principalChanged: boolean;
      /** Its SSH users changed: its own (narrowed) SSH rules did too. */
      rulesChanged?: boolean;
    }
  | { seq: number; kind: "patch"; nodeId: number }
  | { seq: number; kind: "removed"; nodeId: number }
  | {
      seq: number;
      /** A user changed (role, email, name): its row of visibility and every filter may have. */
      kind: "principal";
      principal: string;
    }
  | { seq: number; kind: "policy" };

/** What append takes: an entry without its sequence number. */
export type NewChange = ChangeEntry extends infer E
  ? E extends ChangeEntry
    ? Omit<E, "seq">
    : never
  : never;

/** Default ring size: at ~100 bytes an entry, 64 Ki entries cost a few MiB. */
export const DEFAULT_RING_SIZE = 65536;

/** The sequence counter and the ring. */
export class ChangeLog {
  private readonly ring: (ChangeEntry | undefined)[];
  private last = 0;

  /** Throws a RangeError for a size that is not a positive integer. */
  constructor(private readonly size = DEFAULT_RING_SIZE) {
    if (!Number.isInteger(size) || size < 1) {
      throw new RangeError(`change ring size must be a positive integer, got ${size}`);
    }
    this.ring = new Array(size);
  }

  /** The sequence number of the latest change (0 before any). */
  get seq(): number {
    return this.last;
  }

  /**
   * Continues the numbering of a previous run of the server (checkpoint.ts), before any change
   * of this run: the ring holds nothing older than `seq`.
   */
  continueFrom(seq: number): void {
    if (this.last !== 0) throw new Error("change log: continueFrom() after changes were recorded");
    if (!Number.isSafeInteger(seq) || seq < 0) {
      throw new RangeError(`change log: bad sequence ${seq} to continue from`);
    }
    this.last = seq;
  }

  /** Records a change; returns its sequence number. */
  append(change: NewChange): number {
    const seq = ++this.last;
    this.ring[seq % this.size] = { ...change, seq } as ChangeEntry;
    return seq;
  }

  /**
   * The changes after `seq`, oldest first; null when the ring no longer holds all of them (or
   * `seq` lies in the future: a client from another server's life).
   */
  since(seq: number): ChangeEntry[] | null {
    if (!Number.isInteger(seq) || seq < 0 || seq > this.last) return null;
    if (this.last - seq > this.size) return null;
    const out: ChangeEntry[] = [];
    for (let s = seq + 1; s <= this.last; s++) {
      const entry = this.ring[s % this.size];
      if (entry === undefined || entry.seq !== s) return null;
      out.push(entry);
    }
    return out;
  }
}
