// The relay's UDP bridge (DESIGN §4, issue 6): SEND_UDP frames become UDP datagrams to stock
// WireGuard hosts, and their answers come back as RECV_UDP. One node:dgram socket per
// (client, endpoint), so a host sees each browser as its own source port and answers reach
// only the client that sent. Only endpoints that the client's token (`udp`) or the relay's own
// `--allow-udp` list names are reachable: the bridge is never an open UDP proxy, and a broad
// allowance (0.0.0.0/0) never reaches loopback, unspecified, link-local, multicast or broadcast
// addresses, which only an allowance inside them unlocks (udp-allowance.ts). Sockets close
// after an idle time and with their client; their number is bounded per client, per source
// address (one machine may open many connections) and in total.
// Each socket is connect()ed to its endpoint, so the kernel filters other sources and an ICMP
// port unreachable surfaces as ECONNREFUSED: the client hears it (UDP_ERROR reason 3), as it
// hears a refusal (reasons 0-2), at most once per endpoint every `errorIntervalMs`.

import { type RelayEndpoint, UDP_UNREACHABLE } from "../../worker/relay/frames.ts";
import { type Clock, systemClock, type TimerHandle } from "../../worker/wireguard/clock.ts";
import { formatIp } from "../../worker/wireguard/ip-address.ts";
import {
  allows,
  parseUdpAllowance,
  reaches,
  specialBlockOf,
  type UdpAllowance,
  unmap,
} from "./udp-allowance.ts";
import type { UdpBridgeClient, UdpBridgeHook, UdpErrorFn } from "./udp-bridge-hook.ts";
import { BridgeSocket } from "./udp-bridge-socket.ts";
import { REASON_OF, type RefusalReason, UdpErrorReports } from "./udp-errors.ts";

export { allows, parseUdpAllowance, type UdpAllowance } from "./udp-allowance.ts";
export type { RefusalReason } from "./udp-errors.ts";

/** Options of a UdpBridge. */
export interface UdpBridgeOptions {
  /** The relay's own allow-list (`--allow-udp`), in parseUdpAllowance's forms. */
  allow?: string[];
  /** A socket unused this long (no datagram either way) is closed. Default 60 s. */
  idleMs?: number;
  /**
   * Sockets one client may hold (default 16), all clients from one source address together
   * (default 64), and all clients together (default 4096).
   */
  maxSocketsPerClient?: number;
  maxSocketsPerSource?: number;
  maxSockets?: number;
  /** At most one error report per client and endpoint in this time. Default 5 s. */
  errorIntervalMs?: number;
  clock?: Clock;
}

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
  /** Refused sends by reason ("special": a special address only a broad allowance covers). */
  refused: Record<RefusalReason, number>;
  /** Datagrams from a source other than the socket's endpoint, dropped. */
  foreignDropped: number;
  /** Token `udp` entries that did not parse (ignored). */
  badAllowances: number;
  sendErrors: number;
  socketErrors: number;
  /** ICMP port unreachable seen (ECONNREFUSED on a socket). */
  unreachable: number;
  /** Error reports passed to the client (UDP_ERROR), and those held back by the rate limit. */
  errorsReported: number;
  errorsSuppressed: number;
}

