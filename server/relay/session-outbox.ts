// What one relay session sends: the bounded queue (frames and bytes per client, bytes across
// the relay) and, for clients that asked for it (FEATURES), several data frames per WebSocket
// message (BATCH, worker/relay/batch.ts). Control frames never wait in a batch, and a frame sent
// alone first flushes the batch, so the client sees frames in the order they were sent.

import type { WebSocket } from "ws";
import { batchable, FrameBatch } from "../../worker/relay/batch.ts";
import type { SessionHost } from "./session-host.ts";

/** Extra queue slots (frames, and bytes) for control frames beyond the data queue limits. */
const CONTROL_HEADROOM = 64;
const CONTROL_HEADROOM_BYTES = 16 * 1024;

/** The sending side of a RelaySession. */
export class SessionOutbox {
  /** Frames handed to the socket (or collected for it) and not yet written. */
  queued = 0;
  /** Bytes of those frames (counted in the server's QueueTotal until the socket is gone). */
  queuedBytes = 0;
  /** The client asked for BATCH messages: data frames go out several per message. */
  batching = false;

  /** The socket is gone: its buffers are freed and no longer counted. */
  private socketGone = false;
  /** Data frames collected for one BATCH, sent when this turn of the event loop is done. */
  private readonly outgoing = new FrameBatch();
  private flushScheduled = false;

  constructor(
    private readonly ws: WebSocket,
    private readonly host: Pick<
      SessionHost,
      "metrics" | "queueLimit" | "queueBytes" | "queueTotal"
    >,
    /** Whether the session is closed (nothing more goes to the socket). */
    private readonly closed: () => boolean,
  ) {}

  /**
   * Queues a frame unless a queue cap is reached; false when dropped (the drop and the cap
   * that bit are counted). The caps: frames and bytes queued for this client, and bytes queued
   * for all clients. A client that does not read fills only its own queue, then loses packets
   * (WireGuard and TCP recover); it cannot make the relay hold more. Control frames (PONG,
   * PEER_GONE, UDP_ERROR) get some headroom, so a full data queue does not starve keepalives.
   */
  send(frame: Uint8Array, control: boolean): boolean {
    const metrics = this.host.metrics;
    const total = this.host.queueTotal;
    if (this.queued >= this.host.queueLimit + (control ? CONTROL_HEADROOM : 0)) {
      metrics.capHit("queue_frames");
      metrics.drop("queue_full");
      return false;
    }
    const headroom = control ? CONTROL_HEADROOM_BYTES : 0;
    if (this.queuedBytes + frame.length > this.host.queueBytes + headroom) {
      metrics.capHit("queue_bytes");
      metrics.drop("queue_full");
      return false;
    }
    if (total.bytes + frame.length > total.maxBytes + headroom) {
      metrics.capHit("relay_queue_bytes");
      metrics.drop("relay_queue_full");
      return false;
    }
    if (this.batching && !control && batchable(frame)) this.batch(frame);
    else this.sendRaw(frame);
    return true;
  }

  /** Sends a frame regardless of the queue caps, after what is collected. */
  sendRaw(frame: Uint8Array): void {
    if (this.closed()) return;
    this.flush();
    const size = frame.length;
    this.count(size);
    this.ws.send(frame, () => this.onSent(size, 1));
  }

  /** The socket closed: what it held is freed, so it stops counting against the caps. */
  socketClosed(): void {
    this.socketGone = true;
    this.host.queueTotal.bytes -= this.queuedBytes;
    this.queuedBytes = 0;
  }

  /**
   * Adds a data frame to the batch that goes out once this turn of the event loop is done:
   * the datagrams one read of the bridge's sockets (or one client's BATCH) brought travel in
   * one message. No timer waits: a lone frame leaves in the same turn, as itself.
   */
  private batch(frame: Uint8Array): void {
    this.count(frame.length);
    if (!this.outgoing.add(frame)) {
      this.flush();
      this.outgoing.add(frame);
    }
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  /** Sends the collected data frames as one message, if there are any. */
  flush(): void {
    const frames = this.outgoing.count;
    if (frames === 0) return;
    const bytes = this.outgoing.bytes;
    const message = this.outgoing.take()!;
    if (this.closed()) {
      this.onSent(bytes, frames);
      return;
    }
    this.ws.send(message, () => this.onSent(bytes, frames));
  }

  /** A frame is on its way to the socket: it counts against the caps until written. */
  private count(size: number): void {
    this.queued++;
    this.queuedBytes += size;
    this.host.queueTotal.bytes += size;
    this.host.metrics.frameOut(size);
  }

  /** ws wrote a message to the kernel (or gave up on it): it no longer holds our memory. */
  private onSent(size: number, frames: number): void {
    this.queued -= frames;
    if (this.socketGone) return; // socketClosed() already gave back everything
    this.queuedBytes -= size;
    this.host.queueTotal.bytes -= size;
  }
}
