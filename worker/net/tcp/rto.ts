// The retransmission timeout of RFC 6298: SRTT and RTTVAR from samples taken by Karn's rule
// (never from retransmitted segments), RTO = SRTT + max(G, 4 * RTTVAR) clamped to
// [200 ms, 60 s] (the 200 ms floor as Linux, below RFC 6298's conservative 1 s), doubled on
// each expiry.

export const MIN_RTO_MS = 200;
export const MAX_RTO_MS = 60_000;
export const INITIAL_RTO_MS = 1000;
/** Clock granularity G. */
const GRANULARITY_MS = 1;

export class RtoEstimator {
  srtt: number | undefined;
  rttvar = 0;
  private base = INITIAL_RTO_MS;
  private backoffs = 0;

  /** The current timeout, with backoff. */
  get rto(): number {
    return Math.min(MAX_RTO_MS, this.base * 2 ** this.backoffs);
  }

  /** Feeds one round-trip sample (ms). */
  sample(rtt: number): void {
    const r = Math.max(0, rtt);
    if (this.srtt === undefined) {
      this.srtt = r;
      this.rttvar = r / 2;
    } else {
      this.rttvar = 0.75 * this.rttvar + 0.25 * Math.abs(this.srtt - r);
      this.srtt = 0.875 * this.srtt + 0.125 * r;
    }
    this.base = Math.min(
      MAX_RTO_MS,
      Math.max(MIN_RTO_MS, this.srtt + Math.max(GRANULARITY_MS, 4 * this.rttvar)),
    );
    this.backoffs = 0;
  }

  /** The timer expired: double the timeout (RFC 6298 §5.5). */
  backoff(): void {
    if (this.rto < MAX_RTO_MS) this.backoffs++;
  }

  /** New data was acknowledged: the backoff ends (RFC 6298 §5.7 keeps it until a sample; we
   * clear it on forward progress, as Linux does). */
  resetBackoff(): void {
    this.backoffs = 0;
  }
}
