// Who may talk to the relay from a browser (the Origin of a WebSocket upgrade) and by which
// name its own plain-text endpoints may be asked for (the Host of /healthz and /metrics).
//
// Origin: a page on any web site can open a WebSocket to a relay on the user's loopback; only
// the Origin header says which site it is. So a browser (one that sends Origin) is accepted
// only from origins the operator listed or, with `corridor serve`, the origins the page itself
// is served at. Non-browser clients send no Origin and are not affected (they authenticate by
// key or token like everyone else).
//
// Host: DNS rebinding points an attacker's name at 127.0.0.1, so that the attacker's page can
// read the relay's answers as same-origin. The Host header still carries the attacker's name,
// so /healthz and /metrics answer only IP literals and the names the relay was given.

import { isIP, isIPv4 } from "node:net";
import { networkInterfaces } from "node:os";

/** Names a loopback page is reached by, besides IP literals. */
export const LOOPBACK_NAMES = ["localhost", "corridor.localhost"] as const;

/**
 * The canonical form of an origin the operator names (`--origin`): scheme, host and port as a
 * browser sends them in `Origin` ("https://example.com", "http://127.0.0.1:8080"). Throws a
 * TypeError naming the problem for anything else (a path, credentials, another scheme).
 */
export function parseOrigin(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new TypeError(`origin '${text}' is not a URL like https://example.com`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new TypeError(`origin '${text}' must start with http:// or https://`);
  }
  if (url.username !== "" || url.password !== "") {
    throw new TypeError(`origin '${text}' must not carry a user name or password`);
  }
  // "https://example.com/" is accepted as written by habit; anything after the slash is not.
  if (url.pathname !== "/" || url.search !== "" || url.hash !== "") {
    throw new TypeError(`origin '${text}' must be scheme://host[:port] only, without a path`);
  }
  return url.origin;
}

/** `host` as it appears in a URL: IPv6 in brackets. */
function urlHost(host: string): string {
  return host.includes(":") ? `[${host}]` : host;
}

/** Whether `host` (an address or "localhost") is this machine's loopback. */
export function isLoopbackHost(host: string): boolean {
  if (host === "localhost") return true;
  if (isIPv4(host)) return host.startsWith("127.");
  return host === "::1" || /^::ffff:127\./i.test(host);
}

/**
 * The origins a page served at `host`:`port` over plain HTTP has: the host itself, and for a
 * loopback host the other loopback spellings (localhost, corridor.localhost, 127.0.0.1,
 * [::1]). An unspecified address (0.0.0.0, ::) is reached at any of the machine's addresses:
 * those of its network interfaces now, and the loopback spellings.
 */
export function pageOrigins(host: string, port: number): string[] {
  const hosts = new Set<string>();
  const loopback = () => {
    for (const name of [...LOOPBACK_NAMES, "127.0.0.1", "::1"]) hosts.add(name);
  };
  if (host === "0.0.0.0" || host === "::") {
    loopback();
    for (const list of Object.values(networkInterfaces())) {
      for (const info of list ?? []) {
        // Link-local IPv6 needs a zone, which an origin cannot carry.
        if (info.family === "IPv6" && info.address.toLowerCase().startsWith("fe80:")) continue;
        if (host === "0.0.0.0" && info.family !== "IPv4") continue;
        hosts.add(info.address);
      }
    }
  } else {
    hosts.add(host);
    if (isLoopbackHost(host)) loopback();
  }
  const origins = new Set<string>();
  for (const h of hosts) {
    try {
      origins.add(new URL(`http://${urlHost(h)}:${port}`).origin);
    } catch {
      // not a usable host name (e.g. an address with a zone): no page origin from it
    }
  }
  return [...origins];
}

/**
 * The host part of a Host header value, lowercased, without port, brackets or a trailing dot;
 * undefined when it is not a plausible host.
 */
export function hostOfHeader(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  let host = value.trim().toLowerCase();
  if (host.startsWith("[")) {
    const close = host.indexOf("]");
    if (close < 0) return undefined;
    const rest = host.slice(close + 1);
    if (rest !== "" && !/^:[0-9]{1,5}$/.test(rest)) return undefined;
    host = host.slice(1, close);
    return isIP(host) === 6 ? host : undefined;
  }
  const colon = host.indexOf(":");
  if (colon >= 0) {
    if (!/^:[0-9]{1,5}$/.test(host.slice(colon))) return undefined;
    host = host.slice(0, colon);
  }
  if (host.endsWith(".")) host = host.slice(0, -1);
  if (host === "" || host.length > 253 || !/^[a-z0-9.-]+$/.test(host)) return undefined;
  return host;
}

/** Decides which Host names the relay's own endpoints answer (DNS rebinding defence). */
export class HostAllowList {
  private readonly names: Set<string>;

  /** `names`: host names besides IP literals and the loopback names (case-insensitive). */
  constructor(names: Iterable<string>) {
    this.names = new Set<string>(LOOPBACK_NAMES);
    for (const name of names) {
      const host = hostOfHeader(name);
      if (host !== undefined && isIP(host) === 0) this.names.add(host);
    }
  }

  /** Whether a request with this Host header value may be answered. */
  allows(header: string | undefined): boolean {
    const host = hostOfHeader(header);
    if (host === undefined) return false;
    return isIP(host) !== 0 || this.names.has(host);
  }
}

/** The host names in a list of origins (so that a page's own name is an allowed Host). */
export function originHosts(origins: Iterable<string>): string[] {
  const out: string[] = [];
  for (const origin of origins) {
    try {
      out.push(new URL(origin).hostname.replace(/^\[(.*)\]$/, "$1"));
    } catch {
      // not an origin: no name from it
    }
  }
  return out;
}
