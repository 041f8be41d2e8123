// The WebSocket client (RFC 6455) over any duplex byte stream: the engine's TCP connection
// through WireGuard, or a Node socket in tests. It owns the connection's state (open, closing,
// closed; fragments; pings); open.ts runs the opening handshake, and frame.ts, parser.ts,
// message.ts and handshake.ts hold the wire rules.

import {
  CloseCode,
  encodeClosePayload,
  encodeFrame,
  type Frame,
  isValidReceivedCloseCode,
  Opcode,
  parseClosePayload,
  WebSocketProtocolError,
} from "./frame.ts";
import { MessageAssembler, MessageQueue, type WebSocketMessage } from "./message.ts";
import { FrameParser } from "./parser.ts";
import type {
  OpenWebSocketOptions,
  WebSocketByteStream,
  WebSocketCloseInfo,
  WebSocketState,
} from "./types.ts";

export type { OpenWebSocketOptions, WebSocketByteStream, WebSocketCloseInfo, WebSocketState };

const MiB = 1024 * 1024;

function randomMask(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(4));
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Truncates a reason to 123 bytes of UTF-8 without cutting a character. */
function clipReason(reason: string): string {
  const enc = new TextEncoder();
  let out = reason;
  while (enc.encode(out).length > 123) out = out.slice(0, -1);
  return out;
}

/**
 * An open WebSocket. Messages arrive through `onmessage` or async iteration (not both: a
 * callback takes every message, iteration sees what is queued while there is none); the
 * iteration ends when the connection closes, and `closed` says how.
 */
export class WebSocketClient implements AsyncIterable<WebSocketMessage> {
  /** The subprotocol the server chose, "" when none. */
  readonly protocol: string;
  /** Extensions in force: always "" (permessage-deflate is not offered). */
  readonly extensions = "";
  /** The 101 response's headers, lower-cased names (Set-Cookie for the cookie jar). */
  readonly responseHeaders: readonly (readonly [string, string])[];
  /** Resolves once when the connection is closed (never rejects). */
  readonly closed: Promise<WebSocketCloseInfo>;
  /** Called once with the close information. */
  onclose: ((info: WebSocketCloseInfo) => void) | null = null;

  private state: WebSocketState = "open";
  private sentClose = false;
  private receivedClose: { code: number | undefined; reason: string } | null = null;
  private readonly parser: FrameParser;
  private readonly assembler: MessageAssembler;
  private readonly fragmentBytes: number;
  private readonly closeTimeoutMs: number;
  private readonly messages: MessageQueue;
  private sendChain: Promise<void> = Promise.resolve();
  private resumeRead: (() => void) | null = null;
  private pings: { payload: Uint8Array; resolve: () => void; reject: (e: Error) => void }[] = [];
  private pongInFlight = false;
  private pongNext: Uint8Array | null = null;
  private closeTimer: ReturnType<typeof setTimeout> | undefined;
  private resolveClosed!: (info: WebSocketCloseInfo) => void;

  /** Use openWebSocket (open.ts); this takes a stream whose handshake is already done. */
  constructor(
    private readonly stream: WebSocketByteStream,
    private readonly reader: ReadableStreamDefaultReader<Uint8Array>,
    private readonly writer: WritableStreamDefaultWriter<Uint8Array>,
    protocol: string,
    responseHeaders: readonly (readonly [string, string])[],
    rest: Uint8Array,
    options: OpenWebSocketOptions,
  ) {
    this.protocol = protocol;
    this.responseHeaders = responseHeaders;
    const maxMessageBytes = options.maxMessageBytes ?? 64 * MiB;
    this.parser = new FrameParser({ expectMasked: false, maxPayload: maxMessageBytes });
    this.assembler = new MessageAssembler(maxMessageBytes);
    this.fragmentBytes = Math.max(1, options.fragmentBytes ?? 64 * 1024);
    this.closeTimeoutMs = options.closeTimeoutMs ?? 5_000;
    this.messages = new MessageQueue(
      options.queueHighWaterBytes ?? 8 * MiB,
      () => this.resume(),
      options.queueMaxMessages ?? 4096,
    );
    this.closed = new Promise((resolve) => {
      this.resolveClosed = resolve;
    });
    void this.readLoop(rest);
  }

  /** "open", "closing" (a Close frame was sent or is being answered) or "closed". */
  get readyState(): WebSocketState {
    return this.state;
  }

  /** Received messages waiting to be read (none while `onmessage` is set). */
  get queuedMessages(): number {
    return this.messages.queuedMessages;
  }

