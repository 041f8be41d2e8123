// The IPv6 header (RFC 8200) and its extension-header chain: a view over received bytes and
// an emitter. Extension headers are walked with bounds checks and a cap on their number;
// their options are checked as RFC 8200 §4.2 says and skipped. Fragments are refused (no
// reassembly), except atomic fragments, which RFC 6946 says to process as whole packets.

import type { IpParseOptions, WireError } from "./ip.ts";

/** Length of the fixed IPv6 header. */
export const IPV6_HEADER_LENGTH = 40;
/** Largest IPv6 payload without a jumbogram (the payload length field is 16 bits). */
export const IPV6_MAX_PAYLOAD = 0xffff;

/** Next header: Hop-by-Hop Options (only directly after the fixed header). */
export const IPV6_HOP_BY_HOP = 0;
/** Next header: Routing. */
export const IPV6_ROUTING = 43;
/** Next header: Fragment. */
export const IPV6_FRAGMENT = 44;
/** Next header: Authentication Header (RFC 4302); its length counts 4-byte words. */
export const IPV6_AUTHENTICATION = 51;
/** Next header: No Next Header (nothing follows; any bytes left over are ignored). */
export const IPV6_NO_NEXT_HEADER = 59;
/** Next header: Destination Options. */
export const IPV6_DESTINATION_OPTIONS = 60;
/** Most extension headers walked before a packet is refused. */
export const IPV6_MAX_EXTENSION_HEADERS = 8;

/**
 * A parsed IPv6 packet. `source`, `destination` and `payload` are views into the parsed
 * buffer (no copies): copy them before the buffer is reused.
 */
export interface Ipv6Packet {
  ok: true;
  version: 6;
  trafficClass: number;
  flowLabel: number;
  /** Payload length field: the bytes after the fixed 40-byte header. */
  payloadLength: number;
  /** Next header of the fixed header (the first extension header, if any). */
  nextHeader: number;
  hopLimit: number;
  source: Uint8Array;
  destination: Uint8Array;
  /** How many extension headers were walked. */
  extensionHeaders: number;
  /** Offset of the upper-layer payload: 40 plus the extension headers. */
  headerLength: number;
  /** The upper-layer protocol (IPPROTO_*), after the extension headers. */
  protocol: number;
  /** The upper-layer bytes (trailing link padding past the payload length dropped). */
  payload: Uint8Array;
}

function fail(error: string): WireError {
  return { ok: false, error: `ipv6: ${error}` };
}

function hex(byte: number): string {
  return `0x${byte.toString(16).padStart(2, "0")}`;
}

/**
 * Checks the TLV options of a Hop-by-Hop or Destination Options header in
 * `bytes[start+2..end)`: every option inside the header, and no unrecognized option whose
 * action bits (the top two of its type) say to discard the packet.
 */
function checkOptions(
  bytes: Uint8Array,
  start: number,
  end: number,
  what: string,
): string | undefined {
  let i = start + 2;
  while (i < end) {
    const type = bytes[i]!;
    if (type === 0) {
      i += 1; // Pad1.
      continue;
    }
    if (i + 2 > end) return `${what} option ${hex(type)} at byte ${i} has no length byte`;
    const length = bytes[i + 1]!;
    if (i + 2 + length > end) {
      return `${what} option ${hex(type)} at byte ${i} (length ${length}) overruns its header`;
    }
    if (type === 0xc2) return "jumbo payload option not supported";
    // PadN (1) anywhere; Router Alert (5) is harmless to skip for an end host.
    const known = type === 1 || type === 5;
    if (!known && type >> 6 !== 0) {
      return `${what} option ${hex(type)} is unrecognized and asks for the packet to be dropped`;
    }
    i += 2 + length;
  }
  return undefined;
}

/**
 * Parses an IPv6 packet and walks its extension headers to the upper-layer protocol. Never
 * throws. Refuses: fewer than 40 bytes, a version other than 6, a payload length past the
 * buffer, an extension header that overruns the payload, Hop-by-Hop anywhere but first,
 * malformed or must-drop options, a jumbo payload option, a Routing header with segments
 * left (this host does not forward), more than {@link IPV6_MAX_EXTENSION_HEADERS} extension
 * headers, and fragments (error "fragment" with `fragment: true`). See
 * {@link IpParseOptions} for the `quoted` mode used on ICMPv6 error payloads.
 */
