// A session's scrollback: the last N bytes of its terminal output in a ring, replayed to a
// page that attaches later (after a reload). The buffer grows with the output (a quiet
// session costs a few KiB, not N) and never beyond N; older bytes are overwritten.

/** Largest capacity accepted: a ring is per session and lives in the engine's memory. */
export const MAX_SCROLLBACK_CAPACITY = 64 << 20;

/** First allocation: most sessions print less than this before anyone reloads. */
const INITIAL_BYTES = 16 << 10;

/** How far a replay looks for a line start to begin at once older bytes were dropped. */
const LINE_SEARCH_BYTES = 64 << 10;

/** The last `capacity` bytes written, oldest first. */
export class ScrollbackRing {
  private buffer: Uint8Array;
  /** Index of the oldest byte in `buffer`. */
  private head = 0;
  private length = 0;
  private droppedBytes = 0;

  constructor(readonly capacity: number) {
    if (!Number.isSafeInteger(capacity) || capacity < 1 || capacity > MAX_SCROLLBACK_CAPACITY) {
      throw new RangeError(
        `scrollback capacity must be a whole number of bytes from 1 to ${MAX_SCROLLBACK_CAPACITY}, got ${capacity}`,
      );
    }
    this.buffer = new Uint8Array(Math.min(capacity, INITIAL_BYTES));
  }

  /** Bytes held now (at most `capacity`). */
  get size(): number {
    return this.length;
  }

  /** Bytes of memory the ring holds now (grows with the output, up to `capacity`). */
  get allocated(): number {
    return this.buffer.length;
  }

  /** Bytes written and since overwritten. */
  get dropped(): number {
    return this.droppedBytes;
  }

  /** Appends `data`; beyond `capacity`, the oldest bytes go. */
  write(data: Uint8Array): void {
    if (data.length === 0) return;
    let bytes = data;
    if (bytes.length >= this.capacity) {
      // Only its tail can stay: everything held before goes too.
      this.droppedBytes += this.length + bytes.length - this.capacity;
      bytes = bytes.subarray(bytes.length - this.capacity);
      this.ensure(this.capacity);
      this.buffer.set(bytes, 0);
      this.head = 0;
      this.length = bytes.length;
      return;
    }
    this.ensure(Math.min(this.capacity, this.length + bytes.length));
    const overflow = this.length + bytes.length - this.buffer.length;
    if (overflow > 0) {
      // Full (the buffer is at capacity here): the oldest `overflow` bytes make room.
      this.head = (this.head + overflow) % this.buffer.length;
      this.length -= overflow;
      this.droppedBytes += overflow;
    }
    const size = this.buffer.length;
    const tail = (this.head + this.length) % size;
    const first = Math.min(bytes.length, size - tail);
    this.buffer.set(bytes.subarray(0, first), tail);
    if (first < bytes.length) this.buffer.set(bytes.subarray(first), 0);
    this.length += bytes.length;
  }

  /** A copy of the bytes held, oldest first. */
  snapshot(): Uint8Array {
    const out = new Uint8Array(this.length);
    const size = this.buffer.length;
    const first = Math.min(this.length, size - this.head);
    out.set(this.buffer.subarray(this.head, this.head + first), 0);
    if (first < this.length) out.set(this.buffer.subarray(0, this.length - first), first);
    return out;
  }

  /**
   * What a new terminal should be given: the snapshot, or once older bytes were dropped, the
   * snapshot from its first line start (the cut could be inside an escape sequence or a UTF-8
   * character); without a newline near the cut, from the first byte that starts a character.
   */
  replay(): Uint8Array {
    const bytes = this.snapshot();
    if (this.droppedBytes === 0) return bytes;
    const limit = Math.min(bytes.length, LINE_SEARCH_BYTES);
    for (let i = 0; i < limit; i++) {
      if (bytes[i] === 0x0a) return bytes.subarray(i + 1);
    }
    let start = 0;
    while (start < bytes.length && start < 4 && (bytes[start]! & 0xc0) === 0x80) start++;
    return bytes.subarray(start);
  }

  /** Grows the buffer (linearized) to hold at least `needed` bytes, up to capacity. */
  private ensure(needed: number): void {
    if (needed <= this.buffer.length) return;
    let size = this.buffer.length;
    while (size < needed) size *= 2;
    const grown = new Uint8Array(Math.min(size, this.capacity));
    grown.set(this.snapshot(), 0);
    this.buffer = grown;
    this.head = 0;
  }
}
