// UDP sockets of the IP interface: bind, send, receive. Received datagrams come as a
// ReadableStream; like a kernel socket buffer it is bounded, and what does not fit is dropped
// and counted rather than queued without end.

import { parseIp } from "../wireguard/ip-address.ts";

/** One received datagram. */
export interface UdpMessage {
  data: Uint8Array;
  /** The sender's address (4 or 16 bytes) and port. */
  address: Uint8Array;
  port: number;
}

/** Datagrams queued for a reader before new ones are dropped. */
const QUEUE_LIMIT = 256;

/** A bound UDP port. */
export class UdpSocket {
  /** Received datagrams, in arrival order. */
  readonly messages: ReadableStream<UdpMessage>;
  /** Datagrams dropped because the reader fell behind. */
  dropped = 0;
  private controller: ReadableStreamDefaultController<UdpMessage> | undefined;
  private closed = false;

  constructor(
    /** The local port. */
    readonly port: number,
    private readonly transmit: (destination: Uint8Array, port: number, data: Uint8Array) => void,
    private readonly onClose: () => void,
  ) {
    this.messages = new ReadableStream<UdpMessage>(
      {
        start: (controller) => {
          this.controller = controller;
        },
        cancel: () => this.close(),
      },
      { highWaterMark: QUEUE_LIMIT },
    );
  }

  /** Sends one datagram to `address` (text or bytes) and `port`. */
  send(data: Uint8Array, address: string | Uint8Array, port: number): void {
    if (this.closed) throw new Error(`udp port ${this.port}: socket is closed`);
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new TypeError(`udp send: port must be 1 to 65535, got ${String(port)}`);
    }
    this.transmit(typeof address === "string" ? parseIp(address) : address, port, data);
  }

  /** @internal Queues a received datagram (copied: the bytes are a view of a packet). */
  deliver(payload: Uint8Array, address: Uint8Array, port: number): void {
    const controller = this.controller;
    if (this.closed || !controller) return;
    if ((controller.desiredSize ?? 0) <= 0) {
      this.dropped++;
      return;
    }
    controller.enqueue({ data: payload.slice(), address: address.slice(), port });
  }

  /** Unbinds the port and ends the stream. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.controller?.close();
    } catch {
      // already cancelled by the reader
    }
    this.onClose();
  }
}