export function parseIpv6(bytes: Uint8Array, options: IpParseOptions = {}): Ipv6Packet | WireError {
  const quoted = options.quoted === true;
  const n = bytes.length;
  if (n === 0) return fail("empty packet");
  const version = bytes[0]! >> 4;
  if (version !== 6) return fail(`version ${version}, expected 6`);
  if (n < IPV6_HEADER_LENGTH) return fail(`header truncated (${n} of 40 bytes)`);
  const payloadLength = (bytes[4]! << 8) | bytes[5]!;
  let end = IPV6_HEADER_LENGTH + payloadLength;
  if (end > n) {
    if (!quoted) {
      return fail(`payload length ${payloadLength} exceeds the ${n - 40} bytes after the header`);
    }
    end = n;
  }
  const nextHeader = bytes[6]!;
  let protocol = nextHeader;
  let offset = IPV6_HEADER_LENGTH;
  let count = 0;
  for (;;) {
    let length: number;
    if (protocol === IPV6_HOP_BY_HOP || protocol === IPV6_DESTINATION_OPTIONS) {
      const what = protocol === IPV6_HOP_BY_HOP ? "hop-by-hop" : "destination";
      if (protocol === IPV6_HOP_BY_HOP && count > 0) {
        return fail("hop-by-hop options header not directly after the fixed header");
      }
      if (offset + 2 > end) return fail(`${what} options header truncated at byte ${offset}`);
      length = (bytes[offset + 1]! + 1) * 8;
      if (offset + length > end) {
        return fail(
          `${what} options header (${length} bytes at byte ${offset}) overruns the payload`,
        );
      }
      const bad = checkOptions(bytes, offset, offset + length, what);
      if (bad !== undefined) return fail(bad);
    } else if (protocol === IPV6_ROUTING) {
      if (offset + 4 > end) return fail(`routing header truncated at byte ${offset}`);
      length = (bytes[offset + 1]! + 1) * 8;
      if (offset + length > end) {
        return fail(`routing header (${length} bytes at byte ${offset}) overruns the payload`);
      }
      const left = bytes[offset + 3]!;
      if (left !== 0) return fail(`routing header with ${left} segments left (not forwarded)`);
    } else if (protocol === IPV6_FRAGMENT) {
      length = 8;
      if (offset + length > end) return fail(`fragment header truncated at byte ${offset}`);
      const fragmentOffset = ((bytes[offset + 2]! << 8) | bytes[offset + 3]!) >> 3;
      const more = (bytes[offset + 3]! & 1) !== 0;
      if (fragmentOffset !== 0 || (more && !quoted)) {
        return { ok: false, error: "fragment", fragment: true };
      }
    } else if (protocol === IPV6_AUTHENTICATION) {
      if (offset + 2 > end) return fail(`authentication header truncated at byte ${offset}`);
      length = (bytes[offset + 1]! + 2) * 4;
      if (offset + length > end) {
        return fail(
          `authentication header (${length} bytes at byte ${offset}) overruns the payload`,
        );
      }
    } else {
      break; // An upper-layer protocol (or No Next Header, ESP, or one unknown to us).
    }
    count += 1;
    if (count > IPV6_MAX_EXTENSION_HEADERS) {
      return fail(`more than ${IPV6_MAX_EXTENSION_HEADERS} extension headers`);
    }
    protocol = bytes[offset]!;
    offset += length;
  }
  return {
    ok: true,
    version: 6,
    trafficClass: ((bytes[0]! & 0x0f) << 4) | (bytes[1]! >> 4),
    flowLabel: ((bytes[1]! & 0x0f) << 16) | (bytes[2]! << 8) | bytes[3]!,
    payloadLength,
    nextHeader,
    hopLimit: bytes[7]!,
    source: bytes.subarray(8, 24),
    destination: bytes.subarray(24, 40),
    extensionHeaders: count,
    headerLength: offset,
    protocol,
    payload: bytes.subarray(offset, end),
  };
}

/** The fields of an IPv6 header to emit (the fixed header only: no extension headers). */
export interface Ipv6Fields {
  source: Uint8Array;
  destination: Uint8Array;
  /** The upper-layer protocol (IPPROTO_*). */
  nextHeader: number;
  /** Default 64. */
  hopLimit?: number;
  /** Default 0. */
  trafficClass?: number;
  /** Default 0 (20 bits). */
  flowLabel?: number;
}

function checkAddress(what: string, address: Uint8Array): void {
  if (address.length !== 16) {
    throw new RangeError(`ipv6: ${what} address must be 16 bytes, got ${address.length}`);
  }
}

/**
 * Writes the 40-byte IPv6 header at `buffer[offset..offset+40)` for a payload of
 * `payloadLength` bytes (written by the caller). Returns 40. Throws a RangeError for a bad
 * address length, a payload over 65535 bytes or a buffer too small.
 */
export function writeIpv6Header(
  buffer: Uint8Array,
  offset: number,
  fields: Ipv6Fields,
  payloadLength: number,
): number {
  checkAddress("source", fields.source);
  checkAddress("destination", fields.destination);
  if (payloadLength > IPV6_MAX_PAYLOAD) {
    throw new RangeError(`ipv6: payload of ${payloadLength} bytes > 65535`);
  }
  if (offset < 0 || offset + IPV6_HEADER_LENGTH > buffer.length) {
    throw new RangeError(`ipv6: no room for a header at offset ${offset}`);
  }
  const trafficClass = (fields.trafficClass ?? 0) & 0xff;
  const flowLabel = (fields.flowLabel ?? 0) & 0xfffff;
  buffer[offset] = 0x60 | (trafficClass >> 4);
  buffer[offset + 1] = ((trafficClass & 0x0f) << 4) | (flowLabel >> 16);
  buffer[offset + 2] = (flowLabel >> 8) & 0xff;
  buffer[offset + 3] = flowLabel & 0xff;
  buffer[offset + 4] = payloadLength >> 8;
  buffer[offset + 5] = payloadLength & 0xff;
  buffer[offset + 6] = fields.nextHeader;
  buffer[offset + 7] = fields.hopLimit ?? 64;
  buffer.set(fields.source, offset + 8);
  buffer.set(fields.destination, offset + 24);
  return IPV6_HEADER_LENGTH;
}

/** Builds a complete IPv6 packet: the fixed header (see {@link writeIpv6Header}) + `payload`. */
export function buildIpv6(fields: Ipv6Fields, payload: Uint8Array): Uint8Array {
  const packet = new Uint8Array(IPV6_HEADER_LENGTH + payload.length);
  writeIpv6Header(packet, 0, fields, payload.length);
  packet.set(payload, IPV6_HEADER_LENGTH);
  return packet;
}
