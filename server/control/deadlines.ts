// One timer per node for things that happen at a given time: an ephemeral node's removal two
// minutes after its stream ended, a node key's expiry. Setting a node's deadline again
// replaces the previous one; cancelling an absent one is harmless.

import type { CancelTimer, Clock } from "./state/clock.ts";

/** Per-node one-shot timers on a Clock. */
export class Deadlines {
  private readonly timers = new Map<number, CancelTimer>();

  constructor(private readonly clock: Clock) {}

  /** Runs `fn` at unix ms `at` (at once when already past), unless cancelled or replaced. */
  set(nodeId: number, at: number, fn: () => void): void {
    this.cancel(nodeId);
    const cancel = this.clock.setTimer(
      () => {
        this.timers.delete(nodeId);
        fn();
      },
      Math.max(0, at - this.clock.now()),
    );
    this.timers.set(nodeId, cancel);
  }

  /** Whether a deadline is pending for the node. */
  has(nodeId: number): boolean {
    return this.timers.has(nodeId);
  }

  cancel(nodeId: number): void {
    this.timers.get(nodeId)?.();
    this.timers.delete(nodeId);
  }

  /** Cancels every deadline (shutdown). */
  clear(): void {
    for (const cancel of this.timers.values()) cancel();
    this.timers.clear();
  }
}
