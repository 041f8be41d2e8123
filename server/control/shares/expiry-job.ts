// The share expiry job: runs ShareService.expireDue when the earliest open acceptance's share
// expires (so a recipient loses the device within about a second of the expiry), and at least
// every `pollMs` (a share accepted since the last run, another server's changes). Share nodes'
// keys expire a minute after their share as a backstop should the job be late. Failures are
// logged and the job goes on.

import type { Logger } from "pino";
import type { CancelTimer, Clock } from "../state/clock.ts";
import type { Store } from "../store/types.ts";
import type { ShareService } from "./service.ts";

/** Longest wait between two runs. */
export const SHARE_EXPIRY_POLL_MS = 10_000;

/** A running job. */
export interface ShareExpiryJob {
  /**
   * Runs now (and re-arms): after a change that may bring the next expiry closer. Resolves when
   * the run is over and the next one armed (the running one, when one runs already).
   */
  poke(): Promise<void>;
  stop(): void;
}

/** The earliest expiry among the shares with open acceptances, or null when none. */
export async function nextShareExpiry(store: Store): Promise<number | null> {
  let next: number | null = null;
  for (const { share } of await store.listOpenAcceptances()) {
    if (next === null || share.expiresAt < next) next = share.expiresAt;
  }
  return next;
}

/** Starts the job on `clock`. */
export function startShareExpiry(
  service: ShareService,
  store: Store,
  clock: Clock,
  options: {
    pollMs?: number;
    log?: Logger;
    /** Whether this server runs the job now (several servers: the leader only). */
    leading?: () => boolean;
  } = {},
): ShareExpiryJob {
  const pollMs = options.pollMs ?? SHARE_EXPIRY_POLL_MS;
  let timer: CancelTimer | undefined;
  let stopped = false;
  let running: Promise<void> | undefined;

  const arm = (at: number | null) => {
    if (stopped) return;
    timer?.();
    const now = clock.now();
    const wait = at === null ? pollMs : Math.min(pollMs, Math.max(0, at - now));
    timer = clock.setTimer(() => void run(), wait);
  };

  function run(): Promise<void> {
    if (stopped) return Promise.resolve();
    if (running !== undefined) return running;
    running = (async () => {
      let next: number | null = null;
      try {
        if (options.leading !== undefined && !options.leading()) return;
        const ended = await service.expireDue(clock.now());
        if (ended > 0) options.log?.info({ ended }, "share acceptances expired");
        next = await nextShareExpiry(store);
      } catch (error) {
        options.log?.warn({ err: String(error) }, "share expiry job failed; retrying");
      } finally {
        running = undefined;
        arm(next);
      }
    })();
    return running;
  }

  arm(null);
  return {
    poke: run,
    stop() {
      stopped = true;
      timer?.();
    },
  };
}
