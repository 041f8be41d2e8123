// The map client's ControlSocket (worker/control/socket.ts) over the `ws` package, for the
// map client in Node: the agent, the CLI, tests and the control benchmark. The browser uses
// its own WebSocket through browserControlSocket(); worker/ never imports this file. The twin
// of server/relay/ws-node.ts for text messages.

import WebSocket from "ws";
import { MAX_CONTROL_MESSAGE } from "../../worker/control/messages.ts";
import {
  CLOSE_UNSUPPORTED_DATA,
  type ControlConnect,
  type ControlSocket,
  type ControlSocketEvents,
} from "../../worker/control/socket.ts";

/** Options of nodeControlConnect. */
export interface NodeControlConnectOptions {
  /** Largest message accepted, in bytes (ws closes with 1009 above it). Default: the stream's cap. */
  maxPayload?: number;
  /** Opening-handshake timeout in milliseconds. Default 10 s. */
  handshakeTimeoutMs?: number;
  /** Extra HTTP headers for the upgrade request (Origin, Cookie for a signed-in session). */
  headers?: Record<string, string>;
}

/** A ControlConnect that opens `ws` WebSockets (no compression; text messages). */
export function nodeControlConnect(options: NodeControlConnectOptions = {}): ControlConnect {
  return (url, protocol) => nodeControlSocket(url, protocol, options);
}

/** One ControlSocket over a `ws` WebSocket. */
export function nodeControlSocket(
  url: string,
  protocol: string,
  options: NodeControlConnectOptions = {},
): ControlSocket {
  const ws = new WebSocket(url, protocol, {
    perMessageDeflate: false,
    maxPayload: options.maxPayload ?? MAX_CONTROL_MESSAGE,
    handshakeTimeout: options.handshakeTimeoutMs ?? 10_000,
    headers: options.headers,
  });
  let events: ControlSocketEvents | undefined;
  let closed = false;
  ws.on("open", () => {
    if (ws.protocol !== protocol) {
      events?.onError(new Error(`server answered subprotocol "${ws.protocol}", not ${protocol}`));
      ws.close(1002, "subprotocol");
      return;
    }
    events?.onOpen();
  });
  ws.on("message", (data: Buffer, isBinary: boolean) => {
    if (isBinary) {
      events?.onError(new Error("server sent a binary message on the map stream"));
      ws.close(CLOSE_UNSUPPORTED_DATA, "binary message");
      return;
    }
    events?.onMessage(data.toString("utf8"));
  });
  ws.on("error", (error: Error) => events?.onError(error));
  ws.on("close", (code: number, reason: Buffer) => {
    if (closed) return;
    closed = true;
    events?.onClose(code, reason.toString("utf8"));
  });
  return {
    get bufferedAmount() {
      return ws.bufferedAmount;
    },
    listen(handlers) {
      events = handlers;
    },
    send(text) {
      if (ws.readyState === WebSocket.OPEN) ws.send(text);
    },
    close(code, reason) {
      if (ws.readyState === WebSocket.CLOSED) return;
      if (ws.readyState === WebSocket.CONNECTING) {
        ws.terminate();
        return;
      }
      ws.close(code, reason);
    },
  };
}
