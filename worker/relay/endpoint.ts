// Endpoints of the relay Bind: a node on the relay is "peer:<base64 key>", a stock WireGuard
// host behind the relay's UDP bridge is "ip:port". Canonical keys, so the device can compare
// endpoints by key; the same objects are reused through small bounded caches.

import type { Endpoint } from "../wireguard/bind.ts";
import { formatIp, parseIp, quoteInput } from "../wireguard/ip-address.ts";
import { keyFromBase64, keyToBase64 } from "../wireguard/keys.ts";

export const PEER_PREFIX = "peer:";
export const CACHE_LIMIT = 4096;

export function bounded<V>(map: Map<string, V>, key: string, value: V): V {
  if (map.size >= CACHE_LIMIT) map.clear();
  map.set(key, value);
  return value;
}

export function peerEndpoint(b64: string): Endpoint {
  const key = PEER_PREFIX + b64;
  return Object.freeze({ key, host: key, port: 0 });
}

export function udpEndpoint(address: Uint8Array, port: number): Endpoint {
  const mapped = address.length === 16 && isMapped(address);
  const host = formatIp(mapped ? address.subarray(12) : address);
  const key = host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
  return Object.freeze({ key, host, port });
}

function isMapped(a: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (a[i] !== 0) return false;
  return a[10] === 0xff && a[11] === 0xff;
}

/**
 * Parses a relay endpoint: "peer:<44-character base64 key>" (a node on the relay), or
 * "1.2.3.4:51820" / "[fd00::1]:51820" (a stock WireGuard host through the UDP bridge). The
 * result's `key` is canonical. Throws a TypeError naming what is wrong.
 */
export function parseRelayEndpoint(text: string): Endpoint {
  if (typeof text !== "string") throw new TypeError("relay endpoint: expected a string");
  const what = `relay endpoint ${quoteInput(text)}`;
  if (text.startsWith(PEER_PREFIX)) {
    const b64 = text.slice(PEER_PREFIX.length);
    if (b64 !== b64.trim()) throw new TypeError(`${what}: whitespace around the key`);
    return peerEndpoint(keyToBase64(keyFromBase64(b64, `${what}: peer key`)));
  }
  let host: string;
  let portText: string;
  if (text.startsWith("[")) {
    const close = text.indexOf("]");
    if (close < 0) throw new TypeError(`${what}: '[' without ']'`);
    if (text[close + 1] !== ":") throw new TypeError(`${what}: missing ":port" after ']'`);
    host = text.slice(1, close);
    portText = text.slice(close + 2);
    if (!host.includes(":")) throw new TypeError(`${what}: brackets are for IPv6 addresses only`);
  } else {
    const colon = text.lastIndexOf(":");
    if (colon < 0) throw new TypeError(`${what}: expected "peer:<key>" or "ip:port"`);
    host = text.slice(0, colon);
    portText = text.slice(colon + 1);
    if (host.includes(":")) {
      throw new TypeError(`${what}: an IPv6 address needs brackets, "[addr]:port"`);
    }
  }
  if (!/^[0-9]{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) {
    throw new TypeError(`${what}: port must be a number 1-65535`);
  }
  const address = parseIp(host, `${what}: host`);
  return udpEndpoint(address, Number(portText));
}
