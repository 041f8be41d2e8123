// The connection protocol (RFC 4254) after authentication: the channel table, channel
// opening (session, direct-tcpip), global requests both ways, and keepalives
// (keepalive@openssh.com, as OpenSSH's ServerAliveInterval / ServerAliveCountMax).

import { SshChannel } from "./channel.ts";
import { printableRemoteText, type SshError } from "./errors.ts";
import type { MessageQueue } from "./message-queue.ts";
import {
  openFailureName,
  SSH_DISCONNECT,
  SSH_MSG_CHANNEL_OPEN,
  SSH_MSG_CHANNEL_OPEN_CONFIRMATION,
  SSH_MSG_CHANNEL_OPEN_FAILURE,
  SSH_MSG_GLOBAL_REQUEST,
  SSH_MSG_REQUEST_FAILURE,
  SSH_MSG_REQUEST_SUCCESS,
  SSH_OPEN,
} from "./messages.ts";
import { type SessionOptions, SshSession } from "./session.ts";
import type { SshTransport } from "./transport.ts";
import { SshProtocolError, SshReader, SshWriter } from "./wire.ts";

/** Connection-layer settings. */
export interface ConnectionOptions {
  /** Window we grant each channel (default 4 MiB: a bulk transfer never waits on a round trip on a LAN). */
  windowSize?: number;
  /** Largest data packet we accept (default 32 KiB, as OpenSSH). */
  maxPacket?: number;
  /** Send keepalive@openssh.com after this much silence from the server; 0 disables (default 15 s). */
  keepaliveIntervalMs?: number;
  /** Unanswered keepalives before the connection is declared dead (default 3). */
  keepaliveCountMax?: number;
}

const DEFAULT_WINDOW = 4 * 1024 * 1024;
const DEFAULT_MAX_PACKET = 32 * 1024;
const MAX_CHANNELS = 1024;

/** A channel open the server refused. */
export class ChannelOpenError extends Error {
  override readonly name = "ChannelOpenError";
  constructor(
    message: string,
    readonly reasonCode: number,
  ) {
    super(message);
  }
}

type Opening = {
  resolve: (channel: SshChannel) => void;
  reject: (error: Error) => void;
  what: string;
  /** The window this channel grants. */
  windowSize: number;
};

/** The connection layer over an authenticated transport. */
export class SshConnection {
  private readonly channels = new Map<number, SshChannel>();
  private readonly opening = new Map<number, Opening>();
  private readonly globalReplies: {
    resolve: (r: SshReader | null) => void;
    reject: (e: Error) => void;
  }[] = [];
  private nextId = 0;
  private ended: SshError | null = null;
  private keepaliveTimer: ReturnType<typeof setInterval> | null = null;
  private unansweredKeepalives = 0;
  private lastHeard = Date.now();
  private readonly windowSize: number;
  private readonly maxPacket: number;

  constructor(
    readonly transport: SshTransport,
    leftovers: MessageQueue,
    private readonly options: ConnectionOptions = {},
  ) {
    this.windowSize = options.windowSize ?? DEFAULT_WINDOW;
    this.maxPacket = options.maxPacket ?? DEFAULT_MAX_PACKET;
    const early = leftovers.drain();
    transport.setHandler((payload) => this.receive(payload));
    for (const payload of early) this.receive(payload);
    void transport.closed.then((error) => this.shutdown(error));
    const interval = options.keepaliveIntervalMs ?? 15_000;
    if (interval > 0) {
      this.keepaliveTimer = setInterval(() => this.keepalive(interval), Math.min(interval, 1000));
    }
  }

  /** Opens a session channel (a shell, a command or a subsystem runs on it). */
  async openSession(options: SessionOptions = {}): Promise<SshSession> {
    const channel = await this.open("session", () => undefined, "session", options.windowSize);
    return new SshSession(channel, options);
  }

  /** Opens a direct-tcpip channel: the server connects to host:port for us (RFC 4254 §7.2). */
  openDirectTcpip(
    host: string,
    port: number,
    originHost = "127.0.0.1",
    originPort = 0,
  ): Promise<SshChannel> {
    return this.open(
      `direct-tcpip ${host}:${port}`,
      (w) => w.writeString(host).writeUint32(port).writeString(originHost).writeUint32(originPort),
      "direct-tcpip",
    );
  }

  /** Sends a global request; with `wantReply`, resolves with the reply's data or null on failure. */
  globalRequest(
    name: string,
    wantReply: boolean,
    body?: (w: SshWriter) => void,
  ): Promise<SshReader | null> {
    if (this.ended !== null) return Promise.reject(this.ended);
    const w = new SshWriter(64)
      .writeByte(SSH_MSG_GLOBAL_REQUEST)
      .writeString(name)
      .writeBoolean(wantReply);
    body?.(w);
    const sent = this.transport.send(w.toBytes());
    if (!wantReply) return sent.then(() => null);
    return new Promise((resolve, reject) => {
      this.globalReplies.push({ resolve, reject });
      sent.catch(reject);
    });
  }

  /** Closes the connection with DISCONNECT (by application). */
  async close(description = "closed by user"): Promise<void> {
    await this.transport.disconnect(description);
  }

