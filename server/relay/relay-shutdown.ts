// Closing every client when the relay stops: RESTARTING first when the relay comes back (so
// clients reconnect when it does), a close handshake, a grace period for it, then the rest
// are cut.

import { encodeRestarting } from "../../worker/relay/frames.ts";
import type { RelayCloseOptions } from "./relay-server.ts";
import { CLOSE_GOING_AWAY, CLOSE_RESTARTING, type RelaySession } from "./session.ts";

/**
 * Closes `sessions` (1012 "restarting" after a RESTARTING frame when `restarting` is given,
 * else 1001), waits up to `graceMs` for their close handshakes, then terminates the sockets.
 */
export async function closeSessions(
  sessions: readonly RelaySession[],
  restarting: RelayCloseOptions["restarting"],
  graceMs: number,
): Promise<void> {
  const notice = restarting
    ? encodeRestarting(restarting.reconnectInMs, restarting.tryForMs)
    : undefined;
  const sockets = sessions.map((s) => s.ws);
  const ended = Promise.all(
    sockets.map(
      (ws) =>
        new Promise<void>((resolve) => {
          if (ws.readyState === ws.CLOSED) resolve();
          else ws.once("close", () => resolve());
        }),
    ),
  );
  for (const session of sessions) {
    if (notice !== undefined && session.ready) session.sendRaw(notice);
    session.close(
      restarting ? CLOSE_RESTARTING : CLOSE_GOING_AWAY,
      restarting ? "restarting" : "shutting down",
    );
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([ended, new Promise((r) => (timer = setTimeout(r, graceMs)))]);
  clearTimeout(timer);
  for (const ws of sockets) ws.terminate();
}
