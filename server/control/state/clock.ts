// Time for the map side: "now" and one-shot timers behind one small interface, so tests drive
// ephemeral cleanup, key expiry, login timeouts and token refresh with a manual clock instead
// of sleeping (docs/testing.md: no wall-clock timing in tests).

/** Cancels a timer set with Clock.setTimer; calling it twice is harmless. */
export type CancelTimer = () => void;

/** Wall-clock time and timers. */
export interface Clock {
  /** Unix milliseconds. */
  now(): number;
  /** Runs `fn` once after `ms` milliseconds (any length: longer than 24.8 days too). */
  setTimer(fn: () => void, ms: number): CancelTimer;
}

// setTimeout fires at once for delays over 2^31-1 ms (~24.8 days); key expiry is 180 days away.
const MAX_TIMEOUT = 2 ** 31 - 1;

/** The system clock: Date.now and unref'd setTimeout (timers never keep the process alive). */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer(fn, ms) {
    let handle: NodeJS.Timeout | undefined;
    let cancelled = false;
    const due = Date.now() + Math.max(0, ms);
    const arm = (): void => {
      const left = due - Date.now();
      if (left > MAX_TIMEOUT) {
        handle = setTimeout(arm, MAX_TIMEOUT);
      } else {
        handle = setTimeout(
          () => {
            if (!cancelled) fn();
          },
          Math.max(0, left),
        );
      }
      handle.unref();
    };
    arm();
    return () => {
      cancelled = true;
      if (handle !== undefined) clearTimeout(handle);
    };
  },
};
