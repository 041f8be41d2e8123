// The SSH transport layer (RFC 4253) from the client's side, over any duplex byte stream:
// identification exchange, the binary packet protocol, key exchange and re-exchange, the
// messages every layer may see (DISCONNECT, IGNORE, DEBUG, UNIMPLEMENTED, EXT_INFO), and a
// clear reason whenever the connection ends. The key exchange itself is in kex/driver.ts.
//
// Messages for the layers above (service accept and numbers 50 and up) go to one handler,
// in order. While a key exchange is in progress, their outgoing messages wait in a queue
// (RFC 4253 §7.1) and `send` returns a promise that settles when they are written.

import type { CryptoCore } from "../crypto/index.ts";
import type { X25519Provider } from "../crypto/x25519.ts";
import { HostKeyError, printableRemoteText, SshError } from "./errors.ts";
import type { HostKeyVerifier } from "./kex/driver.ts";
import { KexDriver } from "./kex/driver.ts";
import {
  disconnectReasonName,
  isKexMessage,
  SSH_DISCONNECT,
  SSH_MSG_DEBUG,
  SSH_MSG_DISCONNECT,
  SSH_MSG_EXT_INFO,
  SSH_MSG_IGNORE,
  SSH_MSG_KEXINIT,
  SSH_MSG_UNIMPLEMENTED,
} from "./messages.ts";
import { PacketReader, PacketWriter } from "./packet.ts";
import type { ServerIdentification } from "./version.ts";
import { clientIdentification, encodeIdentification, IdentificationParser } from "./version.ts";
import { SshProtocolError, SshReader, SshWriter } from "./wire.ts";

/** A duplex byte stream: our TCP connection, a WebSocket adapter, a Node socket. */
export interface SshByteStream {
  readonly readable: ReadableStream<Uint8Array>;
  readonly writable: WritableStream<Uint8Array>;
}

/** Algorithm preferences; each list replaces our default. */
export interface AlgorithmPreferences {
  kex?: readonly string[];
  hostKey?: readonly string[];
  ciphers?: readonly string[];
  macs?: readonly string[];
}

/** Options of SshTransport.connect. */
export interface TransportOptions {
  /** The wasm crypto core (chacha20-poly1305@openssh.com runs on it). */
  core: CryptoCore;
  /** Decides whether the server's host key is acceptable; throw (HostKeyError) to refuse. */
  verifyHostKey: HostKeyVerifier;
  /** X25519 for curve25519-sha256; @noble/curves when omitted. */
  x25519?: X25519Provider;
  algorithms?: AlgorithmPreferences;
  /** Our software version in the identification line. */
  softwareVersion?: string;
  /** Re-key after this many bytes in either direction (default 1 GiB). */
  rekeyBytes?: number;
  /** Re-key after this long (default one hour). */
  rekeyIntervalMs?: number;
  /** The whole first exchange must finish within this (default 30 s). */
  handshakeTimeoutMs?: number;
  /** Lines the server sent before its identification. */
  onPreamble?: (lines: readonly string[]) => void;
  /** SSH_MSG_DEBUG messages the server asks to display. */
  onDebug?: (message: string) => void;
  /** Random bytes (padding, cookies, ephemeral keys); crypto.getRandomValues by default. */
  random?: (n: number) => Uint8Array;
}

/** Counters for tests, benchmarks and the details panel. */
export interface TransportStats {
  bytesSent: number;
  bytesReceived: number;
  packetsSent: number;
  packetsReceived: number;
  keyExchanges: number;
}

const DEFAULT_REKEY_BYTES = 2 ** 30;
const DEFAULT_REKEY_MS = 60 * 60 * 1000;
const DEFAULT_HANDSHAKE_MS = 30_000;

function defaultRandom(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let at = 0; at < n; at += 65536) crypto.getRandomValues(out.subarray(at, at + 65536));
  return out;
}

