// Waiting for something a test cannot subscribe to (a counter, a file, a process's output
// already captured): check the condition again whenever it may have changed, instead of
// sleeping a fixed time and hoping it happened.

/**
 * Resolves once `condition()` is true, checking it every `everyMs`. The deadline only guards
 * against a hang and names what never happened; it is not a timing requirement.
 */
export async function waitUntil(
  condition: () => boolean,
  what: string,
  { everyMs = 10, hangAfterMs = 30_000 }: { everyMs?: number; hangAfterMs?: number } = {},
): Promise<void> {
  const giveUp = Date.now() + hangAfterMs;
  while (!condition()) {
    if (Date.now() > giveUp) throw new Error(`still waiting after ${hangAfterMs} ms for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}