  /** Their count against `queueHighWaterBytes`: payload bytes plus 64 per message. */
  get queuedBytes(): number {
    return this.messages.queuedBytes;
  }

  /** Every received message goes to this callback; setting it hands over what is queued. */
  get onmessage(): ((message: WebSocketMessage) => void) | null {
    return this.messages.handler;
  }
  set onmessage(handler: ((message: WebSocketMessage) => void) | null) {
    this.messages.handler = handler;
  }

  /**
   * Sends a text (string) or binary message, masked, cut into frames of `fragmentBytes`.
   * Resolves when the stream has taken the last frame (backpressure); messages go out whole
   * and in call order. Do not change the bytes until it resolves.
   */
  send(data: string | Uint8Array): Promise<void> {
    if (this.state !== "open") return Promise.reject(new Error(`WebSocket is ${this.state}`));
    const opcode = typeof data === "string" ? Opcode.Text : Opcode.Binary;
    const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
    const sent = this.sendChain.then(() => this.writeMessage(opcode, bytes));
    this.sendChain = sent.catch(() => {});
    return sent;
  }

  /** Sends a Ping (payload <= 125 bytes); resolves when its Pong arrives, rejects on close. */
  ping(payload: Uint8Array = new Uint8Array(0)): Promise<void> {
    if (this.state !== "open") return Promise.reject(new Error(`WebSocket is ${this.state}`));
    if (payload.length > 125) return Promise.reject(new RangeError("ping payload over 125 bytes"));
    const copy = payload.slice();
    return new Promise<void>((resolve, reject) => {
      this.pings.push({ payload: copy, resolve, reject });
      this.writeControl(Opcode.Ping, copy);
    });
  }

  /**
   * Starts the closing handshake: sends Close(code, reason), waits for the server's Close and
   * for it to end the connection, or drops it after `closeTimeoutMs`. Resolves with `closed`.
   * Codes: 1000-1003, 1007-1014, 3000-4999, or none (the server then reports 1005).
   */
  close(code?: number, reason = ""): Promise<WebSocketCloseInfo> {
    if (code !== undefined && !isValidReceivedCloseCode(code)) {
      throw new RangeError(`close code ${code} may not be sent`);
    }
    if (code === undefined && reason !== "") throw new RangeError("a close reason needs a code");
    const payload = encodeClosePayload(code, reason); // RangeError over 123 bytes
    if (this.state === "open") this.sendClose(payload);
    return this.closed;
  }

  [Symbol.asyncIterator](): AsyncIterator<WebSocketMessage> {
    return {
      next: async (): Promise<IteratorResult<WebSocketMessage>> => {
        const value = await this.messages.next();
        return value === undefined ? { value, done: true } : { value, done: false };
      },
      // Leaving a for-await loop does not close the connection: call close() for that.
      return: async (): Promise<IteratorResult<WebSocketMessage>> => ({
        value: undefined,
        done: true,
      }),
    };
  }

  private async writeMessage(opcode: number, bytes: Uint8Array): Promise<void> {
    let offset = 0;
    do {
      if (this.sentClose) throw new Error("WebSocket closed while sending a message");
      const end = Math.min(bytes.length, offset + this.fragmentBytes);
      const frame = encodeFrame({
        opcode: offset === 0 ? opcode : Opcode.Continuation,
        fin: end === bytes.length,
        payload: bytes.subarray(offset, end),
        maskKey: randomMask(),
      });
      await this.writer.write(frame);
      offset = end;
    } while (offset < bytes.length);
  }

  /** Control frames skip the send chain: RFC 6455 lets them go between a message's fragments. */
  private writeControl(opcode: number, payload: Uint8Array): Promise<void> {
    const written = this.writer.write(encodeFrame({ opcode, payload, maskKey: randomMask() }));
    written.catch(() => {});
    return written;
  }

  /**
   * One Pong in flight at a time; pings arriving meanwhile are answered once, with the latest
   * payload (§5.5.3 allows it), so a ping flood cannot queue unbounded Pongs behind a slow
   * stream.
   */
  private answerPing(payload: Uint8Array): void {
    if (this.pongInFlight) {
      this.pongNext = payload;
      return;
    }
    this.pongInFlight = true;
    const after = () => {
      this.pongInFlight = false;
      const next = this.pongNext;
      this.pongNext = null;
      if (next !== null && !this.sentClose) this.answerPing(next);
    };
    this.writeControl(Opcode.Pong, payload).then(after, after);
  }

