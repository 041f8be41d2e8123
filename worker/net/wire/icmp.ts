// The shapes ICMPv4 (RFC 792) and ICMPv6 (RFC 4443) messages share once parsed: the two
// differ in type numbers and checksums, not in what a caller reads from them.

/** An echo request or reply. `data` is a view into the parsed buffer. */
export interface IcmpEcho {
  ok: true;
  kind: "echo-request" | "echo-reply";
  type: number;
  code: number;
  checksum: number;
  /** Identifier (16 bits). */
  id: number;
  /** Sequence number (16 bits). */
  seq: number;
  data: Uint8Array;
}

/** Destination unreachable. `original` is the quoted datagram (a view). */
export interface IcmpDestinationUnreachable {
  ok: true;
  kind: "destination-unreachable";
  type: number;
  code: number;
  checksum: number;
  original: Uint8Array;
}

/** Packet too big (ICMPv6 type 2; ICMPv4 type 3 code 4): `mtu` of the next hop, 0 if unknown. */
export interface IcmpPacketTooBig {
  ok: true;
  kind: "packet-too-big";
  type: number;
  code: number;
  checksum: number;
  mtu: number;
  original: Uint8Array;
}

/** Any other type: `rest` is header bytes 4..8 and `body` what follows (views). */
export interface IcmpOther {
  ok: true;
  kind: "other";
  type: number;
  code: number;
  checksum: number;
  rest: Uint8Array;
  body: Uint8Array;
}
