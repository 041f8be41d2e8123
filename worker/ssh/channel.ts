// One SSH channel (RFC 4254 §5) as WHATWG streams: `readable` (CHANNEL_DATA), `stderr`
// (EXTENDED_DATA type 1) and `writable`, with flow control both ways.
//
// Incoming: we grant a window and re-grant what the application has read, once half of the
// window is used up, so a slow reader holds at most one window of data in memory and a fast
// one never waits on a round trip. Outgoing: writes are cut to the peer's maximum packet
// size and wait while its window is empty.
//
// Requests (§5.4) are answered in order, so replies are matched to a FIFO of pending ones.

import { printableRemoteText, SshError } from "./errors.ts";
import {
  SSH_DISCONNECT,
  SSH_MSG_CHANNEL_CLOSE,
  SSH_MSG_CHANNEL_DATA,
  SSH_MSG_CHANNEL_EOF,
  SSH_MSG_CHANNEL_EXTENDED_DATA,
  SSH_MSG_CHANNEL_FAILURE,
  SSH_MSG_CHANNEL_REQUEST,
  SSH_MSG_CHANNEL_SUCCESS,
  SSH_MSG_CHANNEL_WINDOW_ADJUST,
} from "./messages.ts";
import { SshProtocolError, type SshReader, SshWriter } from "./wire.ts";

/** SSH_EXTENDED_DATA_STDERR (RFC 4254 §5.2). */
const EXTENDED_DATA_STDERR = 1;
const MAX_WINDOW = 0xffffffff;

/** How the channel reaches the connection. */
export interface ChannelHost {
  send(payload: Uint8Array): Promise<void>;
  /** The channel is fully closed: forget its number. */
  release(localId: number): void;
}

/** How a session ended (RFC 4254 §6.10). */
export interface ExitStatus {
  /** exit-status, or null when the command was killed by a signal or none was sent. */
  code: number | null;
  /** exit-signal name without "SIG" ("TERM", "KILL"), or null. */
  signal: string | null;
  coreDumped: boolean;
  /** The error message of exit-signal, made printable ("" when none). */
  message: string;
}

/** Handler of requests the server sends on a channel; returns whether it succeeded. */
export type ChannelRequestHandler = (type: string, data: SshReader) => boolean;

/** An open channel. */
export class SshChannel {
  /** Data from the server (CHANNEL_DATA). */
  readonly readable: ReadableStream<Uint8Array>;
  /** Extended data type 1 (stderr of a session). */
  readonly stderr: ReadableStream<Uint8Array>;
  /** Data to the server; closing it sends EOF. */
  readonly writable: WritableStream<Uint8Array>;
  /** Settles when the channel is closed, with how the session ended. */
  readonly exit: Promise<ExitStatus>;
  /** Requests the server sends that this channel's owner wants to see. */
  onRequest: ChannelRequestHandler | null = null;

  private remoteWindow: number;
  private localWindow: number;
  private unacknowledged = 0;
  private readonly pendingRequests: {
    resolve: (ok: boolean) => void;
    reject: (e: Error) => void;
  }[] = [];
  private windowWaiter: (() => void) | null = null;
  private stdout!: ReadableStreamDefaultController<Uint8Array>;
  private stderrController!: ReadableStreamDefaultController<Uint8Array>;
  private readonly status: ExitStatus = {
    code: null,
    signal: null,
    coreDumped: false,
    message: "",
  };
  private resolveExit!: (status: ExitStatus) => void;
  private eofReceived = false;
  /** The application cancelled a readable: what still arrives for it is dropped. */
  private stdoutCancelled = false;
  private stderrCancelled = false;
  private eofSent = false;
  private closeSent = false;
  private closed = false;
  private failure: Error | null = null;

