// One named deadline on the injected Clock. Re-arming to a later time keeps the underlying
// timer and re-checks when it fires, so per-ACK timer restarts do not churn the clock.

import type { Clock, TimerHandle } from "../../wireguard/clock.ts";

export class Deadline {
  private handle: TimerHandle | undefined;
  private firesAt = 0;
  /** Absolute time the callback is due, or undefined when idle. */
  at: number | undefined;

  constructor(
    private readonly clock: Clock,
    private readonly fn: () => void,
  ) {}

  get armed(): boolean {
    return this.at !== undefined;
  }

  /** Calls fn `ms` from now (replacing any earlier setting). */
  set(ms: number): void {
    const at = this.clock.now() + ms;
    this.at = at;
    if (this.handle && this.firesAt <= at) return;
    this.handle?.cancel();
    this.arm(at);
  }

  clear(): void {
    this.at = undefined;
    this.handle?.cancel();
    this.handle = undefined;
  }

  private arm(at: number): void {
    this.firesAt = at;
    this.handle = this.clock.setTimer(Math.max(0, at - this.clock.now()), () => {
      this.handle = undefined;
      if (this.at === undefined) return;
      if (this.at > this.clock.now()) {
        this.arm(this.at);
        return;
      }
      this.at = undefined;
      this.fn();
    });
  }
}
