// Time for the device and its timers, injectable so tests run hours of protocol time in
// milliseconds (wireguard-go reads the monotonic clock; tests here drive a FakeClock).

/** A cancellable timer. */
export interface TimerHandle {
  cancel(): void;
}

/** Monotonic milliseconds, wall-clock time for TAI64N, and one-shot timers. */
export interface Clock {
  /** Monotonic time in milliseconds. */
  now(): number;
  /** Wall-clock time in milliseconds since the Unix epoch (for TAI64N timestamps). */
  wallNow(): number;
  /** Runs `fn` once after `ms` milliseconds. */
  setTimer(ms: number, fn: () => void): TimerHandle;
}

/** The real clock. */
export const systemClock: Clock = {
  now: () => performance.now(),
  wallNow: () => Date.now(),
  setTimer(ms, fn) {
    const id = setTimeout(fn, ms);
    return { cancel: () => clearTimeout(id) };
  },
};

interface Pending {
  at: number;
  seq: number;
  fn: () => void;
  cancelled: boolean;
}

/** A clock that moves only when told to; timers fire in time order as it advances. */
export class FakeClock implements Clock {
  private time: number;
  private wall: number;
  private seq = 0;
  private pending: Pending[] = [];

  constructor(startMs = 1_000_000, wallStartMs = Date.UTC(2026, 0, 1)) {
    this.time = startMs;
    this.wall = wallStartMs;
  }

  now(): number {
    return this.time;
  }

  wallNow(): number {
    return this.wall + this.time;
  }

  setTimer(ms: number, fn: () => void): TimerHandle {
    const entry: Pending = {
      at: this.time + Math.max(0, ms),
      seq: this.seq++,
      fn,
      cancelled: false,
    };
    this.pending.push(entry);
    return {
      cancel: () => {
        entry.cancelled = true;
      },
    };
  }

  /** Advances time by `ms`, firing every timer that falls due, in order. */
  advance(ms: number): void {
    const end = this.time + ms;
    for (;;) {
      this.pending = this.pending.filter((p) => !p.cancelled);
      let next: Pending | undefined;
      for (const p of this.pending) {
        if (p.at <= end && (!next || p.at < next.at || (p.at === next.at && p.seq < next.seq)))
          next = p;
      }
      if (!next) break;
      this.time = Math.max(this.time, next.at);
      next.cancelled = true;
      next.fn();
    }
    this.time = end;
  }

  /** Timers not yet fired or cancelled. */
  get pendingTimers(): number {
    return this.pending.filter((p) => !p.cancelled).length;
  }
}