/** An SSH transport connection, after its first key exchange. */
export class SshTransport {
  /** Identification of the server, banner lines included. */
  server!: ServerIdentification;
  readonly stats: TransportStats = {
    bytesSent: 0,
    bytesReceived: 0,
    packetsSent: 0,
    packetsReceived: 0,
    keyExchanges: 0,
  };
  /** Extensions from the server's EXT_INFO (RFC 8308), e.g. "server-sig-algs". */
  readonly extensions = new Map<string, Uint8Array>();
  /** Settles with why the connection ended: never rejects. */
  readonly closed: Promise<SshError>;

  private readonly random: (n: number) => Uint8Array;
  private readonly writer: WritableStreamDefaultWriter<Uint8Array>;
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;
  private readonly packetWriter: PacketWriter;
  private readonly packetReader = new PacketReader();
  private readonly kex: KexDriver;
  private handler: ((payload: Uint8Array) => void) | null = null;
  private readonly early: Uint8Array[] = [];
  private queue: { payload: Uint8Array; done: () => void; failed: (e: Error) => void }[] = [];
  private ended: SshError | null = null;
  private resolveClosed!: (error: SshError) => void;
  private bytesSinceKex = 0;
  private kexStartedAt = Date.now();
  private readonly rekeyBytes: number;
  private readonly rekeyMs: number;

  private constructor(
    stream: SshByteStream,
    private readonly options: TransportOptions,
  ) {
    this.random = options.random ?? defaultRandom;
    this.writer = stream.writable.getWriter();
    this.reader = stream.readable.getReader();
    this.packetWriter = new PacketWriter(this.random);
    this.rekeyBytes = options.rekeyBytes ?? DEFAULT_REKEY_BYTES;
    this.rekeyMs = options.rekeyIntervalMs ?? DEFAULT_REKEY_MS;
    this.closed = new Promise((resolve) => {
      this.resolveClosed = resolve;
    });
    this.kex = new KexDriver({
      core: options.core,
      verifyHostKey: options.verifyHostKey,
      x25519: options.x25519,
      algorithms: options.algorithms,
      random: this.random,
      sendKexMessage: (payload) => this.writePacket(payload),
      switchOutgoing: (cipher, strict) => {
        this.packetWriter.setCipher(cipher);
        if (strict) this.packetWriter.resetSequence();
        this.flushQueue();
      },
      switchIncoming: (cipher, strict) => {
        this.packetReader.setCipher(cipher);
        if (strict) this.packetReader.resetSequence();
        this.bytesSinceKex = 0;
        this.kexStartedAt = Date.now();
        this.stats.keyExchanges++;
      },
    });
  }

  /**
   * Sends our identification, reads the server's, and runs the first key exchange
   * (verifying the host key). Rejects with SshError (HostKeyError for a refused host key).
   */
  static async connect(stream: SshByteStream, options: TransportOptions): Promise<SshTransport> {
    const transport = new SshTransport(stream, options);
    const identification = clientIdentification(options.softwareVersion ?? "Corridor_0.1");
    transport.kex.clientIdentification = identification;
    const timeout = options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_MS;
    const timer = setTimeout(() => {
      transport.fail(
        new SshError(
          `key exchange did not finish within ${timeout} ms`,
          SSH_DISCONNECT.KEY_EXCHANGE_FAILED,
          "client",
        ),
      );
    }, timeout);
    try {
      transport.writer.write(encodeIdentification(identification)).catch((e) => {
        transport.lost(e);
      });
      transport.kex.start();
      void transport.readLoop();
      const outcome = await Promise.race([transport.kex.firstDone, transport.closed]);
      if (outcome instanceof SshError) throw outcome;
      return transport;
    } finally {
      clearTimeout(timer);
    }
  }

  /** H of the first key exchange (RFC 4253 §7.2), signed in public key authentication. */
  get sessionId(): Uint8Array {
    return this.kex.sessionId!;
  }

  /** The server's host key blob and the algorithms the first exchange chose. */
  get negotiated() {
    return this.kex.current!;
  }

