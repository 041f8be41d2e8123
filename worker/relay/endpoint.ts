// Endpoints of the relay Bind: a node on the relay is "peer:<base64 key>", a stock WireGuard
// host behind the relay's UDP bridge is "ip:port". Canonical keys, so the device can compare
// endpoints by key; the same objects are reused through small bounded caches.

import type { Endpoint } from "../wireguard/bind.ts";
import { formatIp, parseIp, quoteInput } from "../wireguard/ip-address.ts";
import { keyFromBase64, keyToBase64 } from "../wireguard/keys.ts";
import { type RelayEndpoint, toRelayAddress } from "./frames.ts";

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

/**
 * The relay Bind's endpoint objects and the bytes behind them, one per canonical key, so the
 * device compares endpoints by identity and a frame needs no parsing per packet. Bounded.
 */
export class EndpointCache {
  private readonly endpoints = new Map<string, Endpoint>();
  private readonly keys = new Map<string, Uint8Array>();
  private readonly udp = new Map<string, RelayEndpoint>();

  /** parseRelayEndpoint, returning a shared Endpoint object per canonical key. */
  parse(text: string): Endpoint {
    const parsed = parseRelayEndpoint(text);
    return this.endpoints.get(parsed.key) ?? bounded(this.endpoints, parsed.key, parsed);
  }

  /** The 32-byte key of a "peer:" endpoint key, or undefined when it is not one. */
  relayKeyOf(endpointKey: string): Uint8Array | undefined {
    const known = this.keys.get(endpointKey);
    if (known !== undefined) return known;
    try {
      return bounded(this.keys, endpointKey, keyFromBase64(endpointKey.slice(PEER_PREFIX.length)));
    } catch {
      return undefined;
    }
  }

  /** The relay's form of an "ip:port" endpoint, or undefined when it has none. */
  udpOf(to: Endpoint): RelayEndpoint | undefined {
    const known = this.udp.get(to.key);
    if (known !== undefined) return known;
    try {
      const address = toRelayAddress(parseIp(to.host));
      if (!Number.isInteger(to.port) || to.port < 1 || to.port > 65535) return undefined;
      return bounded(this.udp, to.key, { address, port: to.port });
    } catch {
      return undefined;
    }
  }

  /** The endpoint of a RECV's source key. */
  peerSource(key: Uint8Array): Endpoint {
    const b64 = keyToBase64(key);
    const known = this.endpoints.get(PEER_PREFIX + b64);
    return known ?? bounded(this.endpoints, PEER_PREFIX + b64, peerEndpoint(b64));
  }
}
