// The IPv4 header (RFC 791): a view over received bytes and an emitter. Options are checked
// for sane lengths and skipped, never acted on. Fragments are refused (no reassembly).

import { checksum } from "./checksum.ts";
import type { IpParseOptions, WireError } from "./ip.ts";

/** Length of an IPv4 header without options. */
export const IPV4_HEADER_LENGTH = 20;
/** Largest IPv4 packet (the total length field is 16 bits). */
export const IPV4_MAX_PACKET = 0xffff;

/**
 * A parsed IPv4 packet. `source`, `destination`, `options` and `payload` are views into the
 * parsed buffer (no copies): copy them before the buffer is reused.
 */
export interface Ipv4Packet {
  ok: true;
  version: 4;
  /** Header length in bytes (IHL × 4), 20..60. */
  headerLength: number;
  /** Differentiated services code point (upper 6 bits of the old TOS byte). */
  dscp: number;
  /** Explicit congestion notification (lower 2 bits). */
  ecn: number;
  /** Total length field: header plus payload. */
  totalLength: number;
  identification: number;
  dontFragment: boolean;
  /** More Fragments: set only in quoted mode, on a first fragment (offset 0). */
  moreFragments: boolean;
  ttl: number;
  /** Upper-layer protocol (IPPROTO_*). */
  protocol: number;
  /** Header checksum as received. */
  checksum: number;
  source: Uint8Array;
  destination: Uint8Array;
  /** Raw option bytes (headerLength − 20 of them, padding included). */
  options: Uint8Array;
  /** The upper-layer bytes: up to the total length (trailing link padding is dropped). */
  payload: Uint8Array;
}

function fail(error: string): WireError {
  return { ok: false, error: `ipv4: ${error}` };
}

/** Checks that the options in `bytes[20..end)` have lengths that stay inside the header. */
function checkOptions(bytes: Uint8Array, end: number): string | undefined {
  let i = IPV4_HEADER_LENGTH;
  while (i < end) {
    const type = bytes[i]!;
    if (type === 0) return undefined; // End of Option List: the rest is padding.
    if (type === 1) {
      i += 1; // No Operation.
      continue;
    }
    const hex = `0x${type.toString(16).padStart(2, "0")}`;
    if (i + 1 >= end) return `option ${hex} at byte ${i} has no length byte`;
    const length = bytes[i + 1]!;
    if (length < 2) return `option ${hex} at byte ${i} has length ${length} (< 2)`;
    if (i + length > end) {
      return `option ${hex} at byte ${i} (length ${length}) overruns the ${end}-byte header`;
    }
    i += length;
  }
  return undefined;
}

/**
 * Parses an IPv4 packet. Never throws. Refuses: fewer than 20 bytes, a version other than 4,
 * IHL < 5 or past the buffer, a total length shorter than the header or longer than the
 * buffer, a bad header checksum, malformed options, and fragments (error "fragment" with
 * `fragment: true`). Bytes past the total length (link padding) are ignored. See
 * {@link IpParseOptions} for the `quoted` mode used on ICMP error payloads.
 */
