// The receive buffer: in-order bytes not yet read by the application, from `readOffset` to
// `nxt` (RCV.NXT's data offset), and out-of-order ranges above `nxt` kept in place until the
// hole before them fills (reassembly). The ranges give the SACK blocks of RFC 2018, the most
// recently changed first. Its free space is the receive window: data the application has not
// read shrinks it.

import { ByteRing } from "./ring.ts";

/** Out-of-order ranges kept at most; a segment that would need more is dropped. */
const MAX_RANGES = 64;

export interface InsertResult {
  /** Bytes by which the in-order edge advanced. */
  advanced: number;
  /** The segment lies beyond a hole (or filled one): the receiver should ACK at once. */
  outOfOrder: boolean;
}

export class ReceiveBuffer {
  private ring: ByteRing;
  /** Stream offset of the next byte the application will read. */
  readOffset = 0;
  /** Stream offset one past the contiguous data (RCV.NXT). */
  nxt = 0;
  /** Out-of-order [start, end) ranges above nxt, sorted, disjoint, not adjacent. */
  private ranges: [number, number][] = [];
  /** The range that last received data (first SACK block). */
  private recent: [number, number] | undefined;

  constructor(readonly limit: number) {
    this.ring = new ByteRing(Math.min(limit, 64 * 1024));
  }

  /** In-order bytes waiting for the application. */
  get readable(): number {
    return this.nxt - this.readOffset;
  }

  /** The receive window: room above nxt. */
  get window(): number {
    return Math.max(0, this.limit - this.readable);
  }

  /** Highest stream offset held out of order (or nxt). */
  get highest(): number {
    const last = this.ranges[this.ranges.length - 1];
    return last ? last[1] : this.nxt;
  }

  get hasOutOfOrder(): boolean {
    return this.ranges.length > 0;
  }

  /** Stores data received at stream offset `offset`, clipped to the window. */
  insert(offset: number, data: Uint8Array): InsertResult {
    let start = offset;
    let end = offset + data.length;
    const limitEnd = this.readOffset + this.limit;
    if (start < this.nxt) start = this.nxt;
    if (end > limitEnd) end = limitEnd;
    const hadHoles = this.ranges.length > 0;
    // A duplicate or a segment beyond the window: ACK at once (RFC 5681 §4.2).
    if (end <= start) return { advanced: 0, outOfOrder: true };
    if (start > this.nxt && this.ranges.length >= MAX_RANGES && !this.touchesRange(start, end))
      return { advanced: 0, outOfOrder: true };
    this.ring.grow(end - this.readOffset, this.readOffset, Math.max(this.nxt, this.highest));
    this.ring.write(start, data.subarray(start - offset, end - offset));
    if (start === this.nxt) {
      const before = this.nxt;
      this.nxt = end;
      while (this.ranges.length > 0 && this.ranges[0]![0] <= this.nxt) {
        const r = this.ranges.shift()!;
        if (r[1] > this.nxt) this.nxt = r[1];
        if (r === this.recent) this.recent = undefined;
      }
      return { advanced: this.nxt - before, outOfOrder: hadHoles };
    }
    this.addRange(start, end);
    return { advanced: 0, outOfOrder: true };
  }

  private touchesRange(start: number, end: number): boolean {
    return this.ranges.some((r) => r[0] <= end && start <= r[1]);
  }

  private addRange(start: number, end: number): void {
    const merged: [number, number] = [start, end];
    const out: [number, number][] = [];
    let placed = false;
    for (const r of this.ranges) {
      if (r[1] < merged[0]) out.push(r);
      else if (r[0] > merged[1]) {
        if (!placed) {
          out.push(merged);
          placed = true;
        }
        out.push(r);
      } else {
        merged[0] = Math.min(merged[0], r[0]);
        merged[1] = Math.max(merged[1], r[1]);
      }
    }
    if (!placed) out.push(merged);
    this.ranges = out;
    this.recent = merged;
  }

  /** Up to `max` SACK blocks as stream offsets, the most recent first. */
  sackBlocks(max: number): [number, number][] {
    const blocks: [number, number][] = [];
    if (this.recent) blocks.push(this.recent);
    for (let i = this.ranges.length - 1; i >= 0 && blocks.length < max; i--) {
      const r = this.ranges[i]!;
      if (r !== this.recent) blocks.push(r);
    }
    return blocks.slice(0, max);
  }

  /** Takes up to `max` in-order bytes for the application (a copy). */
  read(max: number): Uint8Array | undefined {
    const n = Math.min(max, this.readable);
    if (n <= 0) return undefined;
    const out = new Uint8Array(n);
    this.ring.read(this.readOffset, out);
    this.readOffset += n;
    return out;
  }

  /** Discards all in-order bytes (the application no longer reads). */
  discard(): void {
    this.readOffset = this.nxt;
  }
}
