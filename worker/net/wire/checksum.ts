// The Internet checksum (RFC 1071) and the pseudo-headers of RFC 768/9293 (IPv4) and
// RFC 8200 §8.1 (IPv6), shared by every wire format that carries one.

/** Adds `bytes` as big-endian 16-bit words to a running 32-bit sum (odd length: zero-padded). */
export function sumWords(bytes: Uint8Array, sum = 0): number {
  const n = bytes.length;
  let i = 0;
  for (; i + 1 < n; i += 2) sum += (bytes[i]! << 8) | bytes[i + 1]!;
  if (i < n) sum += bytes[i]! << 8;
  // Fold now and then so the sum stays a small integer.
  return (sum & 0xffff) + Math.floor(sum / 0x10000);
}

/** Folds a running sum into the 16-bit one's complement checksum. */
export function finishChecksum(sum: number): number {
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** The checksum of `bytes` alone (IPv4 header, ICMPv4). */
export function checksum(bytes: Uint8Array): number {
  return finishChecksum(sumWords(bytes));
}

/**
 * The running sum of the pseudo-header for an upper-layer protocol over IPv4 (4-byte
 * addresses) or IPv6 (16-byte addresses): addresses, protocol (next header) and length.
 */
export function pseudoHeaderSum(
  source: Uint8Array,
  destination: Uint8Array,
  protocol: number,
  length: number,
): number {
  let sum = sumWords(source);
  sum = sumWords(destination, sum);
  return sum + protocol + (length & 0xffff) + Math.floor(length / 0x10000);
}

/** The checksum of an upper-layer segment (UDP, TCP, ICMPv6) with its pseudo-header. */
export function transportChecksum(
  source: Uint8Array,
  destination: Uint8Array,
  protocol: number,
  segment: Uint8Array,
): number {
  return finishChecksum(
    sumWords(segment, pseudoHeaderSum(source, destination, protocol, segment.length)),
  );
}
