// What a relay URL says beyond where to connect: the relay's pinned static key (`#key=` in
// the URL's fragment, or given apart, e.g. from the control server's relay map) and whether
// the connection crosses a network unencrypted (ws:// to a host that is not loopback).
//
// Why pin: the hello proof is keyed with X25519(node private, relay public) where the relay's
// public key comes from SERVER_HELLO. Unpinned, a client proves its key to whatever key it is
// shown, so a hostile relay (or a machine in the middle) can show another relay's key and
// challenge and pass the client's proof on to it: it is then that node on the other relay
// (receives its traffic, replaces its session there). Pinned, the client refuses any other key,
// and its proof is good only at the pinned relay: the one it meant to reach.

import { parseIp } from "../wireguard/ip-address.ts";
import { keyFromBase64, keyToBase64 } from "../wireguard/keys.ts";

/** The path a relay serves its WebSocket on (server/relay/relay-gate.ts's RELAY_PATH). */
export const RELAY_URL_PATH = "/relay";

/**
 * The URL to open for `url` (no fragment): a base URL (no path, or "/") gets RELAY_URL_PATH;
 * a path ending in it (behind a proxy: /corridor/relay) is kept. Any other path throws at once
 * naming the expected form: the relay would answer 404 to every attempt.
 */
function withRelayPath(url: string, pathname: string): string {
  if (pathname === RELAY_URL_PATH || pathname.endsWith(RELAY_URL_PATH)) return url;
  if (pathname === "/" || pathname === "") {
    const query = url.indexOf("?");
    const head = query < 0 ? url : url.slice(0, query);
    const tail = query < 0 ? "" : url.slice(query);
    return `${head.replace(/\/$/, "")}${RELAY_URL_PATH}${tail}`;
  }
  throw new Error(
    `relay URL ${url}: the path ${pathname} is not a relay's; expected ws://HOST:PORT${RELAY_URL_PATH} ` +
      "(or the base URL ws://HOST:PORT, to which /relay is added)",
  );
}

/** A relay URL taken apart. */
export interface RelayTarget {
  /**
   * The URL to open: the given one without its fragment (WebSockets refuse fragments), with
   * /relay added to a base URL.
   */
  url: string;
  /** The relay's X25519 public key the client insists on, when one is known. */
  pinnedKey: Uint8Array | undefined;
  /** Set when the connection is unencrypted over a network (ws:// to a non-loopback host). */
  warning: string | undefined;
}

/** The `#key=` form of a relay URL: `url` (without fragment) with `key` pinned. */
export function pinnedRelayUrl(url: string, key: Uint8Array): string {
  const hash = url.indexOf("#");
  const base = hash < 0 ? url : url.slice(0, hash);
  return `${base}#key=${encodeURIComponent(keyToBase64(key))}`;
}

/** Whether two keys are the same bytes (public keys: no need for constant time). */
export function sameKey(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

/** Decodes the fragment's key: standard or URL-safe base64, percent-encoded or not. */
function fragmentKey(fragment: string, url: string): Uint8Array {
  const match = /^key=([A-Za-z0-9+/=_%-]+)$/.exec(fragment);
  if (match === null) {
    throw new Error(
      `relay URL ${url}: the part after # must be key=<the relay's public key>, nothing else`,
    );
  }
  let text: string;
  try {
    text = decodeURIComponent(match[1]!);
  } catch {
    throw new Error(`relay URL ${url}: the key after #key= is badly percent-encoded`);
  }
  text = text.replace(/-/g, "+").replace(/_/g, "/");
  if (text.length === 43) text += "=";
  return keyFromBase64(text, `relay URL ${url}: #key=`);
}

/** True for names and addresses that never leave the machine. */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[(.*)\]$/, "$1").toLowerCase();
  if (host === "localhost" || host.endsWith(".localhost")) return true;
  let ip: Uint8Array;
  try {
    ip = parseIp(host);
  } catch {
    return false;
  }
  if (ip.length === 4) return ip[0] === 127;
  const mapped = ip.subarray(0, 10).every((b) => b === 0) && ip[10] === 0xff && ip[11] === 0xff;
  if (mapped) return ip[12] === 127;
  return ip.subarray(0, 15).every((b) => b === 0) && ip[15] === 1;
}

/**
 * Takes a relay URL apart. `pinnedKey` (32 bytes) pins the relay's key when the URL has no
 * `#key=`; when both are given they must agree. A base URL (ws://HOST:PORT) means its /relay.
 * Throws an Error naming the URL when the URL is not ws:// or wss://, its path is another
 * than /relay, its fragment is not `key=<base64 key>`, or the two pins differ.
 */
export function parseRelayTarget(text: string, pinnedKey?: Uint8Array): RelayTarget {
  let parsed: URL;
  try {
    parsed = new URL(text);
  } catch {
    throw new Error(`relay URL ${JSON.stringify(text)} is not a URL`);
  }
  if (parsed.protocol !== "ws:" && parsed.protocol !== "wss:") {
    throw new Error(`relay URL ${JSON.stringify(text)} is not ws:// or wss://`);
  }
  const hash = text.indexOf("#");
  const url = withRelayPath(hash < 0 ? text : text.slice(0, hash), parsed.pathname);
  let key = pinnedKey;
  if (key !== undefined && key.length !== 32) {
    throw new Error(`relay ${url}: a pinned relay key is 32 bytes, got ${key.length}`);
  }
  if (hash >= 0) {
    const fromUrl = fragmentKey(text.slice(hash + 1), url);
    if (key !== undefined && !sameKey(key, fromUrl)) {
      throw new Error(
        `relay ${url}: the URL pins key ${keyToBase64(fromUrl)}, the configuration ${keyToBase64(key)}`,
      );
    }
    key = fromUrl;
  }
  let warning: string | undefined;
  if (parsed.protocol === "ws:" && !isLoopbackHost(parsed.hostname)) {
    warning =
      `relay ${url} is reached over unencrypted ws://: anyone on the way can read the relay ` +
      "token and watch, delay, drop or take over this relay connection (WireGuard still " +
      `encrypts the packets inside it); use wss://${url.slice("ws://".length)}` +
      (key === undefined ? ", and pin the relay's key with #key=" : "");
  }
  return { url, pinnedKey: key === undefined ? undefined : key.slice(), warning };
}
