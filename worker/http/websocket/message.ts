// Joins data frames into messages (RFC 6455 §5.4): the fragmentation rules, the message size
// limit and UTF-8 validation of text. State of one direction of one connection; control frames
// never come here (they may arrive between fragments and are the socket's business).

import { type Frame, Opcode, WebSocketProtocolError } from "./frame.ts";

/** A whole received message: text is a string, binary a Uint8Array. */
export type WebSocketMessage = string | Uint8Array;

/**
 * Assembles data frames. Text is validated as it arrives with a streaming fatal decoder, so an
 * invalid byte fails the connection (1007) without waiting for the rest of the message.
 */
export class MessageAssembler {
  private opcode: number | null = null;
  private parts: Uint8Array[] = [];
  private text: string[] = [];
  private bytes = 0;
  private decoder: TextDecoder | null = null;

  constructor(private readonly maxMessageBytes: number) {}

  /** Whether a fragmented message is in progress. */
  get inProgress(): boolean {
    return this.opcode !== null;
  }

  /** Takes one data frame (opcode 0, 1 or 2); returns the message it completes, if any. */
  push(frame: Frame): WebSocketMessage | undefined {
    if (frame.opcode === Opcode.Continuation) {
      if (this.opcode === null) {
        throw new WebSocketProtocolError("continuation frame without a message to continue", 1002);
      }
    } else {
      if (this.opcode !== null) {
        throw new WebSocketProtocolError("new data frame inside a fragmented message", 1002);
      }
      this.opcode = frame.opcode;
      if (frame.opcode === Opcode.Text) {
        this.decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
      }
    }
    this.bytes += frame.payload.length;
    if (this.bytes > this.maxMessageBytes) {
      throw new WebSocketProtocolError(
        `message exceeds the limit of ${this.maxMessageBytes} bytes`,
        1009,
      );
    }
    if (this.decoder !== null) {
      try {
        const piece = this.decoder.decode(frame.payload, { stream: !frame.fin });
        if (piece !== "") this.text.push(piece);
      } catch {
        throw new WebSocketProtocolError("text message is not valid UTF-8", 1007);
      }
    } else if (frame.payload.length > 0) {
      this.parts.push(frame.payload);
    }
    if (!frame.fin) return undefined;
    const message = this.decoder !== null ? this.text.join("") : concat(this.parts, this.bytes);
    this.opcode = null;
    this.parts = [];
    this.text = [];
    this.bytes = 0;
    this.decoder = null;
    return message;
  }
}

function concat(parts: Uint8Array[], total: number): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * What one queued message costs beyond its payload, in the queue's byte count: its object and
 * array slot. Without it a server sending endless empty messages (2-byte frames) would grow the
 * queue without ever reaching the byte high-water mark.
 */
export const QUEUED_MESSAGE_OVERHEAD = 64;

/**
 * Received messages on their way to the application: to a callback when one is set, else
 * queued for async iteration. `full` tells the socket to stop reading the stream (so a slow
 * reader pushes back on the server through TCP); `onDrain` says when to read again. The queue
 * is full at `highWaterBytes` (payloads plus QUEUED_MESSAGE_OVERHEAD each) or at
 * `maxMessages` messages, whichever comes first; the socket checks between reads, so the
 * frames of the chunk already read still land (one read's worth past either mark).
 */
export class MessageQueue {
  private items: WebSocketMessage[] = [];
  private bytes = 0;
  private waiters: (() => void)[] = [];
  private ended = false;
  private callback: ((message: WebSocketMessage) => void) | null = null;

  constructor(
    private readonly highWaterBytes: number,
    private readonly onDrain: () => void,
    private readonly maxMessages = 4096,
  ) {}

  /** Queued bytes or messages reached their mark. */
  get full(): boolean {
    return this.bytes >= this.highWaterBytes || this.items.length >= this.maxMessages;
  }

  /** Messages waiting to be read. */
  get queuedMessages(): number {
    return this.items.length;
  }

  /** What they count against the high-water mark: payloads plus the per-message overhead. */
  get queuedBytes(): number {
    return this.bytes;
  }

  get handler(): ((message: WebSocketMessage) => void) | null {
    return this.callback;
  }

  /** Setting a callback hands it what is queued, in order. */
  set handler(callback: ((message: WebSocketMessage) => void) | null) {
    this.callback = callback;
    if (callback === null) return;
    const queued = this.items;
    this.items = [];
    this.bytes = 0;
    this.onDrain();
    for (const m of queued) this.push(m);
  }

  push(message: WebSocketMessage): void {
    const callback = this.callback;
    if (callback !== null) {
      try {
        callback(message);
      } catch (e) {
        // Like an event listener's exception: reported, not fatal to the connection.
        queueMicrotask(() => {
          throw e;
        });
      }
      return;
    }
    this.items.push(message);
    this.bytes += message.length + QUEUED_MESSAGE_OVERHEAD;
    for (const w of this.waiters.splice(0)) w();
  }

  /** No more messages: iteration ends once the queue is empty. */
  end(): void {
    this.ended = true;
    for (const w of this.waiters.splice(0)) w();
  }

  /** The next message, or undefined once ended and empty. */
  async next(): Promise<WebSocketMessage | undefined> {
    for (;;) {
      const m = this.items.shift();
      if (m !== undefined) {
        this.bytes -= m.length + QUEUED_MESSAGE_OVERHEAD;
        if (!this.full) this.onDrain();
        return m;
      }
      if (this.ended) return undefined;
      await new Promise<void>((r) => this.waiters.push(r));
    }
  }
}