  /** The server's signature algorithms for user keys (EXT_INFO server-sig-algs), if sent. */
  get serverSigAlgs(): string[] | null {
    const value = this.extensions.get("server-sig-algs");
    return value === undefined ? null : new TextDecoder().decode(value).split(",");
  }

  /** Why the connection ended, or null while it is up. */
  get error(): SshError | null {
    return this.ended;
  }

  /**
   * Receives every message for the layers above, in order. Messages that arrived before a
   * handler was set are delivered to it at once.
   */
  setHandler(handler: (payload: Uint8Array) => void): void {
    this.handler = handler;
    const early = this.early.splice(0);
    for (const payload of early) handler(payload);
  }

  /**
   * Sends a message of a layer above. Settles when it is handed to the stream (after the
   * key exchange in progress, if any); the promise also carries the stream's backpressure.
   */
  send(payload: Uint8Array): Promise<void> {
    if (this.ended !== null) return Promise.reject(this.ended);
    if (this.kex.blocksOutgoing) {
      return new Promise((done, failed) => this.queue.push({ payload, done, failed }));
    }
    this.writePacket(payload);
    this.maybeRekey();
    return this.writer.ready;
  }

  /** Starts a key re-exchange now (no-op while one is in progress). */
  rekey(): void {
    if (this.ended === null && !this.kex.inProgress) {
      this.kex.start();
    }
  }

  /** Sends DISCONNECT with `code` and `description`, then closes the stream. */
  async disconnect(
    description = "disconnected by user",
    code: number = SSH_DISCONNECT.BY_APPLICATION,
  ): Promise<void> {
    if (this.ended !== null) return;
    this.fail(new SshError(description, code, "client"));
    await this.closed;
  }

  private writePacket(payload: Uint8Array): void {
    if (this.ended !== null) return;
    const bytes = this.packetWriter.write(payload);
    this.stats.bytesSent += bytes.length;
    this.stats.packetsSent++;
    this.bytesSinceKex += bytes.length;
    this.writer.write(bytes).catch((e) => this.lost(e));
  }

  private flushQueue(): void {
    const queued = this.queue;
    this.queue = [];
    for (const item of queued) {
      this.writePacket(item.payload);
      this.writer.ready.then(item.done, item.failed);
    }
  }

  private maybeRekey(): void {
    if (this.kex.inProgress || this.kex.sessionId === null) return;
    if (this.bytesSinceKex >= this.rekeyBytes || Date.now() - this.kexStartedAt >= this.rekeyMs) {
      this.rekey();
    }
  }

  private async readLoop(): Promise<void> {
    const reader = this.reader;
    const identification = new IdentificationParser();
    let identified = false;
    try {
      while (this.ended === null) {
        const { value, done } = await reader.read();
        if (done) {
          this.lost(new Error("the server closed the connection"));
          break;
        }
        let bytes = value;
        this.stats.bytesReceived += bytes.length;
        this.bytesSinceKex += bytes.length;
        if (!identified) {
          const server = identification.push(bytes);
          if (server === null) continue;
          identified = true;
          this.server = server;
          this.kex.serverIdentification = server.identification;
          if (server.bannerLines.length > 0) {
            this.options.onPreamble?.(server.bannerLines.map((line) => printableRemoteText(line)));
          }
          bytes = server.rest;
        }
        this.packetReader.push(bytes);
        for (let p = this.packetReader.next(); p !== null; p = this.packetReader.next()) {
          this.stats.packetsReceived++;
          await this.dispatch(p, this.stats.packetsReceived === 1);
          if (this.ended !== null) break;
        }
        this.maybeRekey();
      }
    } catch (error) {
      this.fail(asSshError(error));
    }
  }

