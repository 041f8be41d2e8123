// The wire form of approvals across control servers (approval-board.ts): an agent waiting for
// a person holds its stream on one server, and the person's browser may reach any other behind
// the load balancer. The servers tell each other on the corridor_approvals channel, decoded
// strictly (a payload from a newer or broken server is dropped and counted, never half-applied).
//
// {"t":"open","s":SERVER,"a":PENDING}                       SERVER holds this waiting request
// {"t":"close","s":SERVER,"id":ID}                          decided, expired or its stream ended
// {"t":"decide","s":SERVER,"to":HOLDER,"r":REQ,"id":ID,"approve":BOOL(,"user":N,"tags":[...])}
// {"t":"result","s":HOLDER,"to":SERVER,"r":REQ(,"error":TEXT)}   the decision's outcome
// {"t":"hello","s":SERVER}                                  "tell me the requests you hold"

import * as v from "valibot";
import type { PendingApproval } from "../changes.ts";
import { NOTIFY_PAYLOAD_LIMIT } from "./pg-bus.ts";
import { decodeNotification, serverId } from "./presence-wire.ts";

const MAX_INT = 2 ** 53 - 1;
const approvalId = v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]{1,64}$/));
const requestId = v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]{1,32}$/));
const time = v.pipe(v.number(), v.safeInteger(), v.minValue(0), v.maxValue(MAX_INT));
const tags = v.pipe(v.array(v.pipe(v.string(), v.minLength(1), v.maxLength(128))), v.maxLength(64));
const pending = v.strictObject({
  id: approvalId,
  nodeKey: v.pipe(v.string(), v.maxLength(64)),
  hostname: v.pipe(v.string(), v.maxLength(255)),
  os: v.pipe(v.string(), v.maxLength(64)),
  requestedTags: tags,
  createdAt: time,
  expiresAt: time,
});

/** An approvals notification. */
export const approvalMessage = v.variant("t", [
  v.strictObject({ t: v.literal("open"), s: serverId, a: pending }),
  v.strictObject({ t: v.literal("close"), s: serverId, id: approvalId }),
  v.strictObject({
    t: v.literal("decide"),
    s: serverId,
    to: serverId,
    r: requestId,
    id: approvalId,
    approve: v.boolean(),
    user: v.optional(v.pipe(v.number(), v.safeInteger(), v.minValue(1), v.maxValue(MAX_INT))),
    tags: v.optional(tags),
  }),
  v.strictObject({
    t: v.literal("result"),
    s: serverId,
    to: serverId,
    r: requestId,
    error: v.optional(v.pipe(v.string(), v.maxLength(1024))),
  }),
  v.strictObject({ t: v.literal("hello"), s: serverId }),
]);
/** A decoded approvals notification. */
export type ApprovalMessage = v.InferOutput<typeof approvalMessage>;

/** Decodes a notification's payload; null (counted by the caller) when it is not one. */
export function decodeApprovalMessage(payload: string): ApprovalMessage | null {
  return decodeNotification(approvalMessage, payload);
}

/**
 * Encodes a message; null when it would not fit one notification (PostgreSQL refuses 8000
 * bytes or more) or would not decode on the other side: a request too large to announce stays
 * with its server, as it did before several servers shared approvals.
 */
export function encodeApprovalMessage(
  message: ApprovalMessage,
  limit = NOTIFY_PAYLOAD_LIMIT,
): string | null {
  const text = JSON.stringify(message);
  if (Buffer.byteLength(text) > limit) return null;
  return v.safeParse(approvalMessage, message).success ? text : null;
}

/** The wire form of a request (a copy: the desk's own object stays the desk's). */
export function wirePending(p: PendingApproval): PendingApproval {
  return { ...p, requestedTags: [...p.requestedTags] };
}
