// The mesh's addresses (DESIGN §4): IPv4 from 100.64.0.0/10, IPv6 from the mesh's ULA /48
// (RFC 4193, chosen at first start by settings.ts) with the node's IPv4 in the low 32 bits, so
// one number names a node in both families and the IPv6 address never needs its own allocation.

import { randomBytes } from "node:crypto";
import { formatIp, parseIp } from "../../../worker/wireguard/ip-address.ts";

/**
 * First and last IPv4 address handed out. 100.64.0.0 and 100.127.255.255 (the range's network
 * and broadcast-like ends) are skipped; every other address, .0 and .255 inside, is a
 * valid host address in a /10 and is used.
 */
export const IPV4_FIRST = "100.64.0.1";
export const IPV4_LAST = "100.127.255.254";

/** How many IPv4 addresses the mesh can hand out. */
export const IPV4_CAPACITY = 4_194_302;

/** A new RFC 4193 prefix: fd + 40 random bits (the global ID), as "fdxx:xxxx:xxxx::/48". */
export function randomUlaPrefix(random: (n: number) => Uint8Array = randomBytes): string {
  const bytes = new Uint8Array(16);
  bytes[0] = 0xfd;
  bytes.set(random(5).subarray(0, 5), 1);
  return `${formatIp(bytes)}/48`;
}

/** The 6 bytes of a ULA /48 prefix; a TypeError naming ipv6Prefix when it is not one. */
export function parseUlaPrefix(prefix: string): Uint8Array {
  const shown = prefix.slice(0, 64);
  const slash = prefix.indexOf("/");
  if (slash < 0 || prefix.slice(slash + 1) !== "48") {
    throw new TypeError(`ipv6Prefix '${shown}': not a /48 prefix`);
  }
  const bytes = parseIp(prefix.slice(0, slash), `ipv6Prefix '${shown}'`);
  if (bytes.length !== 16 || bytes[0] !== 0xfd) {
    throw new TypeError(`ipv6Prefix '${shown}': not a ULA prefix (fd00::/8)`);
  }
  if (bytes.subarray(6).some((b) => b !== 0)) {
    throw new TypeError(`ipv6Prefix '${shown}': bits beyond the first 48 are set`);
  }
  return bytes.slice(0, 6);
}

/** The IPv6 address of the node with `ipv4`: the prefix, zeros, then the IPv4 address. */
export function ipv6ForIpv4(prefix: string, ipv4: string): string {
  const v4 = parseIp(ipv4, `ipv4 '${ipv4.slice(0, 64)}'`);
  if (v4.length !== 4) throw new TypeError(`ipv4 '${ipv4.slice(0, 64)}': not an IPv4 address`);
  const bytes = new Uint8Array(16);
  bytes.set(parseUlaPrefix(prefix), 0);
  bytes.set(v4, 12);
  return formatIp(bytes);
}
