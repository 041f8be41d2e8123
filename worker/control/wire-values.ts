// Checks of the map stream's text-encoded values (keys, addresses, endpoints, prefixes, URLs,
// relay tokens), each returning why a value is wrong or undefined when it is fine. The codec's
// schemas call them; they reuse the engine's own strict parsers so that what the codec accepts
// is exactly what the engine can use later.

import { parseCidr } from "../wireguard/allowed-ips.ts";
import { parseIp } from "../wireguard/ip-address.ts";
import { KEY_BASE64_LENGTH, keyFromBase64 } from "../wireguard/keys.ts";

/** Why `text` is not the standard base64 of exactly 32 bytes (a key, a challenge, a proof). */
export function key32Reason(text: string): string | undefined {
  // keyFromBase64 forgives surrounding whitespace (lines read from files); the wire does not.
  if (text.length !== KEY_BASE64_LENGTH) {
    return `not base64 of 32 bytes: ${text.length} characters, expected ${KEY_BASE64_LENGTH}`;
  }
  try {
    keyFromBase64(text, "key");
    return undefined;
  } catch (error) {
    return (error as Error).message.replace(/^key: /, "");
  }
}

/** Why `text` is not an IPv4 or IPv6 address. */
export function ipReason(text: string): string | undefined {
  try {
    parseIp(text, "not an IP address");
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

/** Why `text` is not a prefix such as "10.0.0.0/8" or "fd00::/8" (a bare address is /32, /128). */
export function cidrReason(text: string): string | undefined {
  try {
    parseCidr(text, "prefix");
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

/** Why `text` is not a UDP endpoint "1.2.3.4:51820" or "[fd00::1]:51820" (port 1-65535). */
export function endpointReason(text: string): string | undefined {
  let host: string;
  let port: string;
  if (text.startsWith("[")) {
    const close = text.indexOf("]");
    if (close < 0 || text[close + 1] !== ":") return 'expected "[IPv6]:port"';
    host = text.slice(1, close);
    port = text.slice(close + 2);
    if (!host.includes(":")) return "brackets are for IPv6 addresses only";
  } else {
    const colon = text.lastIndexOf(":");
    if (colon < 0) return 'expected "ip:port"';
    host = text.slice(0, colon);
    port = text.slice(colon + 1);
    if (host.includes(":")) return 'an IPv6 endpoint needs brackets: "[addr]:port"';
  }
  if (!/^[0-9]{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535) {
    return "port must be a number 1-65535";
  }
  return ipReason(host);
}

/** Why `text` is not an absolute URL with one of `schemes` ("wss:", "https:", ...). */
export function urlReason(text: string, schemes: readonly string[]): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return "not an absolute URL";
  }
  if (!schemes.includes(url.protocol)) {
    return `scheme ${url.protocol} is not ${schemes.join(" or ")}`;
  }
  return undefined;
}

/** A relay token (DESIGN §4): base64url(JSON) "." base64url(signature); "" when none is needed. */
export const RELAY_TOKEN_PATTERN = /^(?:[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)?$/;

/** A mesh name: one DNS label of letters, digits, '-' and '_' (resolved case-insensitively). */
export const MESH_NAME_PATTERN = /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/;

/** The mesh domain: DNS labels joined by dots, no trailing dot. */
export const MESH_DOMAIN_PATTERN =
  /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/** A tag: "tag:" then letters, digits, '-', '_' or '.'. */
export const TAG_PATTERN = /^tag:[A-Za-z0-9_.-]+$/;
