// The face of a WebSocket that the map client needs: the relay's (worker/relay/message-socket.ts)
// with text messages instead of binary ones, since the map stream is JSON text and the relay's
// adapters treat text as a protocol error. Same shape, same rules: the browser's WebSocket
// here, `ws` in Node (server/control/control-socket-node.ts).

import {
  browserMessageSocket,
  type MessageKind,
  type MessageSocket,
  type MessageSocketEvents,
} from "../relay/message-socket.ts";

/** What a ControlSocket reports: text messages. */
export type ControlSocketEvents = MessageSocketEvents<string>;

/** A connected or connecting WebSocket, reduced to what the map client uses. */
export type ControlSocket = MessageSocket<string>;

/** Opens a socket to `url` asking for `protocol`. Throws only for a malformed URL. */
export type ControlConnect = (url: string, protocol: string) => ControlSocket;

/** WebSocket close code for a binary message on the text-only map stream (unsupported data). */
export const CLOSE_UNSUPPORTED_DATA = 1003;

/** The map stream's kind: a binary message is reported and closes the connection. */
export const CONTROL_MESSAGES: MessageKind = {
  peer: "server",
  wrongKindError: "server sent a binary message on the map stream",
  wrongKindClose: { code: CLOSE_UNSUPPORTED_DATA, reason: "binary message" },
};

/** A ControlSocket over a browser (or Worker, or Node >= 22 global) WebSocket. */
export function browserControlSocket(url: string, protocol: string): ControlSocket {
  return browserMessageSocket(url, protocol, {
    ...CONTROL_MESSAGES,
    decode: (data) => (typeof data === "string" ? data : undefined),
    send(ws, text) {
      if (ws.readyState === WebSocket.OPEN) ws.send(text);
    },
    close(ws, code, reason) {
      // Browsers let a page send only 1000 and 3000-4999 (1009 would throw).
      const allowed = code === undefined || code === 1000 || (code >= 3000 && code <= 4999);
      ws.close(allowed ? code : 1000, reason);
    },
  });
}
