// The WebSocket client's option and result types, apart from socket.ts's state machine.

import type { UpgradeRequestOptions } from "./handshake.ts";

/**
 * A duplex byte stream the client runs over. `close()` tears the connection down (RST is
 * fine); it is not called after a clean close the server ended, where the writable is closed
 * instead (FIN).
 */
export interface WebSocketByteStream {
  readonly readable: ReadableStream<Uint8Array>;
  readonly writable: WritableStream<Uint8Array>;
  close(): void;
}

/** Options of openWebSocket: the upgrade request's parts and the connection's limits. */
export interface OpenWebSocketOptions extends Omit<UpgradeRequestOptions, "key"> {
  /** Largest message received (all fragments together); larger fails with 1009. Default 64 MiB. */
  maxMessageBytes?: number;
  /** Messages we send are cut into frames of at most this many bytes. Default 64 KiB. */
  fragmentBytes?: number;
  /** Time allowed for the server's 101. Default 30 s. */
  handshakeTimeoutMs?: number;
  /** Time allowed for the closing handshake before the connection is dropped. Default 5 s. */
  closeTimeoutMs?: number;
  /**
   * Received bytes queued for the reader before we stop reading the stream, each message
   * counted as its length plus 64 bytes (so empty messages count too). Default 8 MiB.
   */
  queueHighWaterBytes?: number;
  /** Received messages queued for the reader before we stop reading the stream. Default 4096. */
  queueMaxMessages?: number;
}

/** How the connection ended, as the application sees it (WHATWG CloseEvent's fields). */
export interface WebSocketCloseInfo {
  /** The code from the server's Close frame; 1005 if it had none; 1006 if none came; or the
   *  code we failed the connection with (1002, 1007, 1009) on a protocol error. */
  code: number;
  reason: string;
  /** Both Close frames were exchanged. */
  wasClean: boolean;
  /** What went wrong when the close was not clean. */
  error?: Error;
}

/** The connection's state, as WHATWG's readyState after the handshake. */
export type WebSocketState = "open" | "closing" | "closed";
