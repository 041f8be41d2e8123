// The map stream's codec: every message of messages.ts as a valibot schema with bounds
// (schema.ts), decoded from one WebSocket text message. The size cap is checked before
// JSON.parse; an error names the field ("map.peers[3].key: ..."). Nothing but a
// ControlProtocolError ever leaves decode*: a hostile message cannot crash the side reading it.

import * as v from "valibot";
import { CLOSE_TOO_LARGE, ControlProtocolError } from "./errors.ts";
import {
  type ClientMessage,
  type DeltaMessage,
  type HelloMessage,
  type Hostinfo,
  type KeepaliveMessage,
  type LoginMessage,
  MAX_CONTROL_MESSAGE,
  type MapMessage,
  type PeerSignalMessage,
  type RefusedMessage,
  type ServerMessage,
  type SignalMessage,
  type UpdateMessage,
  type WaitingMessage,
} from "./messages.ts";
import {
  bool,
  CONTROL_LIMITS,
  checked,
  count,
  endpoint,
  filterRule,
  hostname,
  hostSshUsers,
  key32,
  list,
  matching,
  networkMap,
  objectMessage,
  os,
  peerPatch,
  peerView,
  printable,
  relayId,
  relayInfo,
  relayTokenGrant,
  sshHostKeys,
  sshRule,
  tag,
  upsertedPeers,
} from "./schema.ts";
import { urlReason } from "./wire-values.ts";

export { ControlProtocolError } from "./errors.ts";
export { CONTROL_LIMITS } from "./schema.ts";

const object = <E extends v.ObjectEntries>(entries: E) => v.object(entries, objectMessage);

/** The path of a problem with the message as a whole (not JSON, too large, not an object). */
export const ROOT = "(message)";

const hostinfo = object({
  hostname,
  os,
  sshHostKeys: v.optional(sshHostKeys),
  sshUsers: v.optional(hostSshUsers),
});

const session = matching(
  CONTROL_LIMITS.sessionLength,
  /^[A-Za-z0-9_-]+$/,
  "a session id (letters, digits, '-', '_')",
);

const hello = object({
  type: v.literal("hello"),
  version: v.literal(1, (issue) => `unsupported version ${issue.received} (this client speaks 1)`),
  serverKey: key32,
  challenge: key32,
});

const waiting = object({
  type: v.literal("waiting"),
  approvalUrl: checked(CONTROL_LIMITS.urlLength, (url) => urlReason(url, ["http:", "https:"])),
});

const map = object({
  type: v.literal("map"),
  session,
  seq: count,
  cursor: v.optional(session),
  map: networkMap,
});

const delta = object({
  type: v.literal("delta"),
  seq: count,
  cursor: v.optional(session),
  peersUpserted: v.optional(upsertedPeers),
  peersRemoved: v.optional(list(count, CONTROL_LIMITS.changes)),
  patches: v.optional(list(peerPatch, CONTROL_LIMITS.changes)),
  self: v.optional(peerView),
  filter: v.optional(list(filterRule, CONTROL_LIMITS.filterRules)),
  ssh: v.optional(list(sshRule, CONTROL_LIMITS.sshRules)),
  relays: v.optional(list(relayInfo, CONTROL_LIMITS.relays)),
  token: v.optional(relayTokenGrant),
});

const keepalive = object({ type: v.literal("keepalive"), cursor: v.optional(session) });

const refused = object({
  type: v.literal("refused"),
  code: matching(64, /^[a-z0-9_]+$/, "a reason code (a-z, 0-9, '_')"),
  message: printable(1024),
});

/** A bound on the SDP and candidate texts; what they say is checked by signal-values.ts. */
const SIGNAL_TEXT = { sdp: 6000, candidate: 512 } as const;

const signalFields = {
  sid: matching(64, /^[A-Za-z0-9_-]{8,}$/, "a signal id (8-64 letters, digits, '-', '_')"),
  kind: v.picklist(
    ["offer", "answer", "candidate", "bye"],
    (issue) => `unknown signal kind ${issue.received}`,
  ),
  sdp: v.optional(v.pipe(v.string(), v.maxLength(SIGNAL_TEXT.sdp, "longer than 6000"))),
  candidate: v.optional(printable(SIGNAL_TEXT.candidate)),
  mid: v.optional(matching(32, /^[A-Za-z0-9_-]+$/, "a media id (letters, digits, '-', '_')")),
  mline: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(63))),
  reason: v.optional(matching(64, /^[a-z0-9_]+$/, "a reason code (a-z, 0-9, '_')")),
};

const peerSignal = object({ type: v.literal("signal"), from: key32, ...signalFields });

const signal = object({ type: v.literal("signal"), to: key32, ...signalFields });

const login = object({
  type: v.literal("login"),
  nodeKey: key32,
  proof: key32,
  hostinfo,
  authKey: v.optional(printable(256, 1)),
  ephemeral: v.optional(bool),
  tags: v.optional(list(tag, CONTROL_LIMITS.tags)),
  resume: v.optional(object({ session, seq: count, cursor: v.optional(session) })),
  rotateFrom: v.optional(object({ nodeKey: key32, proof: key32 })),
  caps: v.optional(list(matching(32, /^[a-z0-9-]+$/, "a capability (a-z, 0-9, '-')"), 16)),
});

