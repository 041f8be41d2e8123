// What the end of a map stream means (docs/control.md, "Map stream"), kept apart from the
// client's state machine so the rules read in one place: which ends are final refusals
// (never retried: a retry could not succeed and would hammer the server), which ask for a full
// map on the next connection, how long to wait before it, and what close frame we send.

import { type BackoffState, reconnectDelay, uniformFraction } from "../relay/backoff.ts";
import type { UpgradeRefusedError } from "../relay/message-socket.ts";
import type { Clock } from "../wireguard/clock.ts";
import type { RandomBytes } from "../wireguard/cookie.ts";
import type { ControlClientOptions, ControlRefusal } from "./client-options.ts";
import { CONTROL_CLOSE, type UpdateMessage } from "./messages.ts";

/** The volatile facts a node reports with `update`. */
export type ControlUpdate = Omit<UpdateMessage, "type">;

/** The refusal codes of upgrades answered with a final HTTP status. */
const UPGRADE_REFUSALS: Record<number, string> = {
  401: "unauthenticated",
  403: "forbidden",
  404: "not_found",
};

/** The refusal for an upgrade answered 401, 403 or 404 (a wrong URL, a refused login). */
export function upgradeRefusal(error: UpgradeRefusedError, url: string): ControlRefusal {
  const code = UPGRADE_REFUSALS[error.status] ?? `http_${error.status}`;
  const message = `${url}: HTTP ${error.status}${error.body ? `: ${error.body}` : ""}`;
  return { code, message, closeCode: 0 };
}

/**
 * The refusal a close code stands for (4401, 4403, and 4409 unless `reconnectWhenReplaced`),
 * or undefined when the stream may come back.
 */
export function closeRefusal(
  code: number,
  reason: string,
  reconnectWhenReplaced: boolean | undefined,
): ControlRefusal | undefined {
  const replaced = code === CONTROL_CLOSE.REPLACED && !reconnectWhenReplaced;
  if (code !== CONTROL_CLOSE.UNAUTHENTICATED && code !== CONTROL_CLOSE.REFUSED && !replaced) {
    return undefined;
  }
  const codes: Record<number, string> = {
    [CONTROL_CLOSE.UNAUTHENTICATED]: "unauthenticated",
    [CONTROL_CLOSE.REFUSED]: "refused",
    [CONTROL_CLOSE.REPLACED]: "replaced",
  };
  const fallback = replaced ? "another stream of this node replaced this one" : "";
  return { code: codes[code]!, message: reason || fallback, closeCode: code };
}

/** A protocol complaint from the server (or a message too big): start over with a full map. */
export function closeAsksFullMap(code: number): boolean {
  return code === CONTROL_CLOSE.PROTOCOL || code === 1009;
}

/** The wait before the next connection: exponential backoff with jitter (1 s to 60 s). */
export function controlRetryDelay(
  backoff: BackoffState,
  clock: Clock,
  options: Pick<ControlClientOptions, "backoffBaseMs" | "backoffMaxMs">,
  random: RandomBytes,
): number {
  return reconnectDelay(
    backoff,
    clock.now(),
    { baseMs: options.backoffBaseMs ?? 1000, maxMs: options.backoffMaxMs ?? 60_000 },
    () => uniformFraction(random),
  );
}

/**
 * What to report again on a new stream: the server keeps endpoints and home relay in memory
 * only, so after a reconnect (or a server restart) it has forgotten them. Host info is not
 * among them: it goes with every login. Undefined when there is nothing to send.
 */
export function factsToResend(facts: ControlUpdate): ControlUpdate | undefined {
  const { endpoints, homeRelay } = facts;
  if (endpoints === undefined && homeRelay === undefined) return undefined;
  return {
    ...(endpoints !== undefined ? { endpoints } : {}),
    ...(homeRelay !== undefined ? { homeRelay } : {}),
  };
}

/**
 * Our own closes use 1000, 1009 or 4xxx; anything else (a code the server closed with) is not
 * ours to send. Browsers send 1009 as 1000 (browserControlSocket).
 */
export function ownCloseCode(code: number): number {
  const ours = code === 1000 || code === 1009 || (code >= 3000 && code <= 4999);
  return ours ? code : 1000;
}

/** A WebSocket close reason is at most 123 bytes: ASCII, cut short. */
export function closeReason(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, "?").slice(0, 120);
}
