// Lost-retransmission detection after RACK (RFC 8985), reduced to what the sweep in
// output.ts cannot do itself. The sweep resends every hole below the highest SACK once; if
// such a retransmission is lost too, nothing but the RTO would notice. So we remember when
// each range was last sent; when the peer delivers (ACKs or SACKs) something sent later than
// a still-missing retransmission, plus a reordering window, that retransmission is lost and
// is queued here to be resent (within the congestion window) without waiting for the RTO.

import type { Scoreboard } from "./scoreboard.ts";
import type { Deadline } from "./timer.ts";

/** The least reordering window (ms): sub-ms RTTs would make min_RTT/4 meaninglessly small. */
const MIN_REO_WND_MS = 1;

/** One range of send offsets [s, e) as last transmitted at `at`. */
interface Sent {
  s: number;
  e: number;
  at: number;
  retx: boolean;
}

export class Rack {
  /**
   * Sorted, disjoint transmissions covering the outstanding data, from index `head` on (what
   * the cumulative ACK passed is dropped by moving `head`, and compacted away now and then:
   * removing it from the front at every ACK moved the whole window each time).
   */
  private ledger: Sent[] = [];
  private head = 0;
  /**
   * The end of the highest retransmission recorded. Above it the ledger holds first
   * transmissions only, which went out in offset order: their send times never decrease.
   */
  private retxHigh = 0;
  /** Retransmissions deemed lost again, to resend: sorted, disjoint [s, e). */
  lost: [number, number][] = [];
  /** The newest delivered transmission (RFC 8985 RACK.xmit_ts / end_seq / rtt). */
  private xmitTs: number | undefined;
  private endSeq = 0;
  private rtt = 0;
  /** Least RTT sample seen (Karn-safe samples only). */
  minRtt: number | undefined;

  /**
   * @param timer re-checks retransmissions whose reordering window had not yet run out.
   * @param probe the tail loss probe (RFC 8985 §7), armed while data is outstanding.
   */
  constructor(
    readonly timer: Deadline,
    readonly probe: Deadline,
  ) {}

  /** Index of the first ledger entry ending after `x`. */
  private find(x: number): number {
    let lo = this.head;
    let hi = this.ledger.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.ledger[mid]!.e > x) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  /** Splits the entry containing `x` so that one starts at `x`; returns that index. */
  private split(x: number): number {
    const i = this.find(x);
    const r = this.ledger[i];
    if (r && r.s < x) {
      this.ledger.splice(i + 1, 0, { s: x, e: r.e, at: r.at, retx: r.retx });
      r.e = x;
      return i + 1;
    }
    return i;
  }

  /** [s, e) went out at `at` (a retransmission when `retx`). */
  record(s: number, e: number, at: number, retx: boolean): void {
    if (e <= s || s < 0) return;
    if (retx) this.retxHigh = Math.max(this.retxHigh, e);
    const last = this.ledger.length > this.head ? this.ledger[this.ledger.length - 1] : undefined;
    if (!last || s >= last.e) {
      this.ledger.push({ s, e, at, retx });
      return;
    }
    const i = this.split(s);
    const j = this.split(e);
    this.ledger.splice(i, j - i, { s, e, at, retx });
  }

  /** The peer now holds [s, e): the newest such transmission becomes the RACK reference. */
  delivered(s: number, e: number, now: number): void {
    for (let i = this.find(s); i < this.ledger.length; i++) {
      const r = this.ledger[i]!;
      if (r.s >= e) break;
      // Without timestamps an ACK this soon after a retransmission is likely for the original
      // (RFC 8985 §6.2 step 2): it says nothing about when the retransmission was sent.
      if (r.retx && (this.minRtt === undefined || now - r.at < this.minRtt)) continue;
      if (this.xmitTs === undefined || sentAfter(r.at, r.e, this.xmitTs, this.endSeq)) {
        this.xmitTs = r.at;
        this.endSeq = r.e;
        this.rtt = now - r.at;
      }
    }
  }

