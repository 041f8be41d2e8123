// IPv4 and IPv6 addresses as text: a strict parser and an RFC 5952 formatter. Written here
// rather than borrowed because worker/ may not use node:net, and the URL parser both accepts
// forms wg rejects (e.g. "0x7f.1", "127.1") and cannot say what is wrong with bad input.
//
// What is accepted is what wg(8) accepts through Go's netip: dotted-quad IPv4 with no leading
// zeros (a leading zero is octal in some parsers, so it is refused rather than guessed), and
// IPv6 with at most one "::" and an optional dotted-quad tail. Zone indexes ("%eth0") are
// refused: an allowed IP or a mesh address has no zone.

/** Longest input echoed back in an error message; the rest is elided. */
const MAX_QUOTED = 64;

/** `'text'` for an error message, shortened if long, so bad input cannot bloat logs. */
export function quoteInput(text: string): string {
  const shown = text.length > MAX_QUOTED ? `${text.slice(0, MAX_QUOTED)}…` : text;
  return `'${shown}'`;
}

/** A character for an error message; unprintable ones as "U+" and 4 hex digits, so the message stays legible. */
export function describeChar(code: number): string {
  if (code >= 0x21 && code <= 0x7e) return `'${String.fromCharCode(code)}'`;
  return `U+${code.toString(16).toUpperCase().padStart(4, "0")}`;
}

function isDigit(code: number): boolean {
  return code >= 0x30 && code <= 0x39;
}

/** The value of a hex digit, or -1. */
function hexValue(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30;
  const lower = code | 0x20;
  if (lower >= 0x61 && lower <= 0x66) return lower - 0x61 + 10;
  return -1;
}

/**
 * Parses dotted-quad `text` into `out[offset..offset+4]`. Returns what is wrong, or
 * undefined on success. Errors are returned, not thrown, so the IPv6 parser can prefix them.
 */
function parseIpv4Into(text: string, out: Uint8Array, offset: number): string | undefined {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (!isDigit(c) && c !== 0x2e) return `unexpected character ${describeChar(c)}`;
  }
  const octets = text.split(".");
  if (octets.length > 4) return `too many octets (${octets.length}, want 4)`;
  if (octets.length < 4) return `too few octets (${octets.length}, want 4)`;
  for (let i = 0; i < 4; i++) {
    const octet = octets[i]!;
    const n = i + 1;
    if (octet === "") return `octet ${n} is empty`;
    // Length is checked before the value so a long digit run cannot lose precision.
    if (octet.length > 3) return `octet ${n} out of range`;
    if (octet.length > 1 && octet.charCodeAt(0) === 0x30) return `octet ${n} has a leading zero`;
    const value = Number(octet);
    if (value > 255) return `octet ${n} out of range`;
    out[offset + i] = value;
  }
  return undefined;
}

/** Parses one IPv6 group of 1-4 hex digits; returns the value, or what is wrong. */
function parseGroup(group: string, n: number): number | string {
  if (group.length > 4) return `group ${n} has more than 4 hex digits`;
  let value = 0;
  for (let i = 0; i < group.length; i++) {
    const d = hexValue(group.charCodeAt(i));
    if (d < 0) return `group ${n}: unexpected character ${describeChar(group.charCodeAt(i))}`;
    value = (value << 4) | d;
  }
  return value;
}