export function parseIpv4(bytes: Uint8Array, options: IpParseOptions = {}): Ipv4Packet | WireError {
  const quoted = options.quoted === true;
  const n = bytes.length;
  if (n === 0) return fail("empty packet");
  const version = bytes[0]! >> 4;
  if (version !== 4) return fail(`version ${version}, expected 4`);
  if (n < IPV4_HEADER_LENGTH) return fail(`header truncated (${n} of 20 bytes)`);
  const headerLength = (bytes[0]! & 0x0f) * 4;
  if (headerLength < IPV4_HEADER_LENGTH) return fail(`IHL ${headerLength / 4} is below 5`);
  if (headerLength > n) {
    return fail(`header length ${headerLength} exceeds the ${n} bytes received`);
  }
  const totalLength = (bytes[2]! << 8) | bytes[3]!;
  if (totalLength < headerLength) {
    return fail(`total length ${totalLength} is shorter than the ${headerLength}-byte header`);
  }
  if (totalLength > n && !quoted) {
    return fail(`total length ${totalLength} exceeds the ${n} bytes received`);
  }
  if (!quoted && checksum(bytes.subarray(0, headerLength)) !== 0) {
    return fail("bad header checksum");
  }
  const bad = checkOptions(bytes, headerLength);
  if (bad !== undefined) return fail(bad);
  const flags = bytes[6]! >> 5;
  const moreFragments = (flags & 1) !== 0;
  const fragmentOffset = (((bytes[6]! & 0x1f) << 8) | bytes[7]!) * 8;
  if (fragmentOffset !== 0 || (moreFragments && !quoted)) {
    return { ok: false, error: "fragment", fragment: true };
  }
  return {
    ok: true,
    version: 4,
    headerLength,
    dscp: bytes[1]! >> 2,
    ecn: bytes[1]! & 3,
    totalLength,
    identification: (bytes[4]! << 8) | bytes[5]!,
    dontFragment: (flags & 2) !== 0,
    moreFragments,
    ttl: bytes[8]!,
    protocol: bytes[9]!,
    checksum: (bytes[10]! << 8) | bytes[11]!,
    source: bytes.subarray(12, 16),
    destination: bytes.subarray(16, 20),
    options: bytes.subarray(IPV4_HEADER_LENGTH, headerLength),
    payload: bytes.subarray(headerLength, Math.min(totalLength, n)),
  };
}

/** The fields of an IPv4 header to emit (always 20 bytes: no options). */
export interface Ipv4Fields {
  source: Uint8Array;
  destination: Uint8Array;
  protocol: number;
  /** Default 64. */
  ttl?: number;
  /** Default 0. */
  identification?: number;
  /** Default true (path MTU discovery; RFC 6864 lets identification be 0 then). */
  dontFragment?: boolean;
  /** Default 0. */
  dscp?: number;
  /** Default 0. */
  ecn?: number;
}

function checkAddress(what: string, address: Uint8Array): void {
  if (address.length !== 4) {
    throw new RangeError(`ipv4: ${what} address must be 4 bytes, got ${address.length}`);
  }
}

/**
 * Writes a 20-byte IPv4 header with its checksum at `buffer[offset..offset+20)` for a payload
 * of `payloadLength` bytes (written by the caller, before or after). Returns 20. Throws a
 * RangeError for a bad address length, a packet over 65535 bytes or a buffer too small.
 */
export function writeIpv4Header(
  buffer: Uint8Array,
  offset: number,
  fields: Ipv4Fields,
  payloadLength: number,
): number {
  checkAddress("source", fields.source);
  checkAddress("destination", fields.destination);
  const total = IPV4_HEADER_LENGTH + payloadLength;
  if (total > IPV4_MAX_PACKET) throw new RangeError(`ipv4: packet of ${total} bytes > 65535`);
  if (offset < 0 || offset + IPV4_HEADER_LENGTH > buffer.length) {
    throw new RangeError(`ipv4: no room for a header at offset ${offset}`);
  }
  const id = fields.identification ?? 0;
  const header = buffer.subarray(offset, offset + IPV4_HEADER_LENGTH);
  header[0] = 0x45;
  header[1] = (((fields.dscp ?? 0) & 0x3f) << 2) | ((fields.ecn ?? 0) & 3);
  header[2] = total >> 8;
  header[3] = total & 0xff;
  header[4] = (id >> 8) & 0xff;
  header[5] = id & 0xff;
  header[6] = (fields.dontFragment ?? true) ? 0x40 : 0;
  header[7] = 0;
  header[8] = fields.ttl ?? 64;
  header[9] = fields.protocol;
  header[10] = 0;
  header[11] = 0;
  header.set(fields.source, 12);
  header.set(fields.destination, 16);
  const sum = checksum(header);
  header[10] = sum >> 8;
  header[11] = sum & 0xff;
  return IPV4_HEADER_LENGTH;
}

/** Builds a complete IPv4 packet: a 20-byte header (see {@link writeIpv4Header}) + `payload`. */
export function buildIpv4(fields: Ipv4Fields, payload: Uint8Array): Uint8Array {
  const packet = new Uint8Array(IPV4_HEADER_LENGTH + payload.length);
  writeIpv4Header(packet, 0, fields, payload.length);
  packet.set(payload, IPV4_HEADER_LENGTH);
  return packet;
}
