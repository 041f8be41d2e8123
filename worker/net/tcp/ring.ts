// A growable circular byte buffer addressed by absolute stream offsets (JS numbers, exact up
// to 2^53): the send buffer reads back what it has not had acknowledged, the receive buffer
// writes segments where they belong, in or out of order. Copies are done in at most two
// pieces per call, never byte by byte.

export class ByteRing {
  private buf: Uint8Array;

  constructor(initialCapacity: number) {
    this.buf = new Uint8Array(Math.max(16, initialCapacity));
  }

  get capacity(): number {
    return this.buf.length;
  }

  /** Grows to at least `min` bytes, keeping the bytes at offsets [start, end). */
  grow(min: number, start: number, end: number): void {
    if (min <= this.buf.length) return;
    let cap = this.buf.length;
    while (cap < min) cap *= 2;
    const old = this.buf;
    const next = new Uint8Array(cap);
    const tmp = new Uint8Array(end - start);
    this.readInto(start, tmp, old);
    this.buf = next;
    this.write(start, tmp);
  }

  /** Stores `data` at absolute offset `offset` (the caller keeps it within capacity). */
  write(offset: number, data: Uint8Array): void {
    const cap = this.buf.length;
    const at = offset % cap;
    const first = Math.min(data.length, cap - at);
    this.buf.set(first === data.length ? data : data.subarray(0, first), at);
    if (first < data.length) this.buf.set(data.subarray(first), 0);
  }

  /** Copies dest.length bytes from absolute offset `offset` into `dest`. */
  read(offset: number, dest: Uint8Array): void {
    this.readInto(offset, dest, this.buf);
  }

  private readInto(offset: number, dest: Uint8Array, buf: Uint8Array): void {
    const cap = buf.length;
    const at = offset % cap;
    const first = Math.min(dest.length, cap - at);
    dest.set(buf.subarray(at, at + first), 0);
    if (first < dest.length) dest.set(buf.subarray(0, dest.length - first), first);
  }
}
