// The face of a WebSocket that the relay client needs (message-socket.ts with binary messages),
// so the same client runs on the browser's WebSocket (in a Web Worker) and on `ws` in Node
// (server/relay/ws-node.ts). Binary messages only: a text message is a protocol error the
// adapter reports as an error.

import {
  browserMessageSocket,
  type MessageKind,
  type MessageSocket,
  type MessageSocketEvents,
} from "./message-socket.ts";

/** What a RelaySocket reports: binary messages, as views the socket may own. */
export type RelaySocketEvents = MessageSocketEvents<Uint8Array>;

/** A connected or connecting WebSocket, reduced to what the relay client uses. */
export type RelaySocket = MessageSocket<Uint8Array>;

/** Opens a socket to `url` asking for `protocol`. Throws only for a malformed URL. */
export type RelayConnect = (url: string, protocol: string) => RelaySocket;

/** The relay stream's kind: a text message is reported, and the connection kept. */
export const RELAY_MESSAGES: MessageKind = {
  peer: "relay",
  wrongKindError: "relay sent a text message",
};

/** A RelaySocket over a browser (or Worker, or Node >= 22 global) WebSocket. */
export function browserSocket(url: string, protocol: string): RelaySocket {
  return browserMessageSocket(url, protocol, {
    ...RELAY_MESSAGES,
    binaryType: "arraybuffer",
    decode: (data) => (data instanceof ArrayBuffer ? new Uint8Array(data) : undefined),
    // The browser's own rules stand: a send before open throws (the client counts it dropped).
    send: (ws, data) => ws.send(data),
    close: (ws, code, reason) => ws.close(code, reason),
  });
}