const update = object({
  type: v.literal("update"),
  endpoints: v.optional(list(endpoint, CONTROL_LIMITS.endpoints)),
  homeRelay: v.optional(relayId),
  hostinfo: v.optional(hostinfo),
});

const logout = object({ type: v.literal("logout") });

const unknownType: Message = (issue) => `unknown message type ${issue.received}`;
type Message = (issue: v.BaseIssue<unknown>) => string;

const serverMessage = v.variant(
  "type",
  [hello, waiting, map, delta, keepalive, refused, peerSignal],
  unknownType,
);
const clientMessage = v.variant("type", [login, update, logout, signal], unknownType);

// Stop at the first problem: a hostile message with 100,000 bad items costs one issue, not all.
const CONFIG = { abortEarly: true } as const;

/** "map.peers[3].key" from a valibot issue path; ROOT for the message itself. */
function pathOf(issue: v.BaseIssue<unknown>): string {
  let out = "";
  for (const item of issue.path ?? []) {
    const key: unknown = item.key;
    if (typeof key === "number") out += `[${key}]`;
    else out += out === "" ? String(key) : `.${String(key)}`;
  }
  return out === "" ? ROOT : out;
}

/** UTF-8 length of `text`, counted without encoding it. */
function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        bytes += 4;
        i++;
      } else bytes += 3;
    } else bytes += 3;
  }
  return bytes;
}

/** Throws when `text` is over `max` bytes of UTF-8; cheap for the common small message. */
function checkSize(text: string, max: number): void {
  // A UTF-16 unit is 1-3 bytes of UTF-8: the length alone often decides.
  if (text.length <= max / 3) return;
  // Over the limit in UTF-16 units is over it in bytes: no need to count them all.
  const bytes = text.length > max ? text.length : utf8Length(text);
  if (bytes > max) {
    const size = text.length > max ? `at least ${bytes}` : `${bytes}`;
    throw new ControlProtocolError(
      ROOT,
      `${size} bytes, over the limit of ${max}`,
      CLOSE_TOO_LARGE,
    );
  }
}

function decode<T>(schema: v.GenericSchema<unknown, T>, text: unknown, max: number): T {
  if (typeof text !== "string") {
    throw new ControlProtocolError(ROOT, `expected a text message, got ${typeof text}`);
  }
  checkSize(text, max);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    throw new ControlProtocolError(ROOT, `not JSON: ${why.slice(0, 200)}`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    const got = parsed === null ? "null" : Array.isArray(parsed) ? "an array" : typeof parsed;
    throw new ControlProtocolError(ROOT, `expected a JSON object, got ${got}`);
  }
  let result: v.SafeParseResult<v.GenericSchema<unknown, T>>;
  try {
    result = v.safeParse(schema, parsed, CONFIG);
  } catch (error) {
    // A schema library throwing (stack exhaustion on a pathological value) is still refusal.
    throw new ControlProtocolError(ROOT, `not valid: ${(error as Error).message}`);
  }
  if (result.success) return result.output;
  const issue = result.issues[0];
  throw new ControlProtocolError(pathOf(issue), issue.message);
}

/** Decodes one message from the server. Throws only ControlProtocolError. */
export function decodeServerMessage(text: string, max = MAX_CONTROL_MESSAGE): ServerMessage {
  return decode(serverMessage, text, max);
}

/** Decodes one message from a node. Throws only ControlProtocolError. */
export function decodeClientMessage(text: string, max = MAX_CONTROL_MESSAGE): ClientMessage {
  return decode(clientMessage, text, max);
}

/**
 * The text of a server message. It is not validated (the server builds maps from its own
 * checked data, and validating 100,000 peers per send would cost more than the send); only
 * the size is checked: a message over MAX_CONTROL_MESSAGE throws ControlProtocolError (1009).
 */
export function encodeServerMessage(message: ServerMessage, max = MAX_CONTROL_MESSAGE): string {
  const text = JSON.stringify(message);
  checkSize(text, max);
  return text;
}

/**
 * The text of a node's message, validated first so that a node never sends what the server
 * would refuse: throws ControlProtocolError naming the field.
 */
export function encodeClientMessage(message: ClientMessage, max = MAX_CONTROL_MESSAGE): string {
  const result = v.safeParse(clientMessage, message, CONFIG);
  if (!result.success) {
    const issue = result.issues[0];
    throw new ControlProtocolError(pathOf(issue), issue.message);
  }
  const text = JSON.stringify(result.output);
  checkSize(text, max);
  return text;
}

// The message schemas' outputs are the shared message types (see schema.ts for the others).
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const conforms: [
  Same<v.InferOutput<typeof hostinfo>, Hostinfo>,
  Same<v.InferOutput<typeof hello>, HelloMessage>,
  Same<v.InferOutput<typeof waiting>, WaitingMessage>,
  Same<v.InferOutput<typeof map>, MapMessage>,
  Same<v.InferOutput<typeof delta>, DeltaMessage>,
  Same<v.InferOutput<typeof keepalive>, KeepaliveMessage>,
  Same<v.InferOutput<typeof refused>, RefusedMessage>,
  Same<v.InferOutput<typeof login>, LoginMessage>,
  Same<v.InferOutput<typeof update>, UpdateMessage>,
  Same<v.InferOutput<typeof signal>, SignalMessage>,
  Same<v.InferOutput<typeof peerSignal>, PeerSignalMessage>,
] = [true, true, true, true, true, true, true, true, true, true, true];
void conforms;
