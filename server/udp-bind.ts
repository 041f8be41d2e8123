// The Bind over UDP (node:dgram): how the engine in Node (agent, CLI, tests) talks to stock
// WireGuard peers. The device sees only worker/wireguard/bind.ts; this file owns the socket,
// the endpoint text form ("1.2.3.4:51820", "[fd00::1]:51820") and host-name resolution.
//
// Copying. dgram.send() does not always hand the bytes to the kernel before it returns: when
// the socket buffer is full (EAGAIN) libuv queues the send and reads the caller's memory
// later. The Bind contract lets the caller reuse its buffer at once, so send() copies the
// packet into a pooled Buffer (one memcpy; Buffer's 8 KiB pool makes packets under 4 KiB
// allocation-free). A synchronous `lookup` avoids dgram's DNS detour (a tick per packet) for
// the IP literals that endpoints always hold.
//
// Receiving. Each datagram arrives in its own Buffer from libuv; the device gets a plain
// Uint8Array view of it (no copy; plain so that `slice()` copies, as it does in the browser)
// and an Endpoint that is the same object for the same source while it stays in a bounded
// cache, so the device can compare endpoints by identity first and by `key` otherwise.

import { createSocket, type RemoteInfo, type Socket } from "node:dgram";
import { lookup as dnsLookup } from "node:dns/promises";
import { isIPv4, isIPv6, SocketAddress } from "node:net";
import type { Bind, Endpoint, ReceiveFn } from "../worker/wireguard/bind.ts";

/** Options of a UdpBind. */
export interface UdpBindOptions {
  /** Local port; 0 (the default) picks an ephemeral port, readable as `localPort`. */
  port?: number;
  /**
   * Local address. The default "0.0.0.0" opens an IPv4 socket, which works everywhere
   * (network namespaces without IPv6 included). An IPv6 address such as "::" opens an IPv6
   * socket that also carries IPv4 (as ::ffff:a.b.c.d) unless `ipv6Only` is set.
   */
  host?: string;
  /** With an IPv6 `host`: refuse IPv4 traffic. Default false (dual stack). */
  ipv6Only?: boolean;
  /** SO_RCVBUF in bytes (the kernel caps it at net.core.rmem_max). Default: the system's. */
  recvBufferSize?: number;
  /** SO_SNDBUF in bytes (capped at net.core.wmem_max). Default: the system's. */
  sendBufferSize?: number;
  /** How many distinct sources keep a reused Endpoint object. Default 4096. */
  endpointCacheSize?: number;
}

/** Counters of a UdpBind; they only grow. */
export interface UdpBindStats {
  /** Datagrams the kernel accepted for sending. */
  sent: number;
  /** Datagrams delivered to the receive function. */
  received: number;
  /** Sends refused (closed, too big, wrong address family) or failed in the kernel. */
  sendErrors: number;
  /** Errors the socket reported outside sends; counted, never thrown. */
  socketErrors: number;
  /** Exceptions thrown by the receive function; caught so they cannot crash the process. */
  receiveErrors: number;
}

/** The largest UDP payload over IPv4: 65535 - 20 (IP header) - 8 (UDP header). */
export const MAX_UDP4_PAYLOAD = 65507;
/** The largest UDP payload over IPv6 without jumbograms: 65535 - 8 (UDP header). */
export const MAX_UDP6_PAYLOAD = 65527;

const DEFAULT_CACHE_SIZE = 4096;
const ZONE = /^[A-Za-z0-9_.-]{1,64}$/;
const PORT = /^[0-9]{1,5}$/;
// A host name as wg-quick would pass it to getaddrinfo: letters, digits, '-', '.', '_'.
// A last label of digits only is a malformed IPv4 address, not a name (RFC 3696 section 2).
const HOST_NAME =
  /^(?=.{1,253}$)[A-Za-z0-9_][A-Za-z0-9_-]{0,62}(\.[A-Za-z0-9_-]{1,63})*(?<!(^|\.)[0-9]+)\.?$/;