/** The largest UDP payload over IPv4 (65535 - 20 - 8). */
const MAX_UDP4_PAYLOAD = 65507;
const MAX_UDP6_PAYLOAD = 65527;
interface Entry {
  socket: BridgeSocket;
  endpoint: RelayEndpoint;
  source: string | undefined;
  lastUsed: number;
  deliver: (endpoint: RelayEndpoint, packet: Uint8Array) => void;
  error: UdpErrorFn | undefined;
  client: number;
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
    refused: {
      notAllowed: 0,
      special: 0,
      clientLimit: 0,
      sourceLimit: 0,
      totalLimit: 0,
      invalid: 0,
      closed: 0,
    },
    foreignDropped: 0,
    badAllowances: 0,
    sendErrors: 0,
    socketErrors: 0,
    unreachable: 0,
    errorsReported: 0,
    errorsSuppressed: 0,
  };

  private readonly allow: UdpAllowance[];
  private readonly idleMs: number;
  private readonly perClient: number;
  private readonly perSource: number;
  private readonly total: number;
  private readonly errors: UdpErrorReports;
  /** Open sockets per source address group. */
  private readonly bySource = new Map<string, number>();
  private readonly clock: Clock;
  private readonly clients = new Map<number, ClientState>();
  private sweeper: TimerHandle | undefined;
  private closed = false;

  /** Throws a TypeError when an `allow` entry does not parse (a configuration error). */
  constructor(options: UdpBridgeOptions = {}) {
    this.allow = (options.allow ?? []).map(parseUdpAllowance);
    this.idleMs = options.idleMs ?? 60_000;
    this.perClient = options.maxSocketsPerClient ?? 16;
    this.perSource = options.maxSocketsPerSource ?? 64;
    this.total = options.maxSockets ?? 4096;
    this.clock = options.clock ?? systemClock;
    this.errors = new UdpErrorReports(
      options.errorIntervalMs ?? 5_000,
      () => this.clock.now(),
      this.stats,
    );
  }

  /**
   * Whether the client may reach `endpoint` (its token's allowances or the relay's list; a
   * special address only through an allowance inside its block).
   */
  permits(client: UdpBridgeClient, endpoint: RelayEndpoint): boolean {
    const addr = unmap(endpoint.address);
    const check = (a: UdpAllowance) => reaches(a, addr, endpoint.port);
    return this.allow.some(check) || this.stateOf(client).allowances.some(check);
  }

  /** Refused sends so far, by reason (for /metrics). */
  refusals(): Readonly<Record<string, number>> {
    return { ...this.stats.refused };
  }

  /**
   * Sends `packet` to `endpoint` from the client's socket for it (opened on first use);
   * answers from exactly that endpoint go to `deliver`. Returns false, counting the reason,
   * when the endpoint is not allowed, a socket limit is reached, or the bridge is closed; then,
   * and when the endpoint bounces (ICMP port unreachable), `error` hears why (rate-limited).
   */
  send(
    client: UdpBridgeClient,
    endpoint: RelayEndpoint,
    packet: Uint8Array,
    deliver: (endpoint: RelayEndpoint, packet: Uint8Array) => void,
    error?: UdpErrorFn,
  ): boolean {
    if (this.closed) return this.refuse("closed");
    if (endpoint.address.length !== 16 || endpoint.port < 1 || endpoint.port > 65535) {
      return this.refuse("invalid");
    }
    const outcome = this.trySend(client, endpoint, packet, deliver, error);
    if (outcome === true) return true;
    if (outcome === false) return false;
    this.refuse(outcome);
    const code = REASON_OF[outcome];
    if (code !== undefined && error !== undefined) {
      this.errors.report(client.id, endpoint, code, error);
    }
    return false;
  }

  /** send() past the basic checks: true when sent, false on a send error, else the refusal. */
  private trySend(
    client: UdpBridgeClient,
    endpoint: RelayEndpoint,
    packet: Uint8Array,
    deliver: (endpoint: RelayEndpoint, packet: Uint8Array) => void,
    error: UdpErrorFn | undefined,
  ): boolean | RefusalReason {
    if (!this.permits(client, endpoint)) {
      const addr = unmap(endpoint.address);
      const broad = (a: UdpAllowance) => allows(a, addr, endpoint.port);
      const special =
        specialBlockOf(addr) !== undefined &&
        (this.allow.some(broad) || this.stateOf(client).allowances.some(broad));
      return special ? "special" : "notAllowed";
    }
    const addr = unmap(endpoint.address);
    if (packet.length > (addr.length === 4 ? MAX_UDP4_PAYLOAD : MAX_UDP6_PAYLOAD)) {
      return "invalid";
    }
    const state = this.stateOf(client);
    const host = formatIp(addr);
    const key = `${host}|${endpoint.port}`;
    let entry = state.sockets.get(key);
    if (entry === undefined) {
      if (state.sockets.size >= this.perClient) return "clientLimit";
      const source = client.source;
      if (source !== undefined && (this.bySource.get(source) ?? 0) >= this.perSource) {
        return "sourceLimit";
      }
      if (this.stats.sockets >= this.total) return "totalLimit";
      entry = this.openSocket(state, client.id, key, endpoint, host, source);
    }
    entry.deliver = deliver;
    entry.error = error;
    entry.lastUsed = this.clock.now();
    if (!entry.socket.send(Buffer.from(packet))) {
      this.stats.sendErrors++; // still connecting with a full queue, or closed
      return false;
    }
    this.stats.sentBytes += packet.length;
    return true;
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
    this.errors.forget(id);
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
      state = {
        allowed: client.allowed,
        allowances,
        sockets: state?.sockets ?? new Map(),
      };
      this.clients.set(client.id, state);
    }
    return state;
  }

  private openSocket(
    state: ClientState,
    clientId: number,
    key: string,
    endpoint: RelayEndpoint,
    host: string,
    source: string | undefined,
  ): Entry {
    const entry: Entry = {
      endpoint: { address: endpoint.address.slice(), port: endpoint.port },
      source,
      lastUsed: this.clock.now(),
      deliver: () => {},
      error: undefined,
      client: clientId,
      socket: new BridgeSocket(host, endpoint.port, {
        message: (data) => {
          entry.lastUsed = this.clock.now();
          this.stats.received++;
          this.stats.receivedBytes += data.length;
          try {
            entry.deliver(entry.endpoint, data);
          } catch {
            this.stats.socketErrors++;
          }
        },
        foreign: () => this.stats.foreignDropped++,
        unreachable: () => {
          this.stats.unreachable++;
          const report = entry.error;
          if (report !== undefined) {
            this.errors.report(entry.client, entry.endpoint, UDP_UNREACHABLE, report);
          }
        },
        error: () => this.stats.socketErrors++,
        sent: this.afterSend,
      }),
    };
    state.sockets.set(key, entry);
    if (source !== undefined) this.bySource.set(source, (this.bySource.get(source) ?? 0) + 1);
    this.stats.sockets++;
    this.stats.socketsOpened++;
    this.scheduleSweep();
    return entry;
  }

  private closeEntry(entry: Entry): void {
    this.stats.sockets--;
    if (entry.source !== undefined) {
      const left = (this.bySource.get(entry.source) ?? 1) - 1;
      if (left > 0) this.bySource.set(entry.source, left);
      else this.bySource.delete(entry.source);
    }
    entry.deliver = () => {};
    entry.error = undefined;
    entry.socket.close();
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
