// The relay's UDP bridge (DESIGN §4, issue 6): SEND_UDP frames become UDP datagrams to stock
// WireGuard hosts, and their answers come back as RECV_UDP. One node:dgram socket per
// (client, endpoint), so a host sees each browser as its own source port and answers reach
// only the client that sent. Only endpoints that the client's token (`udp`) or the relay's own
// `--allow-udp` list names are reachable: the bridge is never an open UDP proxy. Sockets close
// after an idle time and with their client; their number is bounded per client and in total.

import { createSocket, type RemoteInfo, type Socket } from "node:dgram";
import { isIPv4 } from "node:net";
import type { RelayEndpoint } from "../../worker/relay/frames.ts";
import { parseCidr } from "../../worker/wireguard/allowed-ips.ts";
import { type Clock, systemClock, type TimerHandle } from "../../worker/wireguard/clock.ts";
import { formatIp, parseIp, quoteInput } from "../../worker/wireguard/ip-address.ts";
import type { UdpBridgeClient, UdpBridgeHook } from "./udp-bridge-hook.ts";

/** Endpoints a client may reach: an address prefix and an inclusive port range. */
export interface UdpAllowance {
  /** 4 or 16 bytes, host bits cleared. */
  addr: Uint8Array;
  bits: number;
  portLo: number;
  portHi: number;
}

/** Options of a UdpBridge. */
export interface UdpBridgeOptions {
  /** The relay's own allow-list (`--allow-udp`), in parseUdpAllowance's forms. */
  allow?: string[];
  /** A socket unused this long (no datagram either way) is closed. Default 60 s. */
  idleMs?: number;
  /** Sockets one client may hold (default 16), and all clients together (default 4096). */
  maxSocketsPerClient?: number;
  maxSockets?: number;
  clock?: Clock;
}

/** Why a send was refused. */
export type RefusalReason = "notAllowed" | "clientLimit" | "totalLimit" | "invalid" | "closed";

/** Counters and the sockets gauge, for /metrics. */
export interface UdpBridgeStats {
  /** Open sockets now (a gauge). */
  sockets: number;
  socketsOpened: number;
  socketsClosedIdle: number;
  sent: number;
  sentBytes: number;
  received: number;
  receivedBytes: number;
  /** Refused sends by reason. */
  refused: Record<RefusalReason, number>;
  /** Datagrams from a source other than the socket's endpoint, dropped. */
  foreignDropped: number;
  /** Token `udp` entries that did not parse (ignored). */
  badAllowances: number;
  sendErrors: number;
  socketErrors: number;
}

const PORT = /^[0-9]{1,5}$/;
/** The largest UDP payload over IPv4 (65535 - 20 - 8). */
const MAX_UDP4_PAYLOAD = 65507;
const MAX_UDP6_PAYLOAD = 65527;

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

function isMapped(a: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (a[i] !== 0) return false;
  return a[10] === 0xff && a[11] === 0xff;
}

