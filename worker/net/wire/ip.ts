// What IPv4 and IPv6 share: upper-layer protocol numbers (IANA "Assigned Internet Protocol
// Numbers", the same in IPv4's protocol field and IPv6's next header), the error shape of
// every wire parser, and a dispatcher that parses a packet by its version nibble.

import { buildIpv4, type Ipv4Packet, parseIpv4 } from "./ipv4.ts";
import { buildIpv6, type Ipv6Packet, parseIpv6 } from "./ipv6.ts";

/** Internet Control Message Protocol (RFC 792). */
export const IPPROTO_ICMP = 1;
/** Transmission Control Protocol (RFC 9293). */
export const IPPROTO_TCP = 6;
/** User Datagram Protocol (RFC 768). */
export const IPPROTO_UDP = 17;
/** ICMP for IPv6 (RFC 4443). */
export const IPPROTO_ICMPV6 = 58;

/**
 * What every wire parser returns for bytes it refuses: `error` says exactly what is wrong
 * (prefixed with the protocol, e.g. "ipv4: bad header checksum"). `fragment` is set, with
 * the error "fragment", for a valid IPv4 or IPv6 fragment: there is no reassembly, so the
 * interface drops it but may count it apart from malformed packets.
 */
export interface WireError {
  ok: false;
  error: string;
  fragment?: true;
}

/** A parsed IPv4 or IPv6 packet; `version` tells which. */
export type IpPacket = Ipv4Packet | Ipv6Packet;

/** Options for the IP parsers. */
export interface IpParseOptions {
  /**
   * Parse the original datagram quoted inside an ICMP error: it may be cut short (the
   * payload is what is there, not what the length field says), its header checksum is not
   * verified, and a first fragment (offset 0) is accepted so its ports can be read. Never
   * use this for packets to be delivered.
   */
  quoted?: boolean;
}

/**
 * Parses an IP packet as IPv4 or IPv6 by its version nibble. Never throws: any input that is
 * not a complete, valid, unfragmented packet gives a {@link WireError}.
 */
export function parseIp(packet: Uint8Array, options: IpParseOptions = {}): IpPacket | WireError {
  if (packet.length === 0) return { ok: false, error: "ip: empty packet" };
  const version = packet[0]! >> 4;
  if (version === 4) return parseIpv4(packet, options);
  if (version === 6) return parseIpv6(packet, options);
  return { ok: false, error: `ip: unknown version ${version}` };
}

/** The fields {@link buildIp} needs; the address length (4 or 16) picks IPv4 or IPv6. */
export interface IpFields {
  source: Uint8Array;
  destination: Uint8Array;
  /** The upper-layer protocol (IPv4 protocol, IPv6 next header). */
  protocol: number;
  /** TTL (IPv4) or hop limit (IPv6); default 64. */
  hopLimit?: number;
}

/**
 * Builds an IPv4 packet (for 4-byte addresses, with Don't Fragment set) or an IPv6 packet
 * (16-byte addresses) around `payload`, which must already carry its own checksum. Throws a
 * RangeError for addresses that are not both 4 or both 16 bytes, or a payload too large.
 */
export function buildIp(fields: IpFields, payload: Uint8Array): Uint8Array {
  const { source, destination, protocol, hopLimit = 64 } = fields;
  if (source.length === 4 && destination.length === 4) {
    return buildIpv4({ source, destination, protocol, ttl: hopLimit }, payload);
  }
  if (source.length === 16 && destination.length === 16) {
    return buildIpv6({ source, destination, nextHeader: protocol, hopLimit }, payload);
  }
  throw new RangeError(
    `buildIp: addresses must both be 4 or both 16 bytes, got ${source.length} and ${destination.length}`,
  );
}
