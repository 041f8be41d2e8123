// The incremental frame parser: bytes split anywhere go in, whole frames come out. The header
// rules and masking are frame.ts's; this file only buffers chunks and cuts frames out of them.

import {
  applyMask,
  type Frame,
  type FrameHeader,
  type FrameLimits,
  parseFrameHeader,
  WebSocketProtocolError,
} from "./frame.ts";

/**
 * Incremental decoder: bytes go in split anywhere, whole frames come out. Payload bytes are
 * kept as the chunks they arrived in and joined once, so a 16 MiB frame is copied once, not
 * once per chunk. After a throw the parser is poisoned: the connection must be failed.
 */
export class FrameParser {
  // Unconsumed chunks are chunks[head..]; a moving head keeps 1-byte feeding linear.
  private chunks: Uint8Array[] = [];
  private head = 0;
  private buffered = 0;
  private header: FrameHeader | null = null;
  private failed: WebSocketProtocolError | null = null;

  constructor(private readonly limits: FrameLimits) {}

  /** Bytes received but not yet returned as part of a frame. */
  get pendingBytes(): number {
    return this.buffered;
  }

  /**
   * Feeds `chunk` and calls `onFrame` for every frame it completes, in order, so the frames
   * before a bad one are handled before the refusal is thrown.
   */
  push(chunk: Uint8Array, onFrame: (frame: Frame) => void): void {
    if (this.failed !== null) throw this.failed;
    if (chunk.length > 0) {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
    }
    for (;;) {
      if (this.header === null) {
        // A header is at most 14 bytes: parse from a small joined prefix.
        const prefix = this.peek(Math.min(14, this.buffered));
        let header: FrameHeader | null;
        try {
          header = parseFrameHeader(prefix, 0, this.limits);
        } catch (e) {
          if (e instanceof WebSocketProtocolError) this.failed = e;
          throw e;
        }
        if (header === null) break;
        this.take(header.headerLength);
        this.header = header;
      }
      const h = this.header;
      if (this.buffered < h.payloadLength) break;
      const raw = this.take(h.payloadLength);
      let payload = raw;
      if (h.maskKey !== undefined) {
        payload = new Uint8Array(raw.length);
        applyMask(raw, h.maskKey, payload);
      }
      this.header = null;
      onFrame({ fin: h.fin, rsv: h.rsv, opcode: h.opcode, masked: h.masked, payload });
    }
  }

  /** Feeds `chunk` and returns the frames it completes (tests and one-shot decoding). */
  pushAll(chunk: Uint8Array): Frame[] {
    const frames: Frame[] = [];
    this.push(chunk, (f) => frames.push(f));
    return frames;
  }

  /** The first n buffered bytes, without consuming them. */
  private peek(n: number): Uint8Array {
    const first = this.chunks[this.head];
    if (first !== undefined && first.length >= n) return first.subarray(0, n);
    const out = new Uint8Array(n);
    let filled = 0;
    for (let i = this.head; i < this.chunks.length && filled < n; i++) {
      const part = this.chunks[i]!.subarray(0, n - filled);
      out.set(part, filled);
      filled += part.length;
    }
    return out;
  }

  /** Consumes and returns the first n buffered bytes (a view when they lie in one chunk). */
  private take(n: number): Uint8Array {
    if (n === 0) return new Uint8Array(0);
    const first = this.chunks[this.head]!;
    let out: Uint8Array;
    if (first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.head++;
      else this.chunks[this.head] = first.subarray(n);
    } else {
      out = new Uint8Array(n);
      let filled = 0;
      while (filled < n) {
        const c = this.chunks[this.head]!;
        const want = n - filled;
        if (c.length <= want) {
          out.set(c, filled);
          filled += c.length;
          this.head++;
        } else {
          out.set(c.subarray(0, want), filled);
          filled += want;
          this.chunks[this.head] = c.subarray(want);
        }
      }
    }
    this.buffered -= n;
    if (this.head === this.chunks.length) {
      this.chunks = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.chunks.length) {
      this.chunks = this.chunks.slice(this.head);
      this.head = 0;
    }
    return out;
  }
}
