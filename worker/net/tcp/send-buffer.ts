// The send buffer: bytes the application wrote that the peer has not yet acknowledged, from
// stream offset `start` (SND.UNA's data) to `end` (the last byte written). Bounded by `limit`;
// the ring grows on demand so idle connections stay small.

import { ByteRing } from "./ring.ts";

export class SendBuffer {
  private ring: ByteRing;
  /** Stream offset of the oldest unacknowledged byte held. */
  start = 0;
  /** Stream offset one past the newest byte written. */
  end = 0;

  constructor(readonly limit: number) {
    this.ring = new ByteRing(Math.min(limit, 64 * 1024));
  }

  get length(): number {
    return this.end - this.start;
  }

  /** Room left before the limit. */
  get free(): number {
    return Math.max(0, this.limit - this.length);
  }

  /** Copies as much of `data` as fits; returns how many bytes were taken. */
  push(data: Uint8Array): number {
    // Callers pass what a stream gave them: only real bytes may move `end`.
    if (!(data instanceof Uint8Array)) throw new TypeError("send buffer: data is not a Uint8Array");
    const n = Math.min(data.length, this.free);
    if (n === 0) return 0;
    this.ring.grow(this.length + n, this.start, this.end);
    this.ring.write(this.end, n === data.length ? data : data.subarray(0, n));
    this.end += n;
    return n;
  }

  /** Copies dest.length bytes starting at stream offset `offset` (within [start, end)). */
  copy(offset: number, dest: Uint8Array): void {
    this.ring.read(offset, dest);
  }

  /** Releases everything before stream offset `upTo`. */
  ack(upTo: number): void {
    if (upTo > this.start) this.start = Math.min(upTo, this.end);
  }
}
