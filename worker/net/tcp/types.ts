// The TCP stack's public types: what the host supplies, the options, the connection face and
// the counters.

import type { Clock } from "../../wireguard/clock.ts";

export interface TcpHost {
  clock: Clock;
  randomBytes(n: number): Uint8Array;
  /** IP-level MTU of the path (e.g. 1420 for the WireGuard tunnel). */
  mtu: number;
  /** Sends a TCP segment (header+payload, checksum filled) from `source` to `destination` (4- or 16-byte addresses). */
  output(source: Uint8Array, destination: Uint8Array, segment: Uint8Array): void;
}

export interface TcpStackOptions {
  /** Receive buffer per connection in bytes (the largest window advertised); default 4 MiB. */
  receiveWindow?: number;
  /** Send buffer per connection in bytes; default 4 MiB. */
  sendBuffer?: number;
  /** Half-open plus not-yet-accepted connections per listener; default 128. */
  synBacklog?: number;
  /** Maximum segment lifetime; TIME_WAIT lasts 2 * MSL. Default 30 000 ms. */
  mslMs?: number;
  /**
   * ACK in-order data once per task (a microtask after the segments one task delivered) instead
   * of every second segment, up to `MAX_STRETCH_ACK` bytes unacknowledged; default false. What
   * GRO does for a kernel: a relay's BATCH brings ~20 segments at once, and each ACK costs a
   * seal, a relay frame, a UDP datagram and wireguard-go's decrypt and TUN write.
   */
  ackPerTask?: boolean;
}

export interface TcpConnectOptions {
  /** Nagle's algorithm (RFC 896); off by default (interactive SSH). */
  nagle?: boolean;
  /** Idle time before keepalive probes (RFC 1122 §4.2.3.6); off when absent or 0. */
  keepaliveMs?: number;
  /** connect(): give up after this long; default 30 000 ms. */
  timeoutMs?: number;
}

export interface TcpListenOptions {
  nagle?: boolean;
  keepaliveMs?: number;
  /** Overrides the stack's synBacklog for this listener. */
  backlog?: number;
}

export interface TcpConnectionStats {
  segmentsSent: number;
  segmentsReceived: number;
  bytesSent: number;
  bytesReceived: number;
  retransmissions: number;
  fastRetransmits: number;
  /** Tail loss probes sent (RFC 8985 §7). */
  tailProbes: number;
  timeouts: number;
  dupAcks: number;
  outOfOrder: number;
  /** Smoothed RTT (ms), once measured. */
  srtt: number | undefined;
  rto: number;
  cwnd: number;
  ssthresh: number;
  sendMss: number;
}

export interface TcpStackStats {
  /** Connections in the demux table (any state, TIME_WAIT included). */
  connections: number;
  segmentsReceived: number;
  segmentsSent: number;
  retransmissions: number;
  fastRetransmits: number;
  timeouts: number;
  dupAcks: number;
  checksumErrors: number;
  malformed: number;
  droppedSyns: number;
  resetsSent: number;
  resetsReceived: number;
  /** Segments for no connection or listener (answered with RST unless themselves RST). */
  noSocket: number;
  /** New flows to unlistened ports handed to the forwardUnlistened handler. */
  unlistenedAsked: number;
  /** Such flows dropped: too many undecided at once, or no decision in time. */
  unlistenedDropped: number;
}

/** A new inbound flow to a port nothing listens on (TcpStack.forwardUnlistened). */
export interface UnlistenedFlow {
  readonly localAddress: Uint8Array;
  readonly localPort: number;
  readonly remoteAddress: Uint8Array;
  readonly remotePort: number;
}

/**
 * Decides, flow by flow, whether SYNs to ports without a listener are answered (a forwarder
 * that first asks the real service, as Tailscale's netstack forwarder does).
 */
export interface UnlistenedHandler {
  /**
   * Asked once per new flow (retransmitted SYNs wait for this answer): true completes the
   * handshake, false answers RST. A rejection counts as false.
   */
  decide(flow: UnlistenedFlow): Promise<boolean>;
  /** The handshake of a flow decide() accepted completed: the connection is the handler's. */
  accept(connection: TcpConnection, flow: UnlistenedFlow): void;
  /**
   * A flow decide() accepted never reached accept() (the peer reset or vanished, the answer
   * came too late, or the 4-tuple was taken meanwhile): release what decide() set up.
   */
  abandon?(flow: UnlistenedFlow, reason: string): void;
}

/** Options of TcpStack.forwardUnlistened. */
export interface UnlistenedOptions {
  /** Flows awaiting decide() at once; SYNs of new flows beyond are dropped. Default 256. */
  maxPending?: number;
  /** A decision not in after this long drops the flow (the peer's SYN times out). Default 15 000 ms. */
  decideTimeoutMs?: number;
  /** Options of the connections accepted (Nagle, keepalive). */
  connection?: TcpListenOptions;
}

export type TcpState =
  | "SYN_SENT"
  | "SYN_RECEIVED"
  | "ESTABLISHED"
  | "FIN_WAIT_1"
  | "FIN_WAIT_2"
  | "CLOSE_WAIT"
  | "CLOSING"
  | "LAST_ACK"
  | "TIME_WAIT"
  | "CLOSED";

export interface TcpConnection {
  readonly readable: ReadableStream<Uint8Array>;
  readonly writable: WritableStream<Uint8Array>;
  readonly localAddress: Uint8Array;
  readonly localPort: number;
  readonly remoteAddress: Uint8Array;
  readonly remotePort: number;
  readonly state: TcpState;
  /** Resolves when the connection is fully closed (both FINs exchanged and acknowledged; it
   * may linger in TIME_WAIT after); rejects on reset, abort or timeout. */
  readonly closed: Promise<void>;
  /** Sends RST and drops everything. */
  abort(reason?: string): void;
  readonly stats: Readonly<TcpConnectionStats>;
}

/** What a connection needs from its stack. */
export interface StackContext {
  readonly host: TcpHost;
  readonly stats: TcpStackStats;
  readonly receiveWindow: number;
  readonly sendBuffer: number;
  readonly mslMs: number;
  /** TcpStackOptions.ackPerTask. */
  readonly ackPerTask: boolean;
  /** Runs fn with segments that arrive meanwhile queued (no re-entrant processing). */
  run(fn: () => void): void;
}
