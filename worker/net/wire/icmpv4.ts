// ICMP for IPv4 (RFC 792): echo request and reply, destination unreachable, and
// "fragmentation needed" (type 3 code 4, RFC 1191), which is IPv4's packet-too-big. A view
// over received bytes and emitters; the checksum covers the message alone.

import { checksum } from "./checksum.ts";
import type { IcmpDestinationUnreachable, IcmpEcho, IcmpOther, IcmpPacketTooBig } from "./icmp.ts";
import type { WireError } from "./ip.ts";

/** Type: echo reply. */
export const ICMPV4_ECHO_REPLY = 0;
/** Type: destination unreachable. */
export const ICMPV4_DESTINATION_UNREACHABLE = 3;
/** Type: echo request. */
export const ICMPV4_ECHO_REQUEST = 8;
/** Destination-unreachable code: fragmentation needed and DF set (carries the next-hop MTU). */
export const ICMPV4_FRAGMENTATION_NEEDED = 4;
/** Length of the ICMPv4 header (type, code, checksum, 4 type-specific bytes). */
export const ICMPV4_HEADER_LENGTH = 8;
/**
 * Most bytes of the original datagram quoted in an error: the whole message then fits the
 * 576 bytes every IPv4 host accepts (RFC 1812 §4.3.2.3: 576 − 20 − 8).
 */
export const ICMPV4_MAX_QUOTE = 548;

/** An echo request or reply (the shared shape of ./icmp.ts). */
export type Icmpv4Echo = IcmpEcho;
/** Destination unreachable. */
export type Icmpv4DestinationUnreachable = IcmpDestinationUnreachable;
/** Packet too big. */
export type Icmpv4PacketTooBig = IcmpPacketTooBig;
/** Any other type. */
export type Icmpv4Other = IcmpOther;

/** A parsed ICMPv4 message; `kind` tells which. */
export type Icmpv4Message =
  | Icmpv4Echo
  | Icmpv4DestinationUnreachable
  | Icmpv4PacketTooBig
  | Icmpv4Other;

/**
 * Parses an ICMPv4 message (an IPv4 payload). Never throws. Refuses fewer than 8 bytes and a
 * bad checksum. Unknown types are returned as kind "other" for the caller to count or drop.
 */
export function parseIcmpv4(bytes: Uint8Array): Icmpv4Message | WireError {
  const n = bytes.length;
  if (n < ICMPV4_HEADER_LENGTH) {
    return { ok: false, error: `icmpv4: message truncated (${n} of 8 bytes)` };
  }
  if (checksum(bytes) !== 0) return { ok: false, error: "icmpv4: bad checksum" };
  const type = bytes[0]!;
  const code = bytes[1]!;
  const sum = (bytes[2]! << 8) | bytes[3]!;
  const word1 = (bytes[4]! << 8) | bytes[5]!;
  const word2 = (bytes[6]! << 8) | bytes[7]!;
  const body = bytes.subarray(ICMPV4_HEADER_LENGTH);
  if (type === ICMPV4_ECHO_REQUEST || type === ICMPV4_ECHO_REPLY) {
    const kind = type === ICMPV4_ECHO_REQUEST ? "echo-request" : "echo-reply";
    return { ok: true, kind, type, code, checksum: sum, id: word1, seq: word2, data: body };
  }
  if (type === ICMPV4_DESTINATION_UNREACHABLE) {
    if (code === ICMPV4_FRAGMENTATION_NEEDED) {
      return {
        ok: true,
        kind: "packet-too-big",
        type,
        code,
        checksum: sum,
        mtu: word2,
        original: body,
      };
    }
    return { ok: true, kind: "destination-unreachable", type, code, checksum: sum, original: body };
  }
  return { ok: true, kind: "other", type, code, checksum: sum, rest: bytes.subarray(4, 8), body };
}

/** Builds a message: header (type, code, words) + body, with its checksum. */
function buildMessage(
  type: number,
  code: number,
  word1: number,
  word2: number,
  body: Uint8Array,
): Uint8Array {
  const message = new Uint8Array(ICMPV4_HEADER_LENGTH + body.length);
  message[0] = type;
  message[1] = code;
  message[4] = (word1 >> 8) & 0xff;
  message[5] = word1 & 0xff;
  message[6] = (word2 >> 8) & 0xff;
  message[7] = word2 & 0xff;
  message.set(body, ICMPV4_HEADER_LENGTH);
  const sum = checksum(message);
  message[2] = sum >> 8;
  message[3] = sum & 0xff;
  return message;
}

/** The fields of an echo request or reply to emit. */
export interface Icmpv4EchoFields {
  kind: "echo-request" | "echo-reply";
  /** Identifier (16 bits). */
  id: number;
  /** Sequence number (16 bits). */
  seq: number;
}

/** Builds an echo request or reply carrying `data`, with its checksum. */
export function buildIcmpv4Echo(fields: Icmpv4EchoFields, data: Uint8Array): Uint8Array {
  const type = fields.kind === "echo-request" ? ICMPV4_ECHO_REQUEST : ICMPV4_ECHO_REPLY;
  return buildMessage(type, 0, fields.id, fields.seq, data);
}

/** Builds the echo reply to a parsed echo request: same identifier, sequence and data. */
export function icmpv4EchoReplyFor(request: Icmpv4Echo): Uint8Array {
  return buildIcmpv4Echo({ kind: "echo-reply", id: request.id, seq: request.seq }, request.data);
}

/**
 * Builds a destination unreachable with `code` (0 net, 1 host, 2 protocol, 3 port, …),
 * quoting the first {@link ICMPV4_MAX_QUOTE} bytes at most of the `original` IPv4 packet.
 */
export function buildIcmpv4DestinationUnreachable(
  fields: { code: number },
  original: Uint8Array,
): Uint8Array {
  const quote = original.subarray(0, ICMPV4_MAX_QUOTE);
  return buildMessage(ICMPV4_DESTINATION_UNREACHABLE, fields.code, 0, 0, quote);
}

/**
 * Builds "fragmentation needed and DF set" (type 3 code 4) with the next-hop `mtu`, quoting
 * the first {@link ICMPV4_MAX_QUOTE} bytes at most of the `original` IPv4 packet.
 */
export function buildIcmpv4PacketTooBig(fields: { mtu: number }, original: Uint8Array): Uint8Array {
  const quote = original.subarray(0, ICMPV4_MAX_QUOTE);
  const code = ICMPV4_FRAGMENTATION_NEEDED;
  return buildMessage(ICMPV4_DESTINATION_UNREACHABLE, code, 0, fields.mtu, quote);
}
