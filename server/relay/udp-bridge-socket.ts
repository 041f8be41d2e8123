// One socket of the UDP bridge: a node:dgram socket connect()ed to its single endpoint. The
// kernel then drops datagrams from any other source, and an ICMP port unreachable for an
// earlier datagram surfaces as ECONNREFUSED (reported as `unreachable`), which an unconnected
// socket never sees. Datagrams sent while connect() is still under way wait in a short queue.

import { createSocket, type RemoteInfo, type Socket } from "node:dgram";
import { isIPv4 } from "node:net";
import { formatIp, parseIp } from "../../worker/wireguard/ip-address.ts";
import { unmap } from "./udp-allowance.ts";

/** What a BridgeSocket tells its owner. */
export interface BridgeSocketEvents {
  /** A datagram from exactly the endpoint. */
  message(data: Uint8Array): void;
  /** A datagram from another source (should not happen once connected): dropped. */
  foreign(): void;
  /** The endpoint answered with ICMP port unreachable. */
  unreachable(): void;
  /** Any other socket error. */
  error(): void;
  /** A send finished (error null when the kernel took it). */
  sent(error: Error | null): void;
}

/** Datagrams held while the socket connects (the first few of a handshake). */
const MAX_PENDING = 8;

/**
 * SO_RCVBUF of a bridge socket. The kernel's default (net.core.rmem_default, ~208 KB) holds
 * ~150 full-size WireGuard datagrams: a bulk download from the host arrives in line-rate bursts,
 * and a relay whose event loop pauses for ~20 ms (a loaded machine, a GC) overflowed it. The
 * drops (UdpRcvbufErrors) were retransmissions of the host's TCP and halved its window: 4% of
 * the segments of an SFTP download through the page were resent (issue 15). 2 MiB (the kernel
 * doubles it, capped by net.core.rmem_max) rides out such pauses; it is only memory while full.
 */
const RECV_BUFFER_BYTES = 2 << 20;

/** A UDP socket bound to one endpoint. */
export class BridgeSocket {
  private readonly socket: Socket;
  private pending: Buffer[] | undefined = [];
  private closed = false;

  /** `host` is an IP literal in the bridge's canonical form (formatIp of the unmapped bytes). */
  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly events: BridgeSocketEvents,
  ) {
    const socket = createSocket({
      type: isIPv4(host) ? "udp4" : "udp6",
      lookup: literalLookup,
      // Applied when connect() binds the socket.
      recvBufferSize: RECV_BUFFER_BYTES,
    });
    this.socket = socket;
    socket.connect(port, host, () => {
      const pending = this.pending ?? [];
      this.pending = undefined;
      for (const datagram of pending) this.write(datagram);
    });
    socket.on("message", (message: Buffer, from: RemoteInfo) => {
      if (from.port !== this.port || canonical(from.address) !== this.host) {
        events.foreign();
        return;
      }
      events.message(new Uint8Array(message.buffer, message.byteOffset, message.length));
    });
    socket.on("error", (error: NodeJS.ErrnoException) => {
      if (error.code === "ECONNREFUSED") events.unreachable();
      else events.error();
    });
  }

  /** Sends (or queues while connecting); false when the queue is full or the socket closed. */
  send(datagram: Buffer): boolean {
    if (this.closed) return false;
    if (this.pending !== undefined) {
      if (this.pending.length >= MAX_PENDING) return false;
      this.pending.push(datagram);
      return true;
    }
    return this.write(datagram);
  }

  /** Closes the socket; later sends fail. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.pending = undefined;
    try {
      this.socket.close();
    } catch {
      // already closed
    }
  }

  private write(datagram: Buffer): boolean {
    if (this.closed) return false;
    try {
      this.socket.send(datagram, this.events.sent);
      return true;
    } catch {
      return false;
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