  private sendClose(payload: Uint8Array): Promise<void> {
    this.sentClose = true;
    this.state = "closing";
    this.resume(); // the answer must be read even if nobody reads messages
    this.closeTimer = setTimeout(() => {
      const got = this.receivedClose;
      if (got !== null)
        this.finish({ code: got.code ?? CloseCode.NoStatus, reason: got.reason, wasClean: true });
      else
        this.finish({
          code: CloseCode.Abnormal,
          reason: "",
          wasClean: false,
          error: new Error(`no Close frame from the server within ${this.closeTimeoutMs} ms`),
        });
    }, this.closeTimeoutMs);
    return this.writeControl(Opcode.Close, payload);
  }

  private resume(): void {
    const r = this.resumeRead;
    this.resumeRead = null;
    r?.();
  }

  private async readLoop(rest: Uint8Array): Promise<void> {
    try {
      if (rest.length > 0) this.handleBytes(rest);
      while (this.state !== "closed") {
        if (this.state === "open" && this.messages.full) {
          await new Promise<void>((r) => {
            this.resumeRead = r;
          });
          continue;
        }
        const { value, done } = await this.reader.read();
        if (done) return this.onEnd();
        this.handleBytes(value);
      }
    } catch (e) {
      if (e instanceof WebSocketProtocolError) await this.fail(e);
      else
        this.finish({
          code: CloseCode.Abnormal,
          reason: "",
          wasClean: false,
          error: e instanceof Error ? e : new Error(String(e)),
        });
    }
  }

  private handleBytes(chunk: Uint8Array): void {
    this.parser.push(chunk, (frame) => {
      if (this.state === "closed" || this.receivedClose !== null) return; // nothing after Close
      this.handleFrame(frame);
    });
  }

  private handleFrame(frame: Frame): void {
    switch (frame.opcode) {
      case Opcode.Ping:
        if (!this.sentClose) this.answerPing(frame.payload);
        return;
      case Opcode.Pong: {
        // A server may answer only the latest of several pings: it settles the earlier ones too.
        const i = this.pings.findIndex((p) => sameBytes(p.payload, frame.payload));
        for (const p of this.pings.splice(0, i + 1)) p.resolve();
        return;
      }
      case Opcode.Close: {
        const got = parseClosePayload(frame.payload);
        this.receivedClose = got;
        // Echo the code (§5.5.1); the server then ends the TCP connection, which ends readLoop.
        if (!this.sentClose) this.sendClose(encodeClosePayload(got.code));
        return;
      }
    }
    if (this.sentClose) return; // WHATWG: messages arriving while closing are dropped
    const message = this.assembler.push(frame);
    if (message !== undefined) this.messages.push(message);
  }

  private onEnd(): void {
    const got = this.receivedClose;
    if (got !== null && this.sentClose) {
      // The server ended TCP after the closing handshake (§7.1.1): end ours with a FIN.
      const info = { code: got.code ?? CloseCode.NoStatus, reason: got.reason, wasClean: true };
      this.finish(info, true);
    } else {
      this.finish({
        code: CloseCode.Abnormal,
        reason: "",
        wasClean: false,
        error: new Error("connection ended without a Close frame"),
      });
    }
  }

  /** _Fail the WebSocket Connection_ (§7.1.7): send Close with the error's code, then drop. */
  private async fail(error: WebSocketProtocolError): Promise<void> {
    if (this.state === "closed") return;
    const info = { code: error.closeCode, reason: error.message, wasClean: false, error };
    if (!this.sentClose) {
      const written = this.sendClose(
        encodeClosePayload(error.closeCode, clipReason(error.message)),
      );
      clearTimeout(this.closeTimer); // this path reports the error's code, not a timeout
      // Give the Close frame a chance to leave before the stream is torn down.
      let t: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        written.catch(() => {}),
        new Promise((r) => (t = setTimeout(r, this.closeTimeoutMs))),
      ]);
      clearTimeout(t);
    }
    this.finish(info);
  }

  /** Ends the connection: `graceful` closes the writable (FIN), else the stream is torn down. */
  private finish(info: WebSocketCloseInfo, graceful = false): void {
    if (this.state === "closed") return;
    this.state = "closed";
    this.sentClose = true;
    clearTimeout(this.closeTimer);
    const gone = new Error(`WebSocket closed (${info.code})`);
    for (const p of this.pings.splice(0)) p.reject(gone);
    this.reader.cancel().catch(() => {});
    if (graceful) this.writer.close().catch(() => this.stream.close());
    else this.stream.close();
    this.resume();
    this.messages.end();
    this.resolveClosed(info);
    const cb = this.onclose;
    if (cb !== null) queueMicrotask(() => cb(info));
  }
}
