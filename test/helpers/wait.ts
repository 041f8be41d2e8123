// Waiting for something a test cannot subscribe to (a counter, a file, a process's output
// already captured, a kernel counter read with a command): check the condition again whenever
// it may have changed, instead of sleeping a fixed time and hoping it happened.

/** Options of waitUntil. */
export interface WaitOptions {
  /** Pause between checks (default 10 ms). */
  everyMs?: number;
  /** Fails naming `what` after this long (default 30 s): a guard against hangs, not a timing requirement. */
  hangAfterMs?: number;
  /** Refreshes what `condition` reads (e.g. runs a command) before every check. */
  poll?: () => Promise<void>;
}

/** Resolves once `condition()` is true, checking it again every `everyMs`. */
export async function waitUntil(
  condition: () => boolean,
  what: string,
  { everyMs = 10, hangAfterMs = 30_000, poll }: WaitOptions = {},
): Promise<void> {
  const giveUp = Date.now() + hangAfterMs;
  for (;;) {
    if (poll !== undefined) await poll();
    if (condition()) return;
    if (Date.now() > giveUp) throw new Error(`still waiting after ${hangAfterMs} ms for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}