function shown(text: string): string {
  return JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}…` : text);
}

/** Splits "host:port" / "[v6]:port" into its parts, or throws a TypeError naming the problem. */
function splitHostPort(text: string): { host: string; bracketed: boolean; port: number } {
  let host: string;
  let portText: string;
  let bracketed = false;
  if (text.startsWith("[")) {
    const close = text.indexOf("]");
    if (close < 0) throw new TypeError(`endpoint ${shown(text)}: '[' without ']'`);
    host = text.slice(1, close);
    const rest = text.slice(close + 1);
    if (rest === "") throw new TypeError(`endpoint ${shown(text)}: missing ":port"`);
    if (!rest.startsWith(":"))
      throw new TypeError(`endpoint ${shown(text)}: expected ':' after ']'`);
    portText = rest.slice(1);
    bracketed = true;
  } else {
    const colon = text.lastIndexOf(":");
    if (colon < 0) throw new TypeError(`endpoint ${shown(text)}: missing ":port"`);
    host = text.slice(0, colon);
    portText = text.slice(colon + 1);
    if (host.includes(":")) {
      throw new TypeError(`endpoint ${shown(text)}: an IPv6 address needs brackets, "[addr]:port"`);
    }
  }
  if (host === "") throw new TypeError(`endpoint ${shown(text)}: missing host`);
  if (!PORT.test(portText)) {
    throw new TypeError(`endpoint ${shown(text)}: port must be a number 1-65535`);
  }
  const port = Number(portText);
  if (port < 1 || port > 65535) {
    throw new TypeError(`endpoint ${shown(text)}: port ${port} is out of range 1-65535`);
  }
  return { host, bracketed, port };
}

/**
 * The canonical text of an IP literal: IPv4 as dotted quad, IPv4-mapped IPv6 as that IPv4
 * address, other IPv6 in RFC 5952 form (as the kernel reports sources) with any "%zone" kept.
 * Undefined if `host` is not an IP literal.
 */
function canonicalIp(host: string): string | undefined {
  if (isIPv4(host)) return host;
  const percent = host.indexOf("%");
  const address = percent < 0 ? host : host.slice(0, percent);
  const zone = percent < 0 ? "" : host.slice(percent + 1);
  if (!isIPv6(address) || (percent >= 0 && !ZONE.test(zone))) return undefined;
  const text = new SocketAddress({ address, family: "ipv6" }).address;
  if (text.startsWith("::ffff:") && isIPv4(text.slice(7))) return text.slice(7);
  return zone === "" ? text : `${text}%${zone}`;
}

function makeEndpoint(host: string, port: number): Endpoint {
  const key = host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
  return Object.freeze({ key, host, port });
}

/**
 * Parses "1.2.3.4:51820" or "[fd00::1]:51820" into an Endpoint whose `key` is canonical
 * (so equal addresses give equal keys). IPv4-mapped IPv6 becomes the IPv4 endpoint. Throws a
 * TypeError saying what is wrong: no port, a port out of 1-65535, IPv6 without brackets, or
 * a host name (those are resolved with resolveEndpoint() first, never here).
 */
export function parseUdpEndpoint(text: string): Endpoint {
  if (typeof text !== "string") throw new TypeError("endpoint: expected a string");
  const { host, bracketed, port } = splitHostPort(text);
  const ip = canonicalIp(host);
  if (ip === undefined) {
    if (!bracketed && HOST_NAME.test(host)) {
      throw new TypeError(
        `endpoint ${shown(text)}: ${shown(host)} is a host name; resolve it first ` +
          "(resolveEndpoint), parseEndpoint takes only IP addresses",
      );
    }
    throw new TypeError(`endpoint ${shown(text)}: ${shown(host)} is not an IP address`);
  }
  if (bracketed && !ip.includes(":") && !host.includes(":")) {
    throw new TypeError(`endpoint ${shown(text)}: brackets are for IPv6 addresses only`);
  }
  return makeEndpoint(ip, port);
}

/** Options of resolveEndpoint. */
export interface ResolveOptions {
  /** Only addresses of this family. Default: IPv4 preferred, else IPv6 (as wireguard-go). */
  family?: 4 | 6;
}

/**
 * Like parseUdpEndpoint, but a host name (a wg-quick `Endpoint = vpn.example.com:51820`) is
 * resolved with the system resolver (dns.lookup, as getaddrinfo). Rejects with a TypeError
 * for malformed text and an Error naming the host when it does not resolve.
 */
export async function resolveEndpoint(
  text: string,
  options: ResolveOptions = {},
): Promise<Endpoint> {
  const { host, bracketed, port } = splitHostPort(text);
  if (bracketed || canonicalIp(host) !== undefined) return parseUdpEndpoint(text);
  if (!HOST_NAME.test(host)) {
    throw new TypeError(`endpoint ${shown(text)}: ${shown(host)} is neither an IP nor a host name`);
  }
  let addresses: { address: string; family: number }[];
  try {
    addresses = await dnsLookup(host, { all: true, family: options.family ?? 0 });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? String(error);
    throw new Error(`endpoint ${shown(text)}: cannot resolve ${shown(host)} (${code})`);
  }
  const chosen = addresses.find((a) => a.family === 4) ?? addresses[0];
  if (chosen === undefined)
    throw new Error(`endpoint ${shown(text)}: ${shown(host)} has no address`);
  const ip = canonicalIp(chosen.address);
  if (ip === undefined) throw new Error(`endpoint ${shown(text)}: resolver gave ${chosen.address}`);
  return makeEndpoint(ip, port);
}

/** A Bind over one UDP socket (node:dgram). */
export class UdpBind implements Bind {
  /** Counters: sends, receives and errors. */
  readonly stats: UdpBindStats = {
    sent: 0,
    received: 0,
    sendErrors: 0,
    socketErrors: 0,
    receiveErrors: 0,
  };
  /** The last socket error, for diagnostics (errors are counted, never thrown). */
  lastError: Error | undefined;

  private readonly family: 4 | 6;
  private readonly options: UdpBindOptions;
  private readonly cacheSize: number;
  private readonly endpoints = new Map<string, Endpoint>();
  private socket: Socket | undefined;
  private onReceive: ReceiveFn | undefined;
  private state: "new" | "opening" | "open" | "closed" = "new";
  private port = 0;
  private abortOpen: ((error: Error) => void) | undefined;
  private interceptors: ((packet: Uint8Array, from: Endpoint) => boolean)[] = [];

  constructor(options: UdpBindOptions = {}) {
    const host = options.host ?? "0.0.0.0";
    if (canonicalIp(host) === undefined) {
      throw new TypeError(`UdpBind: host ${shown(host)} must be an IP address`);
    }
    const port = options.port ?? 0;
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      throw new TypeError(`UdpBind: port ${port} is out of range 0-65535`);
    }
    this.family = isIPv4(host) ? 4 : 6;
    this.options = { ...options, host, port };
    this.cacheSize = Math.max(1, options.endpointCacheSize ?? DEFAULT_CACHE_SIZE);
  }

  /** The bound local port once open() has resolved; 0 before. */
  get localPort(): number {
    return this.port;
  }

  /** Binds the socket and starts delivering datagrams to `onReceive`. Call once. */
  open(onReceive: ReceiveFn): Promise<void> {
    if (this.state !== "new") {
      return Promise.reject(new Error(`UdpBind: open() on a bind that is ${this.state}`));
    }
    this.state = "opening";
    this.onReceive = onReceive;
    const socket = createSocket({
      type: this.family === 4 ? "udp4" : "udp6",
      ipv6Only: this.options.ipv6Only ?? false,
      lookup: this.lookup,
    });
    this.socket = socket;
    return new Promise<void>((resolve, reject) => {
      const failed = (error: Error) => {
        this.abortOpen = undefined;
        this.state = "closed";
        this.socket = undefined;
        try {
          socket.close();
        } catch {
          // already closed
        }
        const where = `${this.options.host}:${this.options.port}`;
        reject(new Error(`UdpBind: cannot bind ${where}: ${error.message}`));
      };
      this.abortOpen = (error) => {
        this.abortOpen = undefined;
        reject(error);
      };
      socket.once("error", failed);
      socket.bind({ port: this.options.port, address: this.options.host, exclusive: true }, () => {
        socket.off("error", failed);
        if (this.abortOpen === undefined) return; // closed while binding
        this.abortOpen = undefined;
        socket.on("error", this.onSocketError);
        socket.on("message", this.onMessage);
        try {
          const { recvBufferSize, sendBufferSize } = this.options;
          if (recvBufferSize !== undefined) socket.setRecvBufferSize(recvBufferSize);
          if (sendBufferSize !== undefined) socket.setSendBufferSize(sendBufferSize);
        } catch (error) {
          this.onSocketError(error as Error);
        }
        this.port = socket.address().port;
        this.state = "open";
        resolve();
      });
    });
  }

  /**
   * Sends one datagram (copied, so the caller may reuse `packet` at once). Returns false,
   * counting a send error, when the bind is not open, the packet is too big for UDP, or the
   * endpoint's family cannot be reached from this socket; later kernel errors are counted.
   */
  send(packet: Uint8Array, to: Endpoint): boolean {
    const socket = this.socket;
    if (this.state !== "open" || socket === undefined) return this.refuse();
    const v6 = to.host.includes(":");
    if (v6 && this.family === 4) return this.refuse();
    if (packet.length > (this.family === 4 || !v6 ? MAX_UDP4_PAYLOAD : MAX_UDP6_PAYLOAD)) {
      return this.refuse();
    }
    try {
      socket.send(Buffer.from(packet), to.port, to.host, this.afterSend);
      return true;
    } catch {
      return this.refuse();
    }
  }

  /**
   * Lets `fn` see each received datagram before the receive function; when it returns true the
   * datagram is consumed (STUN answers on WireGuard's own socket, server/agent/stun-client.ts:
   * the mapped port must be this socket's). Returns a function that removes `fn`.
   */
  intercept(fn: (packet: Uint8Array, from: Endpoint) => boolean): () => void {
    this.interceptors = [...this.interceptors, fn];
    return () => {
      this.interceptors = this.interceptors.filter((f) => f !== fn);
    };
  }

  /** parseUdpEndpoint, returning this bind's shared Endpoint object for the address. */
  parseEndpoint(text: string): Endpoint {
    const parsed = parseUdpEndpoint(text);
    const known = this.endpoints.get(parsed.key);
    if (known !== undefined) return known;
    this.remember(parsed.key, parsed);
    return parsed;
  }

  /** Stops delivery at once and closes the socket. Safe to call more than once. */
  close(): Promise<void> {
    const socket = this.socket;
    this.state = "closed";
    this.socket = undefined;
    this.onReceive = undefined;
    this.endpoints.clear();
    this.abortOpen?.(new Error("UdpBind: closed while opening"));
    if (socket === undefined) return Promise.resolve();
    socket.off("message", this.onMessage);
    return new Promise<void>((resolve) => {
      try {
        socket.close(() => resolve());
      } catch {
        resolve(); // already closed
      }
    });
  }

  private refuse(): false {
    this.stats.sendErrors++;
    return false;
  }

  private readonly afterSend = (error: Error | null): void => {
    if (error) {
      this.stats.sendErrors++;
      this.lastError = error;
    } else {
      this.stats.sent++;
    }
  };

  private readonly onSocketError = (error: Error): void => {
    this.stats.socketErrors++;
    this.lastError = error;
  };

  private readonly onMessage = (message: Buffer, from: RemoteInfo): void => {
    const onReceive = this.onReceive;
    if (onReceive === undefined) return;
    const view = new Uint8Array(message.buffer, message.byteOffset, message.byteLength);
    const endpoint = this.sourceEndpoint(from.address, from.port);
    try {
      for (const fn of this.interceptors) if (fn(view, endpoint)) return;
    } catch (error) {
      this.stats.receiveErrors++;
      this.lastError = error as Error;
      return;
    }
    this.stats.received++;
    try {
      onReceive(view, endpoint);
    } catch (error) {
      this.stats.receiveErrors++;
      this.lastError = error as Error;
    }
  };

  /** The shared Endpoint for a source as the kernel names it (cached under that raw text). */
  private sourceEndpoint(address: string, port: number): Endpoint {
    const raw = `${address}:${port}`;
    const cached = this.endpoints.get(raw);
    if (cached !== undefined) return cached;
    const endpoint = makeEndpoint(canonicalIp(address) ?? address, port);
    const shared = this.endpoints.get(endpoint.key) ?? endpoint;
    if (shared === endpoint) this.remember(endpoint.key, endpoint);
    if (raw !== endpoint.key) this.remember(raw, shared);
    return shared;
  }

  private remember(key: string, endpoint: Endpoint): void {
    if (this.endpoints.size >= this.cacheSize) {
      const oldest = this.endpoints.keys().next();
      if (oldest.done !== true) this.endpoints.delete(oldest.value);
    }
    this.endpoints.set(key, endpoint);
  }

  // dgram's address lookup, answered synchronously: endpoint hosts are IP literals, so no DNS
  // (and no extra tick) is needed. IPv4 destinations on an IPv6 socket become ::ffff:a.b.c.d.
  private readonly lookup = (
    hostname: string,
    _options: unknown,
    callback: (error: NodeJS.ErrnoException | null, address: string, family: number) => void,
  ): void => {
    if (this.family === 6 && isIPv4(hostname)) {
      callback(null, `::ffff:${hostname}`, 6);
    } else if (isIPv4(hostname) || isIPv6(hostname.split("%")[0] ?? "")) {
      callback(null, hostname, this.family);
    } else {
      const error: NodeJS.ErrnoException = new Error(`not an IP address: ${hostname}`);
      error.code = "EINVAL";
      callback(error, "", 0);
    }
  };
}