  constructor(
    private readonly host: ChannelHost,
    readonly localId: number,
    readonly remoteId: number,
    remoteWindow: number,
    private readonly remoteMaxPacket: number,
    private readonly windowSize: number,
    private readonly localMaxPacket: number,
  ) {
    this.remoteWindow = remoteWindow;
    this.localWindow = windowSize;
    this.exit = new Promise((resolve) => {
      this.resolveExit = resolve;
    });
    const pull = () => this.consumed();
    this.readable = new ReadableStream<Uint8Array>(
      {
        start: (c) => {
          this.stdout = c;
        },
        pull,
        cancel: () => {
          this.stdoutCancelled = true;
          return this.close();
        },
      },
      { highWaterMark: 0 },
    );
    this.stderr = new ReadableStream<Uint8Array>(
      {
        start: (c) => {
          this.stderrController = c;
        },
        pull,
        cancel: () => {
          this.stderrCancelled = true;
        },
      },
      { highWaterMark: 0 },
    );
    this.writable = new WritableStream<Uint8Array>({
      write: (chunk) => this.write(chunk),
      close: () => this.sendEof(),
      abort: () => this.close(),
    });
  }

  /** Sends a channel request; with `wantReply`, resolves with the server's answer. */
  request(type: string, wantReply: boolean, body?: (w: SshWriter) => void): Promise<boolean> {
    if (this.failure !== null) return Promise.reject(this.failure);
    if (this.closeSent || this.closed)
      return Promise.reject(new Error(`channel ${this.localId} is closed`));
    const w = new SshWriter(128)
      .writeByte(SSH_MSG_CHANNEL_REQUEST)
      .writeUint32(this.remoteId)
      .writeString(type)
      .writeBoolean(wantReply);
    body?.(w);
    const sent = this.host.send(w.toBytes());
    if (!wantReply) return sent.then(() => true);
    return new Promise((resolve, reject) => {
      this.pendingRequests.push({ resolve, reject });
      sent.catch(reject);
    });
  }

  /** Sends CLOSE (after EOF if not sent); the channel ends when the server's CLOSE arrives. */
  async close(): Promise<void> {
    if (this.closeSent || this.closed) return;
    this.closeSent = true;
    await this.host
      .send(new SshWriter(8).writeByte(SSH_MSG_CHANNEL_CLOSE).writeUint32(this.remoteId).toBytes())
      .catch(() => undefined);
  }

  /** Writes `chunk`, waiting for window and transport as needed. */
  private async write(chunk: Uint8Array): Promise<void> {
    let at = 0;
    while (at < chunk.length) {
      if (this.failure !== null) throw this.failure;
      if (this.closed || this.closeSent || this.eofSent)
        throw new Error("channel closed for writing");
      if (this.remoteWindow === 0) {
        await new Promise<void>((resolve) => {
          this.windowWaiter = resolve;
        });
        continue;
      }
      const n = Math.min(chunk.length - at, this.remoteWindow, this.remoteMaxPacket);
      this.remoteWindow -= n;
      const message = new SshWriter(n + 16)
        .writeByte(SSH_MSG_CHANNEL_DATA)
        .writeUint32(this.remoteId)
        .writeString(chunk.subarray(at, at + n))
        .toBytes();
      at += n;
      await this.host.send(message);
    }
  }

  private async sendEof(): Promise<void> {
    if (this.eofSent || this.closeSent || this.closed) return;
    this.eofSent = true;
    await this.host.send(
      new SshWriter(8).writeByte(SSH_MSG_CHANNEL_EOF).writeUint32(this.remoteId).toBytes(),
    );
  }

  /** The application read from a stream: re-grant the window once half of it is used. */
  private consumed(): void {
    if (this.closed || this.unacknowledged < this.windowSize / 2) return;
    const grant = this.unacknowledged;
    this.unacknowledged = 0;
    this.localWindow += grant;
    void this.host
      .send(
        new SshWriter(12)
          .writeByte(SSH_MSG_CHANNEL_WINDOW_ADJUST)
          .writeUint32(this.remoteId)
          .writeUint32(grant)
          .toBytes(),
      )
      .catch(() => undefined);
  }