  private async open(
    what: string,
    body: (w: SshWriter) => void,
    type = "session",
    windowSize = this.windowSize,
  ): Promise<SshChannel> {
    if (this.ended !== null) throw this.ended;
    if (this.channels.size + this.opening.size >= MAX_CHANNELS) {
      throw new RangeError(`too many channels open (${MAX_CHANNELS})`);
    }
    while (this.channels.has(this.nextId) || this.opening.has(this.nextId)) {
      this.nextId = (this.nextId + 1) % MAX_CHANNELS;
    }
    const id = this.nextId;
    this.nextId = (this.nextId + 1) % MAX_CHANNELS;
    const w = new SshWriter(64)
      .writeByte(SSH_MSG_CHANNEL_OPEN)
      .writeString(type)
      .writeUint32(id)
      .writeUint32(windowSize)
      .writeUint32(this.maxPacket);
    body(w);
    const opened = new Promise<SshChannel>((resolve, reject) => {
      this.opening.set(id, { resolve, reject, what, windowSize });
    });
    await this.transport.send(w.toBytes());
    return await opened;
  }

  private receive(payload: Uint8Array): void {
    this.lastHeard = Date.now();
    this.unansweredKeepalives = 0;
    try {
      this.dispatch(payload);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      void this.transport.disconnect(`protocol error: ${message}`, SSH_DISCONNECT.PROTOCOL_ERROR);
    }
  }

  private dispatch(payload: Uint8Array): void {
    const type = payload[0]!;
    const r = new SshReader(payload.subarray(1));
    if (type === SSH_MSG_GLOBAL_REQUEST) {
      r.readUtf8("request name");
      // We accept no global request (keepalive@openssh.com included: failure is its answer).
      if (r.readBoolean("want reply")) {
        void this.transport.send(Uint8Array.of(SSH_MSG_REQUEST_FAILURE)).catch(() => undefined);
      }
      return;
    }
    if (type === SSH_MSG_REQUEST_SUCCESS || type === SSH_MSG_REQUEST_FAILURE) {
      const pending = this.globalReplies.shift();
      if (pending === undefined) throw new SshProtocolError("global request reply to no request");
      pending.resolve(type === SSH_MSG_REQUEST_SUCCESS ? r : null);
      return;
    }
    if (type === SSH_MSG_CHANNEL_OPEN) {
      // The server opening channels to us (X11, agent, forwarded-tcpip): we asked for none.
      r.readUtf8("channel type");
      const sender = r.readUint32("sender channel");
      void this.transport
        .send(
          new SshWriter(64)
            .writeByte(SSH_MSG_CHANNEL_OPEN_FAILURE)
            .writeUint32(sender)
            .writeUint32(SSH_OPEN.ADMINISTRATIVELY_PROHIBITED)
            .writeString("not requested by this client")
            .writeString("")
            .toBytes(),
        )
        .catch(() => undefined);
      return;
    }
    if (type < 91 || type > 100) throw new SshProtocolError(`unexpected message ${type}`);
    const recipient = r.readUint32("recipient channel");
    if (type === SSH_MSG_CHANNEL_OPEN_CONFIRMATION || type === SSH_MSG_CHANNEL_OPEN_FAILURE) {
      const pending = this.opening.get(recipient);
      if (pending === undefined) {
        throw new SshProtocolError(`open reply for channel ${recipient}, which we are not opening`);
      }
      // The reply is read whole before the open is settled: a malformed one then fails the
      // connection, and shutdown() still finds the open to reject.
      if (type === SSH_MSG_CHANNEL_OPEN_FAILURE) {
        const code = r.readUint32("reason code");
        const description = printableRemoteText(r.readUtf8("description"), 256);
        this.opening.delete(recipient);
        pending.reject(
          new ChannelOpenError(
            `the server refused to open ${pending.what}: ${description} (${openFailureName(code)})`,
            code,
          ),
        );
        return;
      }
      const remoteId = r.readUint32("sender channel");
      const window = r.readUint32("initial window size");
      const maxPacket = r.readUint32("maximum packet size");
      if (maxPacket < 1) throw new SshProtocolError("channel maximum packet size is 0");
      this.opening.delete(recipient);
      const channel = new SshChannel(
        {
          send: (p) => this.transport.send(p),
          release: (id) => this.channels.delete(id),
        },
        recipient,
        remoteId,
        window,
        Math.min(maxPacket, 256 * 1024 - 64),
        pending.windowSize,
        this.maxPacket,
      );
      this.channels.set(recipient, channel);
      pending.resolve(channel);
      return;
    }
    const channel = this.channels.get(recipient);
    if (channel === undefined)
      throw new SshProtocolError(`message ${type} for unknown channel ${recipient}`);
    channel.receive(type, r);
  }

  private keepalive(interval: number): void {
    if (this.ended !== null || Date.now() - this.lastHeard < interval) return;
    if (this.unansweredKeepalives >= (this.options.keepaliveCountMax ?? 3)) {
      void this.transport.disconnect(
        `the server did not answer ${this.unansweredKeepalives} keepalives`,
        SSH_DISCONNECT.CONNECTION_LOST,
      );
      return;
    }
    this.unansweredKeepalives++;
    this.lastHeard = Date.now();
    // Any reply (OpenSSH answers REQUEST_FAILURE) shows the server is alive.
    this.globalRequest("keepalive@openssh.com", true).catch(() => undefined);
  }

  private shutdown(error: SshError): void {
    this.ended = error;
    if (this.keepaliveTimer !== null) clearInterval(this.keepaliveTimer);
    for (const channel of this.channels.values()) channel.finish(error);
    this.channels.clear();
    for (const pending of this.opening.values()) pending.reject(error);
    this.opening.clear();
    for (const pending of this.globalReplies.splice(0)) pending.reject(error);
  }
}