/** The endpoint's address as 4 bytes (IPv4, mapped or not) or 16 (IPv6). */
function unmap(address: Uint8Array): Uint8Array {
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

interface Entry {
  socket: Socket;
  endpoint: RelayEndpoint;
  host: string;
  port: number;
  lastUsed: number;
  deliver: (endpoint: RelayEndpoint, packet: Uint8Array) => void;
}

interface ClientState {
  allowed: string[];
  allowances: UdpAllowance[];
  sockets: Map<string, Entry>;
}

/** The UDP bridge: the relay server calls send() for each SEND_UDP it accepts. */
export class UdpBridge implements UdpBridgeHook {
  /** Counters and the sockets gauge. */
  readonly stats: UdpBridgeStats = {
    sockets: 0,
    socketsOpened: 0,
    socketsClosedIdle: 0,
    sent: 0,
    sentBytes: 0,
    received: 0,
    receivedBytes: 0,
    refused: { notAllowed: 0, clientLimit: 0, totalLimit: 0, invalid: 0, closed: 0 },
    foreignDropped: 0,
    badAllowances: 0,
    sendErrors: 0,
    socketErrors: 0,
  };

  private readonly allow: UdpAllowance[];
  private readonly idleMs: number;
  private readonly perClient: number;
  private readonly total: number;
  private readonly clock: Clock;
  private readonly clients = new Map<number, ClientState>();
  private sweeper: TimerHandle | undefined;
  private closed = false;

  /** Throws a TypeError when an `allow` entry does not parse (a configuration error). */
  constructor(options: UdpBridgeOptions = {}) {
    this.allow = (options.allow ?? []).map(parseUdpAllowance);
    this.idleMs = options.idleMs ?? 60_000;
    this.perClient = options.maxSocketsPerClient ?? 16;
    this.total = options.maxSockets ?? 4096;
    this.clock = options.clock ?? systemClock;
  }

  /** Whether the client may reach `endpoint` (its token's allowances or the relay's list). */
  permits(client: UdpBridgeClient, endpoint: RelayEndpoint): boolean {
    const addr = unmap(endpoint.address);
    const check = (a: UdpAllowance) => allows(a, addr, endpoint.port);
    return this.allow.some(check) || this.stateOf(client).allowances.some(check);
  }

  /**
   * Sends `packet` to `endpoint` from the client's socket for it (opened on first use);
   * answers from exactly that endpoint go to `deliver`. Returns false, counting the reason,
   * when the endpoint is not allowed, a socket limit is reached, or the bridge is closed.
   */
  send(
    client: UdpBridgeClient,
    endpoint: RelayEndpoint,
    packet: Uint8Array,
    deliver: (endpoint: RelayEndpoint, packet: Uint8Array) => void,
  ): boolean {
    if (this.closed) return this.refuse("closed");
    if (endpoint.address.length !== 16 || endpoint.port < 1 || endpoint.port > 65535) {
      return this.refuse("invalid");
    }
    if (!this.permits(client, endpoint)) return this.refuse("notAllowed");
    const addr = unmap(endpoint.address);
    if (packet.length > (addr.length === 4 ? MAX_UDP4_PAYLOAD : MAX_UDP6_PAYLOAD)) {
      return this.refuse("invalid");
    }
    const state = this.stateOf(client);
    const host = formatIp(addr);
    const key = `${host}|${endpoint.port}`;
    let entry = state.sockets.get(key);
    if (entry === undefined) {
      if (state.sockets.size >= this.perClient) return this.refuse("clientLimit");
      if (this.stats.sockets >= this.total) return this.refuse("totalLimit");
      entry = this.openSocket(state, key, endpoint, host, addr.length === 4);
    }
    entry.deliver = deliver;
    entry.lastUsed = this.clock.now();
    try {
      entry.socket.send(Buffer.from(packet), entry.port, entry.host, this.afterSend);
      this.stats.sentBytes += packet.length;
      return true;
    } catch {
      this.stats.sendErrors++;
      return false;
    }
  }

  /** Open sockets now (the gauge). */
  sockets(): number {
    return this.stats.sockets;
  }

  /** Closes the client's sockets and forgets its allowances. */
  closeClient(id: number): void {
    const state = this.clients.get(id);
    if (state === undefined) return;
    this.clients.delete(id);
    for (const entry of state.sockets.values()) this.closeEntry(entry);
    state.sockets.clear();
  }

  /** Closes every socket; later sends are refused. */
  close(): void {
    this.closed = true;
    for (const id of [...this.clients.keys()]) this.closeClient(id);
    this.sweeper?.cancel();
    this.sweeper = undefined;
  }

  private refuse(reason: RefusalReason): false {
    this.stats.refused[reason]++;
    return false;
  }

  private stateOf(client: UdpBridgeClient): ClientState {
    let state = this.clients.get(client.id);
    if (state === undefined || state.allowed !== client.allowed) {
      const allowances: UdpAllowance[] = [];
      for (const text of client.allowed) {
        try {
          allowances.push(parseUdpAllowance(text));
        } catch {
          this.stats.badAllowances++;
        }
      }
      state = { allowed: client.allowed, allowances, sockets: state?.sockets ?? new Map() };
      this.clients.set(client.id, state);
    }
    return state;
  }

  private openSocket(
    state: ClientState,
    key: string,
    endpoint: RelayEndpoint,
    host: string,
    v4: boolean,
  ): Entry {
    const socket = createSocket({ type: v4 ? "udp4" : "udp6", lookup: literalLookup });
    const entry: Entry = {
      socket,
      endpoint: { address: endpoint.address.slice(), port: endpoint.port },
      host,
      port: endpoint.port,
      lastUsed: this.clock.now(),
      deliver: () => {},
    };
    socket.on("message", (message: Buffer, from: RemoteInfo) => {
      if (from.port !== entry.port || canonical(from.address) !== entry.host) {
        this.stats.foreignDropped++;
        return;
      }
      entry.lastUsed = this.clock.now();
      this.stats.received++;
      this.stats.receivedBytes += message.length;
      try {
        entry.deliver(
          entry.endpoint,
          new Uint8Array(message.buffer, message.byteOffset, message.length),
        );
      } catch {
        this.stats.socketErrors++;
      }
    });
    socket.on("error", () => {
      this.stats.socketErrors++;
    });
    state.sockets.set(key, entry);
    this.stats.sockets++;
    this.stats.socketsOpened++;
    this.scheduleSweep();
    return entry;
  }

  private closeEntry(entry: Entry): void {
    this.stats.sockets--;
    entry.deliver = () => {};
    try {
      entry.socket.close();
    } catch {
      // already closed
    }
  }

  private readonly afterSend = (error: Error | null): void => {
    if (error) this.stats.sendErrors++;
    else this.stats.sent++;
  };

  private scheduleSweep(): void {
    if (this.sweeper !== undefined || this.closed) return;
    this.sweeper = this.clock.setTimer(Math.max(1, this.idleMs / 4), () => {
      this.sweeper = undefined;
      this.sweep();
      if (this.stats.sockets > 0) this.scheduleSweep();
    });
  }

  private sweep(): void {
    const cutoff = this.clock.now() - this.idleMs;
    for (const [id, state] of this.clients) {
      for (const [key, entry] of state.sockets) {
        if (entry.lastUsed > cutoff) continue;
        state.sockets.delete(key);
        this.closeEntry(entry);
        this.stats.socketsClosedIdle++;
      }
      if (state.sockets.size === 0) this.clients.delete(id);
    }
  }
}

/** A source address as the bridge names hosts: IPv4-mapped IPv6 as IPv4, IPv6 canonical. */
function canonical(address: string): string {
  if (isIPv4(address)) return address;
  try {
    return formatIp(unmap(parseIp(address.split("%")[0] ?? "")));
  } catch {
    return address;
  }
}

// dgram's lookup, answered at once: the bridge only ever sends to IP literals.
function literalLookup(
  hostname: string,
  _options: unknown,
  callback: (error: NodeJS.ErrnoException | null, address: string, family: number) => void,
): void {
  callback(null, hostname, isIPv4(hostname) ? 4 : 6);
}
