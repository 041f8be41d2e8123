// IP addresses and prefixes as the policy writes them ("100.64.0.5", "10.0.0.0/24",
// "fd7a::/48"): strict parsing (no leading zeros, no zone ids, no host bits after the prefix
// length) and containment. Addresses are kept as bigints so IPv4 and IPv6 share one code path.

/** A parsed prefix: family, network bits as an integer, and prefix length. */
export interface Prefix {
  family: 4 | 6;
  /** The network address as an integer (host bits zero). */
  network: bigint;
  bits: number;
}

/** A parsed address. */
export interface Address {
  family: 4 | 6;
  value: bigint;
}

const IPV4_PART = /^(0|[1-9][0-9]{0,2})$/;
const IPV6_GROUP = /^[0-9a-fA-F]{1,4}$/;

function parseIpv4(text: string): bigint | null {
  const parts = text.split(".");
  if (parts.length !== 4) return null;
  let value = 0n;
  for (const part of parts) {
    if (!IPV4_PART.test(part)) return null;
    const n = Number(part);
    if (n > 255) return null;
    value = (value << 8n) | BigInt(n);
  }
  return value;
}

function parseIpv6(text: string): bigint | null {
  if (text.length > 45 || !text.includes(":")) return null;
  const halves = text.split("::");
  if (halves.length > 2) return null;
  const groupsOf = (half: string): number[] | null => {
    if (half === "") return [];
    const out: number[] = [];
    const pieces = half.split(":");
    for (let i = 0; i < pieces.length; i++) {
      const piece = pieces[i]!;
      // A dotted IPv4 tail ("::ffff:1.2.3.4") counts as two groups.
      if (i === pieces.length - 1 && piece.includes(".")) {
        const v4 = parseIpv4(piece);
        if (v4 === null) return null;
        out.push(Number(v4 >> 16n), Number(v4 & 0xffffn));
      } else {
        if (!IPV6_GROUP.test(piece)) return null;
        out.push(Number.parseInt(piece, 16));
      }
    }
    return out;
  };
  const head = groupsOf(halves[0]!);
  const tail = halves.length === 2 ? groupsOf(halves[1]!) : [];
  if (head === null || tail === null) return null;
  let groups: number[];
  if (halves.length === 2) {
    const missing = 8 - head.length - tail.length;
    if (missing < 1) return null;
    groups = [...head, ...new Array<number>(missing).fill(0), ...tail];
  } else {
    groups = head;
  }
  if (groups.length !== 8) return null;
  let value = 0n;
  for (const g of groups) value = (value << 16n) | BigInt(g);
  return value;
}

/** Parses "1.2.3.4" or an IPv6 address; null when it is neither. */
export function parseAddress(text: string): Address | null {
  const v4 = parseIpv4(text);
  if (v4 !== null) return { family: 4, value: v4 };
  const v6 = parseIpv6(text);
  if (v6 !== null) return { family: 6, value: v6 };
  return null;
}

/** Why `text` is not a prefix, or the prefix: "10.0.0.0/24", or a bare address (/32, /128). */
export function parsePrefix(text: string): Prefix | string {
  const slash = text.indexOf("/");
  const addressText = slash < 0 ? text : text.slice(0, slash);
  const address = parseAddress(addressText);
  if (address === null) return `"${addressText}" is not an IP address`;
  const width = address.family === 4 ? 32 : 128;
  let bits = width;
  if (slash >= 0) {
    const lengthText = text.slice(slash + 1);
    if (!/^(0|[1-9][0-9]{0,2})$/.test(lengthText) || Number(lengthText) > width) {
      return `"/${lengthText}" is not a prefix length (0-${width})`;
    }
    bits = Number(lengthText);
  }
  const hostMask = (1n << BigInt(width - bits)) - 1n;
  if ((address.value & hostMask) !== 0n) {
    const network = formatAddress(address.family, address.value & ~hostMask);
    return `"${text}" has bits set after the prefix length: did you mean ${network}/${bits}?`;
  }
  return { family: address.family, network: address.value, bits };
}

/** Whether `prefix` contains `address`. */
export function prefixContains(prefix: Prefix, address: Address): boolean {
  if (prefix.family !== address.family) return false;
  const width = prefix.family === 4 ? 32 : 128;
  return (
    address.value >> BigInt(width - prefix.bits) === prefix.network >> BigInt(width - prefix.bits)
  );
}

/** The canonical text of an address (dotted IPv4; RFC 5952 IPv6). */
export function formatAddress(family: 4 | 6, value: bigint): string {
  if (family === 4) {
    return [24n, 16n, 8n, 0n].map((s) => String((value >> s) & 0xffn)).join(".");
  }
  const groups: number[] = [];
  for (let i = 7; i >= 0; i--) groups.push(Number((value >> BigInt(i * 16)) & 0xffffn));
  // RFC 5952: compress the longest run (>= 2) of zero groups, the first when tied.
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(":");
  return `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLength).join(":")}`;
}

/** The canonical text of a prefix ("10.0.0.0/24", "fd7a::/48"). */
export function formatPrefix(prefix: Prefix): string {
  return `${formatAddress(prefix.family, prefix.network)}/${prefix.bits}`;
}
