// The Bind: how the device sends and receives datagrams (wireguard-go's conn.Bind). UDP in
// Node comes from server/udp-bind.ts, the relay from worker/relay/, tests use MemoryBind.

/**
 * Where a datagram came from or goes to. `key` is a stable string form used for maps and
 * logs (for UDP "ip:port", IPv6 as "[ip]:port"); `host`/`port` are what a transport needs.
 */
export interface Endpoint {
  readonly key: string;
  readonly host: string;
  readonly port: number;
}

/** Receives each datagram with the endpoint it came from. */
export type ReceiveFn = (packet: Uint8Array, from: Endpoint) => void;

/** A datagram transport. */
export interface Bind {
  /** Starts delivering received datagrams to `onReceive`; resolves once it can send. */
  open(onReceive: ReceiveFn): Promise<void>;
  /**
   * Sends one datagram. The bytes may be reused by the caller as soon as this returns, so a
   * Bind that queues must copy. Errors (unreachable, closed) are reported by returning false.
   */
  send(packet: Uint8Array, to: Endpoint): boolean;
  /** Parses "host:port" (IPv6 as "[addr]:port") into an Endpoint; throws a TypeError if bad. */
  parseEndpoint(text: string): Endpoint;
  /** Stops receiving and releases the transport. */
  close(): Promise<void>;
}
