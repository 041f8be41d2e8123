// The RelaySocket (worker/relay/socket.ts) over the `ws` package, for the relay client in
// Node: the agent, the CLI and tests. The browser uses its own WebSocket through
// browserSocket(); worker/ never imports this file.

import WebSocket from "ws";
import type { RelayConnect, RelaySocket, RelaySocketEvents } from "../../worker/relay/socket.ts";

/** Options of nodeRelayConnect. */
export interface NodeRelayConnectOptions {
  /** Largest message accepted, in bytes (ws closes with 1009 above it). Default 1 MiB. */
  maxPayload?: number;
  /** Opening-handshake timeout in milliseconds. Default 10 s. */
  handshakeTimeoutMs?: number;
  /** Extra HTTP headers for the upgrade request (e.g. Origin). */
  headers?: Record<string, string>;
}

/** A RelayConnect that opens `ws` WebSockets (no compression; binary messages). */
export function nodeRelayConnect(options: NodeRelayConnectOptions = {}): RelayConnect {
  return (url, protocol) => nodeRelaySocket(url, protocol, options);
}

/** One RelaySocket over a `ws` WebSocket. */
export function nodeRelaySocket(
  url: string,
  protocol: string,
  options: NodeRelayConnectOptions = {},
): RelaySocket {
  const ws = new WebSocket(url, protocol, {
    perMessageDeflate: false,
    maxPayload: options.maxPayload ?? 1024 * 1024,
    handshakeTimeout: options.handshakeTimeoutMs ?? 10_000,
    headers: options.headers,
  });
  ws.binaryType = "nodebuffer";
  let events: RelaySocketEvents | undefined;
  let closed = false;
  ws.on("open", () => {
    if (ws.protocol !== protocol) {
      events?.onError(new Error(`relay answered subprotocol "${ws.protocol}", not ${protocol}`));
      ws.close(1002, "subprotocol");
      return;
    }
    events?.onOpen();
  });
  ws.on("message", (data: Buffer, isBinary: boolean) => {
    if (!isBinary) {
      events?.onError(new Error("relay sent a text message"));
      return;
    }
    events?.onMessage(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
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
    send(data) {
      if (ws.readyState === WebSocket.OPEN) ws.send(data, { binary: true });
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
