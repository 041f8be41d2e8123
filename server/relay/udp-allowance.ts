// The UDP bridge's allowances: which endpoints a client may reach ("cidr:ports" from the
// relay's `--allow-udp` list or a token's `udp`), and the destinations that no broad allowance
// reaches: loopback, unspecified, link-local, multicast and broadcast (reserved) addresses.
// Those are the relay machine's own services and its local network, never a WireGuard host
// on purpose; only an allowance that lies inside such a block (names it exactly, e.g.
// `127.0.0.1/32:51820`) reaches it.

import { parseCidr } from "../../worker/wireguard/allowed-ips.ts";
import { quoteInput } from "../../worker/wireguard/ip-address.ts";

/** Endpoints a client may reach: an address prefix and an inclusive port range. */
export interface UdpAllowance {
  /** 4 or 16 bytes, host bits cleared. */
  addr: Uint8Array;
  bits: number;
  portLo: number;
  portHi: number;
}

const PORT = /^[0-9]{1,5}$/;

function port(text: string, what: string): number {
  const n = Number(text);
  if (!PORT.test(text) || n < 1 || n > 65535) {
    throw new TypeError(`${what}: port ${quoteInput(text)} is not a number 1-65535`);
  }
  return n;
}

/**
 * Parses one allowance: "cidr" (any port), "ip:port", "cidr:port", "cidr:lo-hi", with IPv6 in
 * brackets when a port follows ("[fd00::/64]:51820") or bare without one ("fd00::/64").
 * An IPv4-mapped IPv6 prefix is taken as its IPv4 prefix. Throws a TypeError naming the
 * problem.
 */
export function parseUdpAllowance(text: string): UdpAllowance {
  const what = `UDP allowance ${quoteInput(text)}`;
  let cidr = text;
  let ports: string | undefined;
  if (text.startsWith("[")) {
    const close = text.indexOf("]");
    if (close < 0) throw new TypeError(`${what}: '[' without ']'`);
    cidr = text.slice(1, close);
    const rest = text.slice(close + 1);
    if (rest !== "") {
      if (!rest.startsWith(":")) throw new TypeError(`${what}: expected ':' after ']'`);
      ports = rest.slice(1);
    }
  } else if (text.indexOf(":") === text.lastIndexOf(":") && text.includes(":")) {
    const colon = text.indexOf(":");
    cidr = text.slice(0, colon);
    ports = text.slice(colon + 1);
  }
  let { addr, bits } = parseCidr(cidr, what);
  if (addr.length === 16 && isMapped(addr) && bits >= 96) {
    addr = addr.slice(12);
    bits -= 96;
  }
  let portLo = 1;
  let portHi = 65535;
  if (ports !== undefined && ports !== "*") {
    const dash = ports.indexOf("-");
    portLo = port(dash < 0 ? ports : ports.slice(0, dash), what);
    portHi = dash < 0 ? portLo : port(ports.slice(dash + 1), what);
    if (portHi < portLo) throw new TypeError(`${what}: port range ${ports} is backwards`);
  }
  return { addr, bits, portLo, portHi };
}

export function isMapped(a: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (a[i] !== 0) return false;
  return a[10] === 0xff && a[11] === 0xff;
}

/** The endpoint's address as 4 bytes (IPv4, mapped or not) or 16 (IPv6). */
export function unmap(address: Uint8Array): Uint8Array {
  return address.length === 16 && isMapped(address) ? address.subarray(12) : address;
}

/** Whether `addr` (4 or 16 bytes) and `port` fall inside the allowance. */
export function allows(allowance: UdpAllowance, addr: Uint8Array, port: number): boolean {
  if (addr.length !== allowance.addr.length) return false;
  if (port < allowance.portLo || port > allowance.portHi) return false;
  for (let i = 0, left = allowance.bits; left > 0; i++, left -= 8) {
    const mask = left >= 8 ? 0xff : (0xff << (8 - left)) & 0xff;
    if (((addr[i] ?? 0) & mask) !== allowance.addr[i]) return false;
  }
  return true;
}

/** A block of special destinations, for the reason in refusals and docs. */
interface SpecialBlock {
  name: string;
  allowance: UdpAllowance;
}

function block(name: string, cidr: string): SpecialBlock {
  return { name, allowance: parseUdpAllowance(cidr) };
}

/**
 * Destinations a broad allowance never reaches (IPv4-mapped IPv6 is checked as IPv4). ::/96
 * holds the unspecified address ::, the loopback ::1 and the deprecated IPv4-compatible form.
 */
export const SPECIAL_BLOCKS: readonly SpecialBlock[] = [
  block("unspecified", "0.0.0.0/8"),
  block("loopback", "127.0.0.0/8"),
  block("link-local", "169.254.0.0/16"),
  block("multicast", "224.0.0.0/4"),
  block("broadcast and reserved", "240.0.0.0/4"),
  block("unspecified, loopback or IPv4-compatible", "::/96"),
  block("link-local", "fe80::/10"),
  block("multicast", "ff00::/8"),
];

/** Whether `inner`'s prefix lies inside `outer`'s (ports aside). */
function within(inner: UdpAllowance, outer: UdpAllowance): boolean {
  return inner.bits >= outer.bits && allows({ ...outer, portLo: 1, portHi: 65535 }, inner.addr, 1);
}

/** The special block `addr` (4 or 16 bytes, unmapped) falls in, if any. */
export function specialBlockOf(addr: Uint8Array): SpecialBlock | undefined {
  return SPECIAL_BLOCKS.find((b) => allows(b.allowance, addr, 1));
}

/**
 * Whether `allowance` lets a client reach `addr`:`port`: it covers them and, when `addr` is in
 * a special block, the allowance lies inside that block (the operator named it on purpose).
 */
export function reaches(allowance: UdpAllowance, addr: Uint8Array, port: number): boolean {
  if (!allows(allowance, addr, port)) return false;
  const special = specialBlockOf(addr);
  return special === undefined || within(allowance, special.allowance);
}
