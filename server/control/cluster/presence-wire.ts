// The wire form of presence notifications (presence.ts): what one server says to the others on
// the corridor_presence channel, decoded strictly (a payload from a newer or broken server is
// dropped, never half-applied) and encoded in payloads PostgreSQL accepts (< 8000 bytes).
//
// {"t":"p","s":SERVER,"n":[[NODE,CHANGE(,ATTACHED_AT)], ...]}  changes of nodes SERVER holds
// {"t":"hello","s":SERVER(,"to":SERVER)}                      "tell me what you hold"
// {"t":"alive","s":SERVER}                                      the heartbeat

import * as v from "valibot";
import type { VolatileChange } from "../state/volatile.ts";
import { NOTIFY_PAYLOAD_LIMIT } from "./pg-bus.ts";

const MAX_ID = 2 ** 53 - 1;
/** A control server's id in cluster notifications (presence, approvals, signals). */
export const serverId = v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]{1,64}$/));
const change = v.strictObject({
  online: v.optional(v.boolean()),
  lastSeen: v.optional(v.nullable(v.pipe(v.number(), v.safeInteger(), v.minValue(0)))),
  endpoints: v.optional(v.pipe(v.array(v.pipe(v.string(), v.maxLength(64))), v.maxLength(64))),
  homeRelay: v.optional(v.pipe(v.string(), v.maxLength(64))),
});
const nodeId = v.pipe(v.number(), v.safeInteger(), v.minValue(1), v.maxValue(MAX_ID));
// An online claim carries its attach time (ms, the holder's clock).
const attachTime = v.pipe(v.number(), v.safeInteger(), v.minValue(0), v.maxValue(MAX_ID));
const entry = v.union([v.tuple([nodeId, change, attachTime]), v.tuple([nodeId, change])]);

/** A presence notification. */
export const presenceMessage = v.variant("t", [
  v.strictObject({ t: v.literal("p"), s: serverId, n: v.pipe(v.array(entry), v.maxLength(1000)) }),
  // `to`: only that server answers (a re-announce request to one heard from again).
  v.strictObject({ t: v.literal("hello"), s: serverId, to: v.optional(serverId) }),
  v.strictObject({ t: v.literal("alive"), s: serverId }),
]);
/** A decoded presence notification. */
export type PresenceMessage = v.InferOutput<typeof presenceMessage>;

/**
 * A notification's payload decoded strictly by `schema`; null when it is not JSON or not valid
 * (a payload from a newer or broken server is dropped, never half-applied).
 */
export function decodeNotification<T>(
  schema: v.GenericSchema<unknown, T>,
  payload: string,
): T | null {
  let json: unknown;
  try {
    json = JSON.parse(payload);
  } catch {
    return null;
  }
  const result = v.safeParse(schema, json);
  return result.success ? result.output : null;
}

/** Decodes a notification's payload; null (and counted by the caller) when it is not one. */
export function decodePresence(payload: string): PresenceMessage | null {
  return decodeNotification(presenceMessage, payload);
}

/** One change of a node, with the attach time of an online claim. */
export type PresenceEntry = [number, VolatileChange] | [number, VolatileChange, number];

/**
 * Splits changes into "p" payloads of at most `limit` bytes (UTF-8, as PostgreSQL counts)
 * each. An entry too large for any payload is left out: endpoints or relay ids from an old row
 * or another server must never break a flush.
 */
export function encodeChanges(
  server: string,
  changes: Iterable<PresenceEntry>,
  limit = NOTIFY_PAYLOAD_LIMIT,
): string[] {
  const head = `{"t":"p","s":${JSON.stringify(server)},"n":[`;
  const headBytes = Buffer.byteLength(head) + 2;
  const out: string[] = [];
  let parts: string[] = [];
  let size = headBytes;
  for (const item of changes) {
    const text = JSON.stringify(item);
    const bytes = Buffer.byteLength(text);
    if (headBytes + bytes > limit) continue;
    if (parts.length > 0 && (size + bytes + 1 > limit || parts.length >= 1000)) {
      out.push(`${head}${parts.join(",")}]}`);
      parts = [];
      size = headBytes;
    }
    parts.push(text);
    size += bytes + 1;
  }
  if (parts.length > 0) out.push(`${head}${parts.join(",")}]}`);
  return out;
}