  /**
   * Marks lost the missing retransmissions in [una, retxNext) (or without `queue`, only says
   * whether any missing range there is lost) sent before the RACK reference
   * by more than the reordering window; arms the timer for those not yet overdue. Returns
   * true when something was newly queued.
   */
  detect(
    sb: Scoreboard,
    una: number,
    retxNext: number,
    now: number,
    srtt: number,
    queue = true,
  ): boolean {
    const ref = this.xmitTs;
    if (ref === undefined) return false;
    // RFC 8985 §6.2 step 4: min_RTT/4 bounded by SRTT, here with a floor for fine clocks.
    const reo = Math.max(MIN_REO_WND_MS, Math.min((this.minRtt ?? srtt) / 4, srtt));
    let wait = Number.POSITIVE_INFINITY;
    let marked = false;
    for (let i = this.find(una); i < this.ledger.length; i++) {
      const r = this.ledger[i]!;
      if (r.s >= retxNext) break;
      if (!sentAfter(ref, this.endSeq, r.at, r.e)) {
        // Above every retransmission, each later entry went out later still: none of them
        // was sent before the reference either (this walk ran over the whole window per ACK).
        if (r.s >= this.retxHigh) break;
        continue;
      }
      const from = Math.max(r.s, una);
      const to = Math.min(r.e, retxNext);
      if (from >= to || !sb.nextHole(from, to)) continue;
      const remaining = r.at + this.rtt + reo - now;
      if (remaining > 0) {
        wait = Math.min(wait, remaining);
        continue;
      }
      if (!queue) {
        marked = true; // only asked whether anything is lost (to start recovery)
        break;
      }
      for (const [a, b] of holes(sb, from, to)) marked = this.addLost(a, b) || marked;
    }
    if (wait < Number.POSITIVE_INFINITY) this.timer.set(wait);
    else this.timer.clear();
    return marked;
  }

  private addLost(s: number, e: number): boolean {
    const out: [number, number][] = [];
    const m: [number, number] = [s, e];
    let placed = false;
    let grew = true;
    for (const r of this.lost) {
      if (r[1] < m[0]) out.push(r);
      else if (r[0] > m[1]) {
        if (!placed) out.push(m);
        placed = true;
        out.push(r);
      } else {
        if (r[0] <= s && r[1] >= e) grew = false;
        m[0] = Math.min(m[0], r[0]);
        m[1] = Math.max(m[1], r[1]);
      }
    }
    if (!placed) out.push(m);
    this.lost = out;
    return grew;
  }

  /** [s, e) was just resent: no longer waiting in the lost queue. */
  resent(s: number, e: number): void {
    if (this.lost.length === 0) return;
    const out: [number, number][] = [];
    for (const r of this.lost) {
      if (r[1] <= s || r[0] >= e) out.push(r);
      else {
        if (r[0] < s) out.push([r[0], s]);
        if (r[1] > e) out.push([e, r[1]]);
      }
    }
    this.lost = out;
  }

  /** Lost-and-not-yet-resent bytes the peer has not SACKed since (for pipe). */
  lostBytes(sb: Scoreboard): number {
    let n = 0;
    for (const [s, e] of this.lost) n += e - s - sb.sackedIn(s, e);
    return n;
  }

  /** Forgets what lies below the cumulative ACK. */
  ackTo(una: number): void {
    this.head = this.find(una);
    if (this.head >= this.ledger.length) {
      this.ledger = [];
      this.head = 0;
    } else if (this.head > 64 && this.head * 2 > this.ledger.length) {
      this.ledger = this.ledger.slice(this.head);
      this.head = 0;
    }
    const first = this.ledger[this.head];
    if (first && first.s < una) first.s = una;
    if (this.lost.length > 0 && this.lost[0]![0] < una) this.resent(Number.NEGATIVE_INFINITY, una);
  }

  /** The sweep restarts from SND.UNA (recovery entry, timeout): it will resend everything. */
  clearLost(): void {
    this.lost = [];
    this.timer.clear();
  }
}

/** RFC 8985 RACK.sent_after: transmission (t1, e1) went out after (t2, e2). */
function sentAfter(t1: number, e1: number, t2: number, e2: number): boolean {
  return t1 > t2 || (t1 === t2 && e1 > e2);
}

/** The un-SACKed ranges within [from, to). */
export function holes(sb: Scoreboard, from: number, to: number): [number, number][] {
  const out: [number, number][] = [];
  for (let x = from; x < to; ) {
    const h = sb.nextHole(x, to);
    if (!h || h[0] >= h[1]) break;
    out.push(h);
    x = h[1];
  }
  return out;
}
