// Congestion control: NewReno (RFC 5681 slow start and congestion avoidance with appropriate
// byte counting, RFC 6582 recovery). Window sizes are in bytes. The connection decides when
// a loss happened (three duplicate ACKs, SACKed data beyond a hole, or a timeout) and calls
// in here for the window arithmetic.

export class NewReno {
  cwnd: number;
  ssthresh = Number.POSITIVE_INFINITY;
  private acked = 0;

  constructor(private mss: number) {
    // RFC 6928: an initial window of ten segments.
    this.cwnd = Math.min(10 * mss, Math.max(2 * mss, 14_600));
  }

  setMss(mss: number): void {
    this.mss = mss;
    this.cwnd = Math.min(10 * mss, Math.max(2 * mss, 14_600));
  }

  /** New data acknowledged outside recovery. */
  onAck(bytes: number): void {
    if (this.cwnd < this.ssthresh) {
      // Slow start, counting at most two segments per ACK (RFC 3465 L = 2).
      this.cwnd += Math.min(bytes, 2 * this.mss);
    } else {
      this.acked += bytes;
      if (this.acked >= this.cwnd) {
        this.acked -= this.cwnd;
        this.cwnd += this.mss;
      }
    }
  }

  /** Loss detected by duplicate ACKs/SACK: halve (RFC 5681 eq. 4). */
  onLoss(flight: number): void {
    this.ssthresh = Math.max(Math.floor(flight / 2), 2 * this.mss);
    this.cwnd = this.ssthresh;
    this.acked = 0;
  }

  /** The retransmission timer expired: back to one segment. */
  onTimeout(flight: number): void {
    this.ssthresh = Math.max(Math.floor(flight / 2), 2 * this.mss);
    this.cwnd = this.mss;
    this.acked = 0;
  }

  /** Full ACK ending recovery (RFC 6582 §3.2 step 3, option 1 bounded by flight). */
  onRecoveryEnd(flight: number): void {
    this.cwnd = Math.max(Math.min(this.ssthresh, flight + this.mss), 2 * this.mss);
  }

  /** Partial ACK in recovery without SACK: deflate by what was acked, add one segment back. */
  onPartialAck(bytes: number): void {
    this.cwnd = Math.max(this.cwnd - bytes + this.mss, this.mss);
  }

  /** A duplicate ACK during recovery without SACK: a segment left the network. */
  inflate(): void {
    this.cwnd += this.mss;
  }
}