  private async dispatch(payload: Uint8Array, firstPacket: boolean): Promise<void> {
    const type = payload[0];
    if (type === undefined) throw new SshProtocolError("empty message (no message number)");
    if (type === SSH_MSG_DISCONNECT) {
      const r = new SshReader(payload.subarray(1));
      const code = r.readUint32("disconnect reason");
      const description = r.readUtf8("disconnect description");
      const text = printableRemoteText(description);
      this.fail(
        new SshError(
          `server disconnected: ${text} (${disconnectReasonName(code)})`,
          code,
          "server",
        ),
        false,
      );
      return;
    }
    if (this.kex.strictInitial && !isKexMessage(type)) {
      // OpenSSH PROTOCOL §1.10: nothing but the key exchange before the first NEWKEYS.
      throw new SshProtocolError(
        `strict key exchange: unexpected message ${type} during the initial key exchange`,
      );
    }
    if (type === SSH_MSG_IGNORE || type === SSH_MSG_UNIMPLEMENTED) return;
    if (type === SSH_MSG_DEBUG) {
      const r = new SshReader(payload.subarray(1));
      const display = r.readBoolean("always_display");
      const message = r.readUtf8("debug message");
      if (display) this.options.onDebug?.(printableRemoteText(message));
      return;
    }
    if (isKexMessage(type)) {
      if (type === SSH_MSG_KEXINIT && !this.kex.inProgress) {
        this.kex.start();
      }
      await this.kex.receive(payload, firstPacket);
      return;
    }
    if (!this.kex.firstFinished) {
      throw new SshProtocolError(`message ${type} before the first key exchange finished`);
    }
    if (type === SSH_MSG_EXT_INFO) {
      this.readExtInfo(payload);
      return;
    }
    if (this.handler === null) this.early.push(payload);
    else this.handler(payload);
  }

  private readExtInfo(payload: Uint8Array): void {
    const r = new SshReader(payload.subarray(1));
    const count = r.readUint32("EXT_INFO count");
    for (let i = 0; i < count; i++) {
      const name = r.readUtf8(`EXT_INFO extension ${i} name`);
      this.extensions.set(name, r.readString(`EXT_INFO extension ${name} value`));
    }
  }

  private lost(cause: unknown): void {
    const why = cause instanceof Error ? cause.message : String(cause);
    this.fail(new SshError(`connection lost: ${why}`, SSH_DISCONNECT.CONNECTION_LOST, "network"));
  }

  /** Ends the connection once: tells the server why (when it is our decision), closes. */
  private fail(error: SshError, tellServer = error.by === "client"): void {
    if (this.ended !== null) return;
    if (tellServer) {
      const message = new SshWriter(128)
        .writeByte(SSH_MSG_DISCONNECT)
        .writeUint32(error.code)
        .writeString(error.message.slice(0, 256))
        .writeString("")
        .toBytes();
      try {
        this.writePacket(message);
      } catch {
        // The writer is already broken; the close below reports the same.
      }
    }
    this.ended = error;
    for (const item of this.queue) item.failed(error);
    this.queue = [];
    this.kex.abort(error);
    this.writer.close().catch(() => undefined);
    this.reader.cancel().catch(() => undefined);
    this.resolveClosed(error);
  }
}

/** Maps what the read loop caught to the SshError the caller sees. */
function asSshError(error: unknown): SshError {
  if (error instanceof SshError) return error;
  if (error instanceof SshProtocolError) {
    const mac = /message authentication failed/.test(error.message);
    if (mac) {
      return new SshError(
        `corrupt packet from the server: ${error.message}`,
        SSH_DISCONNECT.MAC_ERROR,
        "client",
      );
    }
    // Values the key exchange method rejects (a bad point, an out-of-range f) are kex failures.
    const code =
      error.field === "kex" ? SSH_DISCONNECT.KEY_EXCHANGE_FAILED : SSH_DISCONNECT.PROTOCOL_ERROR;
    return new SshError(`protocol error: ${error.message}`, code, "client");
  }
  if (error instanceof HostKeyError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new SshError(`internal error: ${message}`, SSH_DISCONNECT.PROTOCOL_ERROR, "client");
}