  /** Handles a channel message addressed to us (type and recipient already read). */
  receive(type: number, r: SshReader): void {
    switch (type) {
      case SSH_MSG_CHANNEL_WINDOW_ADJUST: {
        const add = r.readUint32("bytes to add");
        if (this.remoteWindow + add > MAX_WINDOW) {
          throw new SshProtocolError(`channel ${this.localId}: window adjusted past 2^32-1`);
        }
        this.remoteWindow += add;
        const waiter = this.windowWaiter;
        this.windowWaiter = null;
        waiter?.();
        return;
      }
      case SSH_MSG_CHANNEL_DATA:
      case SSH_MSG_CHANNEL_EXTENDED_DATA: {
        const extended = type === SSH_MSG_CHANNEL_EXTENDED_DATA;
        const code = extended ? r.readUint32("data type") : 0;
        const data = r.readString("data");
        r.expectEnd("CHANNEL_DATA");
        if (this.eofReceived) {
          throw new SshProtocolError(`channel ${this.localId}: data after EOF`);
        }
        if (data.length > this.localWindow) {
          throw new SshProtocolError(
            `channel ${this.localId}: ${data.length} bytes of data exceed the window of ${this.localWindow}`,
          );
        }
        if (data.length > this.localMaxPacket) {
          throw new SshProtocolError(
            `channel ${this.localId}: ${data.length}-byte data packet exceeds our maximum of ${this.localMaxPacket}`,
          );
        }
        this.localWindow -= data.length;
        this.unacknowledged += data.length;
        if (this.closed || data.length === 0) return;
        // Unknown extended types (RFC 4254 §5.2) use window but are not shown.
        if (!extended) {
          if (!this.stdoutCancelled) this.stdout.enqueue(data);
        } else if (code === EXTENDED_DATA_STDERR && !this.stderrCancelled) {
          this.stderrController.enqueue(data);
        }
        return;
      }
      case SSH_MSG_CHANNEL_EOF:
        this.eofReceived = true;
        this.endReadables();
        return;
      case SSH_MSG_CHANNEL_CLOSE:
        // RFC 4254 §5.3: answer with our CLOSE unless sent already. close() first, because it
        // sends nothing once finish() has marked the channel closed.
        void this.close();
        this.finish(null);
        this.host.release(this.localId);
        return;
      case SSH_MSG_CHANNEL_REQUEST:
        this.onServerRequest(r);
        return;
      case SSH_MSG_CHANNEL_SUCCESS:
      case SSH_MSG_CHANNEL_FAILURE: {
        const pending = this.pendingRequests.shift();
        if (pending === undefined) {
          throw new SshProtocolError(`channel ${this.localId}: reply to no request`);
        }
        pending.resolve(type === SSH_MSG_CHANNEL_SUCCESS);
        return;
      }
      default:
        throw new SshProtocolError(`channel ${this.localId}: unexpected message ${type}`);
    }
  }

  private onServerRequest(r: SshReader): void {
    const type = r.readUtf8("request type");
    const wantReply = r.readBoolean("want reply");
    let ok = false;
    if (type === "exit-status") {
      this.status.code = r.readUint32("exit status");
      ok = true;
    } else if (type === "exit-signal") {
      this.status.signal = printableRemoteText(r.readUtf8("signal name"), 32);
      this.status.coreDumped = r.readBoolean("core dumped");
      this.status.message = printableRemoteText(r.readUtf8("error message"), 1024);
      ok = true;
    } else if (this.onRequest !== null) {
      ok = this.onRequest(type, r);
    }
    if (wantReply && !this.closeSent) {
      void this.host
        .send(
          new SshWriter(8)
            .writeByte(ok ? SSH_MSG_CHANNEL_SUCCESS : SSH_MSG_CHANNEL_FAILURE)
            .writeUint32(this.remoteId)
            .toBytes(),
        )
        .catch(() => undefined);
    }
  }

  private endReadables(): void {
    for (const c of [this.stdout, this.stderrController]) {
      try {
        c.close();
      } catch {
        // Already closed or cancelled by the reader.
      }
    }
  }

  /** Ends the channel: closed by the server (null) or because the connection failed. */
  finish(error: Error | null): void {
    if (this.closed) return;
    this.closed = true;
    this.failure = error;
    if (error === null) this.endReadables();
    else {
      for (const c of [this.stdout, this.stderrController]) {
        try {
          c.error(error);
        } catch {
          // Already closed.
        }
      }
    }
    const why =
      error ??
      new SshError(`channel ${this.localId} closed`, SSH_DISCONNECT.BY_APPLICATION, "server");
    for (const p of this.pendingRequests.splice(0)) p.reject(why);
    const waiter = this.windowWaiter;
    this.windowWaiter = null;
    waiter?.();
    this.resolveExit({ ...this.status });
  }
}
