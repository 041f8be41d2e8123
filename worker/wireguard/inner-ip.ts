// The two things the device reads from an inner IP packet: the length its header declares
// (to trim WireGuard's padding) and its source or destination address (cryptokey routing).
// Views only; anything that is not a plausible IPv4/IPv6 packet yields 0 or undefined.

/** The length an IPv4/IPv6 header declares (padding trimmed); 0 when it is not a packet. */
export function ipPacketLength(packet: Uint8Array): number {
  const version = packet.length > 0 ? packet[0]! >> 4 : 0;
  if (version === 4 && packet.length >= 20) {
    const total = (packet[2]! << 8) | packet[3]!;
    return total >= 20 && total <= packet.length ? total : 0;
  }
  if (version === 6 && packet.length >= 40) {
    const total = 40 + ((packet[4]! << 8) | packet[5]!);
    return total <= packet.length ? total : 0;
  }
  return 0;
}

/** A view of the packet's source or destination address, or undefined if it is no IP packet. */
export function ipAddress(
  packet: Uint8Array,
  which: "source" | "destination",
): Uint8Array | undefined {
  const version = packet.length > 0 ? packet[0]! >> 4 : 0;
  if (version === 4 && packet.length >= 20) {
    const at = which === "source" ? 12 : 16;
    return packet.subarray(at, at + 4);
  }
  if (version === 6 && packet.length >= 40) {
    const at = which === "source" ? 8 : 24;
    return packet.subarray(at, at + 16);
  }
  return undefined;
}
