// Where one connection of the map stream is in the exchange (docs/control.md, "Map stream"),
// and which server messages each step admits. A message out of order means the two ends no
// longer agree on the stream's state, so the client treats it as a protocol error.

import { ControlProtocolError } from "./errors.ts";
import type { ServerMessage } from "./messages.ts";

/**
 * hello: waiting for the server's hello; login: our login is sent; waiting: a person is to
 * approve the node; streaming: the first map came.
 */
export type Phase = "hello" | "login" | "waiting" | "streaming";

/** Whether a server message of `type` may come while the connection is at `phase`. */
export function admits(phase: Phase, type: ServerMessage["type"]): boolean {
  switch (type) {
    case "hello":
      return phase === "hello";
    case "waiting":
      return phase === "login" || phase === "waiting";
    case "map":
    case "delta":
      return phase !== "hello";
    default:
      return true;
  }
}

/** The protocol error for a message the phase does not admit. */
export function outOfOrder(phase: Phase, type: string): ControlProtocolError {
  return new ControlProtocolError(
    "type",
    `"${type}" is not valid while ${phase === "hello" ? "waiting for hello" : phase}`,
  );
}
