// ICMP for IPv6 (RFC 4443): echo request and reply, destination unreachable and packet too
// big. A view over received bytes and emitters; the checksum covers the IPv6 pseudo-header,
// so parsing and building both need the packet's addresses.

import { transportChecksum } from "./checksum.ts";
import type { IcmpDestinationUnreachable, IcmpEcho, IcmpOther, IcmpPacketTooBig } from "./icmp.ts";
import { IPPROTO_ICMPV6, type WireError } from "./ip.ts";

/** Type: destination unreachable. */
export const ICMPV6_DESTINATION_UNREACHABLE = 1;
/** Type: packet too big (carries the MTU of the next link). */
export const ICMPV6_PACKET_TOO_BIG = 2;
/** Type: echo request. */
export const ICMPV6_ECHO_REQUEST = 128;
/** Type: echo reply. */
export const ICMPV6_ECHO_REPLY = 129;
/** Length of the ICMPv6 header (type, code, checksum, 4 type-specific bytes). */
export const ICMPV6_HEADER_LENGTH = 8;
/**
 * Most bytes of the original packet quoted in an error: the whole error then fits the IPv6
 * minimum MTU (RFC 4443 §2.4 (c): 1280 − 40 − 8).
 */
export const ICMPV6_MAX_QUOTE = 1232;

/** An echo request or reply (the shared shape of ./icmp.ts). */
export type Icmpv6Echo = IcmpEcho;
/** Destination unreachable. */
export type Icmpv6DestinationUnreachable = IcmpDestinationUnreachable;
/** Packet too big. */
export type Icmpv6PacketTooBig = IcmpPacketTooBig;
/** Any other type. */
export type Icmpv6Other = IcmpOther;

/** A parsed ICMPv6 message; `kind` tells which. */
export type Icmpv6Message =
  | Icmpv6Echo
  | Icmpv6DestinationUnreachable
  | Icmpv6PacketTooBig
  | Icmpv6Other;

/**
 * Parses an ICMPv6 message (an IPv6 upper-layer payload) sent from `source` to
 * `destination` (16 bytes each). Never throws. Refuses addresses that are not 16 bytes,
 * fewer than 8 bytes and a bad checksum. Unknown types are returned as kind "other".
 */
export function parseIcmpv6(
  bytes: Uint8Array,
  source: Uint8Array,
  destination: Uint8Array,
): Icmpv6Message | WireError {
  if (source.length !== 16 || destination.length !== 16) {
    return { ok: false, error: "icmpv6: addresses must be 16 bytes" };
  }
  const n = bytes.length;
  if (n < ICMPV6_HEADER_LENGTH) {
    return { ok: false, error: `icmpv6: message truncated (${n} of 8 bytes)` };
  }
  if (transportChecksum(source, destination, IPPROTO_ICMPV6, bytes) !== 0) {
    return { ok: false, error: "icmpv6: bad checksum" };
  }
  const type = bytes[0]!;
  const code = bytes[1]!;
  const sum = (bytes[2]! << 8) | bytes[3]!;
  const body = bytes.subarray(ICMPV6_HEADER_LENGTH);
  if (type === ICMPV6_ECHO_REQUEST || type === ICMPV6_ECHO_REPLY) {
    const kind = type === ICMPV6_ECHO_REQUEST ? "echo-request" : "echo-reply";
    const id = (bytes[4]! << 8) | bytes[5]!;
    const seq = (bytes[6]! << 8) | bytes[7]!;
    return { ok: true, kind, type, code, checksum: sum, id, seq, data: body };
  }
  if (type === ICMPV6_DESTINATION_UNREACHABLE) {
    return { ok: true, kind: "destination-unreachable", type, code, checksum: sum, original: body };
  }
  if (type === ICMPV6_PACKET_TOO_BIG) {
    const mtu = ((bytes[4]! << 24) | (bytes[5]! << 16) | (bytes[6]! << 8) | bytes[7]!) >>> 0;
    return { ok: true, kind: "packet-too-big", type, code, checksum: sum, mtu, original: body };
  }
  return { ok: true, kind: "other", type, code, checksum: sum, rest: bytes.subarray(4, 8), body };
}

