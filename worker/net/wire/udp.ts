// The UDP header (RFC 768; RFC 8200 §8.1 over IPv6): a view over received bytes and an
// emitter. The checksum covers the pseudo-header, so both need the packet's addresses:
// 4 bytes each over IPv4, where a zero checksum means "none", or 16 over IPv6, where it is
// mandatory.

import { transportChecksum } from "./checksum.ts";
import { IPPROTO_UDP, type WireError } from "./ip.ts";

/** Length of the UDP header. */
export const UDP_HEADER_LENGTH = 8;
/** Largest UDP datagram, header included (the length field is 16 bits). */
export const UDP_MAX_DATAGRAM = 0xffff;

/** A parsed UDP datagram. `payload` is a view into the parsed buffer (no copy). */
export interface UdpDatagram {
  ok: true;
  sourcePort: number;
  destinationPort: number;
  /** The length field: header plus payload. */
  length: number;
  /** The checksum as received; 0 (IPv4 only) means the sender computed none. */
  checksum: number;
  payload: Uint8Array;
}

function fail(error: string): WireError {
  return { ok: false, error: `udp: ${error}` };
}

/**
 * Parses a UDP datagram (an IP payload) sent from `source` to `destination` (both 4 or both
 * 16 bytes). Never throws. Refuses: other address lengths, fewer than 8 bytes, a length
 * field below 8 or past the buffer (bytes past it are ignored), a bad checksum, and a zero
 * checksum over IPv6.
 */
export function parseUdp(
  bytes: Uint8Array,
  source: Uint8Array,
  destination: Uint8Array,
): UdpDatagram | WireError {
  const v6 = source.length === 16 && destination.length === 16;
  if (!v6 && !(source.length === 4 && destination.length === 4)) {
    return fail("addresses must both be 4 or both 16 bytes");
  }
  const n = bytes.length;
  if (n < UDP_HEADER_LENGTH) return fail(`header truncated (${n} of 8 bytes)`);
  const length = (bytes[4]! << 8) | bytes[5]!;
  if (length < UDP_HEADER_LENGTH) return fail(`length ${length} is shorter than the header`);
  if (length > n) return fail(`length ${length} exceeds the ${n} bytes received`);
  const datagram = bytes.subarray(0, length);
  const sum = (bytes[6]! << 8) | bytes[7]!;
  if (sum === 0) {
    if (v6) return fail("zero checksum over IPv6");
  } else if (transportChecksum(source, destination, IPPROTO_UDP, datagram) !== 0) {
    return fail("bad checksum");
  }
  return {
    ok: true,
    sourcePort: (bytes[0]! << 8) | bytes[1]!,
    destinationPort: (bytes[2]! << 8) | bytes[3]!,
    length,
    checksum: sum,
    payload: bytes.subarray(UDP_HEADER_LENGTH, length),
  };
}

/** The fields of a UDP datagram to emit; the addresses go into the checksum. */
export interface UdpFields {
  source: Uint8Array;
  destination: Uint8Array;
  sourcePort: number;
  destinationPort: number;
}

/**
 * Writes the 8-byte UDP header at `buffer[offset..offset+8)` for the `payloadLength` bytes
 * the caller has already put after it, and the checksum over header and payload (0 becomes
 * 0xffff, as RFC 768 says). Returns 8. Throws a RangeError for bad addresses, a datagram
 * over 65535 bytes, or a buffer that does not hold header and payload.
 */
export function writeUdpHeader(
  buffer: Uint8Array,
  offset: number,
  fields: UdpFields,
  payloadLength: number,
): number {
  const { source, destination } = fields;
  const sizes = `${source.length} and ${destination.length}`;
  if (source.length !== destination.length || (source.length !== 4 && source.length !== 16)) {
    throw new RangeError(`udp: addresses must both be 4 or both 16 bytes, got ${sizes}`);
  }
  const length = UDP_HEADER_LENGTH + payloadLength;
  if (length > UDP_MAX_DATAGRAM) throw new RangeError(`udp: datagram of ${length} bytes > 65535`);
  if (offset < 0 || offset + length > buffer.length) {
    throw new RangeError(`udp: no room for a ${length}-byte datagram at offset ${offset}`);
  }
  buffer[offset] = (fields.sourcePort >> 8) & 0xff;
  buffer[offset + 1] = fields.sourcePort & 0xff;
  buffer[offset + 2] = (fields.destinationPort >> 8) & 0xff;
  buffer[offset + 3] = fields.destinationPort & 0xff;
  buffer[offset + 4] = length >> 8;
  buffer[offset + 5] = length & 0xff;
  buffer[offset + 6] = 0;
  buffer[offset + 7] = 0;
  const datagram = buffer.subarray(offset, offset + length);
  const sum = transportChecksum(source, destination, IPPROTO_UDP, datagram) || 0xffff;
  buffer[offset + 6] = sum >> 8;
  buffer[offset + 7] = sum & 0xff;
  return UDP_HEADER_LENGTH;
}

/** Builds a complete UDP datagram (header with checksum + `payload`); see {@link writeUdpHeader}. */
export function buildUdp(fields: UdpFields, payload: Uint8Array): Uint8Array {
  const datagram = new Uint8Array(UDP_HEADER_LENGTH + payload.length);
  datagram.set(payload, UDP_HEADER_LENGTH);
  writeUdpHeader(datagram, 0, fields, payload.length);
  return datagram;
}
