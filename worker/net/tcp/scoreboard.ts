// The sender's SACK scoreboard (RFC 2018, RFC 6675): which ranges above SND.UNA the peer
// reports holding, as stream offsets, so loss recovery retransmits only the holes.

/** Ranges kept at most (a hostile peer cannot grow this without bound). */
const MAX_RANGES = 64;

export class Scoreboard {
  /** Sorted, disjoint [start, end) ranges, all above the cumulative ACK. */
  ranges: [number, number][] = [];

  get empty(): boolean {
    return this.ranges.length === 0;
  }

  /** End of the highest SACKed range (or `fallback` if none). */
  high(fallback: number): number {
    const last = this.ranges[this.ranges.length - 1];
    return last ? last[1] : fallback;
  }

  /** Adds one SACK block; returns true when it reported something new. */
  add(start: number, end: number): boolean {
    if (end <= start) return false;
    const merged: [number, number] = [start, end];
    const out: [number, number][] = [];
    let placed = false;
    let grew = true;
    for (const r of this.ranges) {
      if (r[1] < merged[0]) out.push(r);
      else if (r[0] > merged[1]) {
        if (!placed) {
          out.push(merged);
          placed = true;
        }
        out.push(r);
      } else {
        if (r[0] <= start && r[1] >= end) grew = false;
        merged[0] = Math.min(merged[0], r[0]);
        merged[1] = Math.max(merged[1], r[1]);
      }
    }
    if (!placed) out.push(merged);
    if (out.length > MAX_RANGES) return false;
    this.ranges = out;
    return grew;
  }

  /** Forgets everything below the cumulative ACK `una`. */
  ackTo(una: number): void {
    while (this.ranges.length > 0 && this.ranges[0]![0] < una) {
      const r = this.ranges[0]!;
      if (r[1] <= una) this.ranges.shift();
      else {
        r[0] = una;
        break;
      }
    }
  }

  clear(): void {
    this.ranges = [];
  }

  /** SACKed bytes within [a, b). */
  sackedIn(a: number, b: number): number {
    let n = 0;
    for (const r of this.ranges) {
      const s = Math.max(a, r[0]);
      const e = Math.min(b, r[1]);
      if (e > s) n += e - s;
    }
    return n;
  }

  /** The first un-SACKed range [s, e) within [from, to), or undefined. */
  nextHole(from: number, to: number): [number, number] | undefined {
    let s = from;
    for (const r of this.ranges) {
      if (r[1] <= s) continue;
      if (r[0] > s) return [s, Math.min(r[0], to)];
      s = r[1];
      if (s >= to) return undefined;
    }
    return s < to ? [s, to] : undefined;
  }
}