/** Parses IPv6 `text` (it contains a ':'); returns the 16 bytes, or what is wrong. */
function parseIpv6(text: string): Uint8Array | string {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x25) return "zone index ('%...') not allowed";
    if (hexValue(c) < 0 && c !== 0x3a && c !== 0x2e)
      return `unexpected character ${describeChar(c)}`;
  }
  if (text.includes(":::")) return "':::' is not valid";
  const gap = text.indexOf("::");
  if (gap !== -1 && text.indexOf("::", gap + 1) !== -1) return "more than one '::'";
  if (gap !== 0 && text.startsWith(":")) return "starts with a single ':'";
  if (gap !== text.length - 2 && text.endsWith(":")) return "ends with a single ':'";

  const head = gap === -1 ? text : text.slice(0, gap);
  const tail = gap === -1 ? "" : text.slice(gap + 2);
  const groups = [...(head === "" ? [] : head.split(":")), ...(tail === "" ? [] : tail.split(":"))];
  const headCount = head === "" ? 0 : head.split(":").length;
  // An embedded IPv4 address may only be the last thing written (RFC 4291 2.2, form 3).
  const v4At =
    groups.length > 0 && groups[groups.length - 1]!.includes(".") ? groups.length - 1 : -1;
  if (v4At !== -1 && gap !== -1 && gap === text.length - 2) {
    return "embedded IPv4 address must come last";
  }

  const values: number[] = [];
  for (let i = 0; i < groups.length; i++) {
    const group = groups[i]!;
    if (group === "") return `group ${i + 1} is empty`;
    if (i === v4At) {
      const quad = new Uint8Array(4);
      const why = parseIpv4Into(group, quad, 0);
      if (why !== undefined) return `embedded IPv4 ${quoteInput(group)}: ${why}`;
      values.push((quad[0]! << 8) | quad[1]!, (quad[2]! << 8) | quad[3]!);
      continue;
    }
    if (group.includes(".")) return "embedded IPv4 address must come last";
    const value = parseGroup(group, i + 1);
    if (typeof value === "string") return value;
    values.push(value);
  }

  if (gap === -1 && values.length < 8) return `too few groups (${values.length}, want 8)`;
  if (gap === -1 && values.length > 8) return `too many groups (${values.length}, want 8)`;
  // "::" stands for at least one zero group (RFC 4291 2.2), so at most 7 may be written.
  if (gap !== -1 && values.length > 7) return `too many groups (${values.length} and '::')`;

  // An embedded IPv4 tail is always after the "::", so the head holds plain groups only.
  const headValues = gap === -1 ? values.length : headCount;
  const out = new Uint8Array(16);
  for (let i = 0; i < values.length; i++) {
    // Values after the "::" are right-aligned: they end at byte 16.
    const slot = i < headValues ? i : 8 - (values.length - i);
    out[slot * 2] = values[i]! >> 8;
    out[slot * 2 + 1] = values[i]! & 0xff;
  }
  return out;
}

/**
 * Parses an IPv4 ("10.0.0.1") or IPv6 ("fd00::1", "::ffff:10.0.0.1") address into 4 or 16
 * bytes: 4 for dotted-quad text, 16 for anything with a ':' (IPv4-mapped included, as in Go's
 * netip, so "::ffff:10.0.0.1/128" is an IPv6 allowed IP, as it is for wg).
 *
 * Throws a TypeError naming what is wrong, as `${context}: ${reason}`; `context` defaults to
 * `IP address '<text>'`, and callers parsing a larger string (a CIDR, an endpoint) pass their
 * own so the message quotes what the user wrote.
 */
export function parseIp(text: string, context = `IP address ${quoteInput(text)}`): Uint8Array {
  let result: Uint8Array | string;
  if (text === "") {
    result = "empty";
  } else if (text.includes(":")) {
    result = parseIpv6(text);
  } else {
    const out = new Uint8Array(4);
    result = parseIpv4Into(text, out, 0) ?? out;
  }
  if (typeof result === "string") throw new TypeError(`${context}: ${result}`);
  return result;
}

/**
 * Formats 4 bytes as dotted-quad and 16 bytes as RFC 5952 canonical IPv6: lowercase, no
 * leading zeros, the longest run of two or more zero groups (the first, on a tie) as "::",
 * and IPv4-mapped addresses as "::ffff:a.b.c.d". Throws a TypeError for any other length.
 */
export function formatIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
  if (bytes.length !== 16) {
    throw new TypeError(`formatIp: an address is 4 or 16 bytes, got ${bytes.length}`);
  }
  let mapped = bytes[10] === 0xff && bytes[11] === 0xff;
  for (let i = 0; i < 10 && mapped; i++) mapped = bytes[i] === 0;
  if (mapped) return `::ffff:${formatIp(bytes.subarray(12, 16))}`;

  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push((bytes[i * 2]! << 8) | bytes[i * 2 + 1]!);
  // RFC 5952 4.2: compress the longest zero run, the first if tied, never a single group.
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let end = i;
    while (end < 8 && groups[end] === 0) end++;
    if (end - i > bestLen) {
      bestStart = i;
      bestLen = end - i;
    }
    i = end;
  }
  const hex = (from: number, to: number) =>
    groups
      .slice(from, to)
      .map((g) => g.toString(16))
      .join(":");
  if (bestStart === -1) return hex(0, 8);
  return `${hex(0, bestStart)}::${hex(bestStart + bestLen, 8)}`;
}
