// What the relay client sends for WireGuard (DESIGN §4): the frame a datagram becomes, by the
// kind of endpoint it is addressed to, and the bounded queue that holds frames while the
// connection is down. The queue is bounded and drops its oldest frames because WireGuard
// retransmits on its own: old handshakes are worth less than new ones, and memory must not grow
// while a relay is unreachable.

import type { Endpoint } from "../wireguard/bind.ts";
import { batchable, FrameBatch } from "./batch.ts";
import type { RelayBindStats } from "./client-options.ts";
import { type EndpointCache, PEER_PREFIX } from "./endpoint.ts";
import * as F from "./frames.ts";
import type { RelaySocket } from "./socket.ts";

/**
 * The frame for `packet` to `to`: SEND to a peer's key ("peer:" endpoints), SEND_UDP to a stock
 * WireGuard host ("ip:port"). Undefined when the packet is too big or the endpoint is not one
 * this client can address.
 */
export function outboundFrame(
  endpoints: EndpointCache,
  packet: Uint8Array,
  to: Endpoint,
): Uint8Array | undefined {
  if (packet.length > F.MAX_PACKET) return undefined;
  if (to.key.startsWith(PEER_PREFIX)) {
    const key = endpoints.relayKeyOf(to.key);
    return key === undefined ? undefined : F.encodeKeyed(F.SEND, key, packet);
  }
  const endpoint = endpoints.udpOf(to);
  return endpoint === undefined ? undefined : F.encodeUdp(F.SEND_UDP, endpoint, packet);
}

/** Frames waiting for a connection, at most `max` (the oldest dropped first). */
export class SendQueue {
  private frames: Uint8Array[] = [];

  constructor(
    private readonly max: number,
    private readonly stats: Pick<RelayBindStats, "queued" | "queueDropped">,
  ) {}

  get length(): number {
    return this.frames.length;
  }

  push(frame: Uint8Array): void {
    this.frames.push(frame);
    this.stats.queued++;
    while (this.frames.length > this.max) {
      this.frames.shift();
      this.stats.queueDropped++;
    }
  }

  /** Empties the queue, returning what it held in order. */
  take(): Uint8Array[] {
    const frames = this.frames;
    this.frames = [];
    return frames;
  }
}

/**
 * Writes frames to the relay's socket and counts them. Once the relay agreed to batches
 * (`batching`), data frames added while the current task runs (the ACKs for one received
 * BATCH, the segments one window update lets out) leave together when it ends (a microtask),
 * with no timer, so a lone keystroke waits for nothing.
 */
export class RelayWriter {
  /** This connection's relay takes BATCH and was asked for it (FEATURES). */
  batching = false;
  private readonly batch = new FrameBatch();
  private scheduled = false;

  constructor(
    private readonly stats: Pick<RelayBindStats, "sent" | "sentBytes" | "sendDropped">,
    /** The socket of the ready connection, if there is one. */
    private readonly current: () => RelaySocket | undefined,
    private readonly onError: (error: Error) => void,
  ) {}

  /** Writes one frame now, after what is collected; SEND and SEND_UDP count as sent. */
  write(socket: RelaySocket, frame: Uint8Array): void {
    this.flush();
    if (!this.send(socket, frame)) return;
    if (frame[0] === F.SEND || frame[0] === F.SEND_UDP) {
      this.stats.sent++;
      this.stats.sentBytes += frame.length;
    }
  }

  /** A data frame for the ready connection: batched when agreed, else written at once. */
  data(socket: RelaySocket, frame: Uint8Array): void {
    if (!this.batching || !batchable(frame)) {
      this.write(socket, frame);
      return;
    }
    if (!this.batch.add(frame)) {
      this.flush();
      this.batch.add(frame);
    }
    if (this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      this.flush();
    });
  }

  /** The connection went away: batching ends, and the frames collected are taken back. */
  reset(): Uint8Array[] {
    this.batching = false;
    return this.batch.takeFrames();
  }

  /** Sends what is collected; its frames count as sent once the socket took them. */
  private flush(): void {
    const frames = this.batch.count;
    const bytes = this.batch.bytes;
    const message = this.batch.take();
    if (message === undefined) return;
    const socket = this.current();
    if (socket === undefined) {
      this.stats.sendDropped += frames;
      return;
    }
    if (!this.send(socket, message)) {
      this.stats.sendDropped += frames - 1; // send() counted one
      return;
    }
    this.stats.sent += frames;
    this.stats.sentBytes += bytes;
  }

  private send(socket: RelaySocket, message: Uint8Array): boolean {
    try {
      socket.send(message);
      return true;
    } catch (error) {
      this.onError(error as Error);
      this.stats.sendDropped++;
      return false;
    }
  }
}