/** The addresses of the IPv6 packet that will carry a message (for the checksum). */
export interface Icmpv6Addresses {
  source: Uint8Array;
  destination: Uint8Array;
}

/** Builds a message: header (type, code, 32-bit word) + body, with its checksum. */
function buildMessage(
  addresses: Icmpv6Addresses,
  type: number,
  code: number,
  word: number,
  body: Uint8Array,
): Uint8Array {
  const { source, destination } = addresses;
  if (source.length !== 16 || destination.length !== 16) {
    throw new RangeError(
      `icmpv6: addresses must be 16 bytes, got ${source.length} and ${destination.length}`,
    );
  }
  const message = new Uint8Array(ICMPV6_HEADER_LENGTH + body.length);
  message[0] = type;
  message[1] = code;
  message[4] = (word >>> 24) & 0xff;
  message[5] = (word >>> 16) & 0xff;
  message[6] = (word >>> 8) & 0xff;
  message[7] = word & 0xff;
  message.set(body, ICMPV6_HEADER_LENGTH);
  const sum = transportChecksum(source, destination, IPPROTO_ICMPV6, message);
  message[2] = sum >> 8;
  message[3] = sum & 0xff;
  return message;
}

/** The fields of an echo request or reply to emit. */
export interface Icmpv6EchoFields extends Icmpv6Addresses {
  kind: "echo-request" | "echo-reply";
  /** Identifier (16 bits). */
  id: number;
  /** Sequence number (16 bits). */
  seq: number;
}

/**
 * Builds an echo request or reply carrying `data`, with its checksum over the pseudo-header
 * of `fields.source` → `fields.destination`. Throws a RangeError for addresses not 16 bytes.
 */
export function buildIcmpv6Echo(fields: Icmpv6EchoFields, data: Uint8Array): Uint8Array {
  const type = fields.kind === "echo-request" ? ICMPV6_ECHO_REQUEST : ICMPV6_ECHO_REPLY;
  const word = (((fields.id & 0xffff) << 16) | (fields.seq & 0xffff)) >>> 0;
  return buildMessage(fields, type, 0, word, data);
}

/**
 * Builds the echo reply to a parsed echo request (same id, seq and data), to be sent from
 * `addresses.source` (the request's destination) to `addresses.destination`.
 */
export function icmpv6EchoReplyFor(request: Icmpv6Echo, addresses: Icmpv6Addresses): Uint8Array {
  const { source, destination } = addresses;
  const fields: Icmpv6EchoFields = {
    source,
    destination,
    kind: "echo-reply",
    id: request.id,
    seq: request.seq,
  };
  return buildIcmpv6Echo(fields, request.data);
}

/**
 * Builds a destination unreachable with `code` (0 no route, 1 prohibited, 3 address, 4 port,
 * …), quoting at most {@link ICMPV6_MAX_QUOTE} bytes of the `original` packet.
 */
export function buildIcmpv6DestinationUnreachable(
  fields: Icmpv6Addresses & { code: number },
  original: Uint8Array,
): Uint8Array {
  const quote = original.subarray(0, ICMPV6_MAX_QUOTE);
  return buildMessage(fields, ICMPV6_DESTINATION_UNREACHABLE, fields.code, 0, quote);
}

/**
 * Builds a packet too big with the next-hop `mtu`, quoting at most
 * {@link ICMPV6_MAX_QUOTE} bytes of the `original` packet.
 */
export function buildIcmpv6PacketTooBig(
  fields: Icmpv6Addresses & { mtu: number },
  original: Uint8Array,
): Uint8Array {
  const quote = original.subarray(0, ICMPV6_MAX_QUOTE);
  return buildMessage(fields, ICMPV6_PACKET_TOO_BIG, 0, fields.mtu >>> 0, quote);
}
