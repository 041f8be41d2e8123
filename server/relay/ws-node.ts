// The MessageSocket (worker/relay/message-socket.ts) over the `ws` package, for the relay
// client and the map client in Node: the agent, the CLI, tests and benchmarks. The browser uses
// its own WebSocket through browserMessageSocket(); worker/ never imports this file. The map
// stream's text socket is server/control/control-socket-node.ts, on nodeMessageSocket here.

import WebSocket from "ws";
import {
  type MessageKind,
  type MessageSocket,
  type MessageSocketEvents,
  subprotocolError,
  UpgradeRefusedError,
} from "../../worker/relay/message-socket.ts";
import { RELAY_MESSAGES, type RelayConnect, type RelaySocket } from "../../worker/relay/socket.ts";

/** Options of nodeRelayConnect (and of the map stream's nodeControlConnect). */
export interface NodeRelayConnectOptions {
  /** Largest message accepted, in bytes (ws closes with 1009 above it). Default: the kind's. */
  maxPayload?: number;
  /** Opening-handshake timeout in milliseconds. Default 10 s. */
  handshakeTimeoutMs?: number;
  /** Extra HTTP headers for the upgrade request (Origin, Cookie for a signed-in session). */
  headers?: Record<string, string>;
}

/** How much of a refused upgrade's body is kept as its reason. */
const MAX_REFUSAL_BODY = 512;

/** A MessageKind as the `ws` adapter uses it. */
export interface NodeMessageKind<M> extends MessageKind {
  /** The default of NodeRelayConnectOptions.maxPayload. */
  readonly maxPayload: number;
  /** A received message as one of this kind, or undefined for the other kind. */
  decode(data: Buffer, isBinary: boolean): M | undefined;
  /** Sends on the WebSocket; called only while it is open. */
  send(ws: WebSocket, message: M): void;
}

/** One MessageSocket of `kind` over a `ws` WebSocket (no compression). */
export function nodeMessageSocket<M>(
  url: string,
  protocol: string,
  options: NodeRelayConnectOptions,
  kind: NodeMessageKind<M>,
): MessageSocket<M> {
  const ws = new WebSocket(url, protocol, {
    perMessageDeflate: false,
    maxPayload: options.maxPayload ?? kind.maxPayload,
    handshakeTimeout: options.handshakeTimeoutMs ?? 10_000,
    headers: options.headers,
  });
  ws.binaryType = "nodebuffer";
  let events: MessageSocketEvents<M> | undefined;
  let closed = false;
  ws.on("open", () => {
    if (ws.protocol !== protocol) {
      events?.onError(subprotocolError(kind, ws.protocol, protocol));
      ws.close(1002, "subprotocol");
      return;
    }
    events?.onOpen();
  });
  ws.on("message", (data: Buffer, isBinary: boolean) => {
    const message = kind.decode(data, isBinary);
    if (message !== undefined) {
      events?.onMessage(message);
      return;
    }
    events?.onError(new Error(kind.wrongKindError));
    if (kind.wrongKindClose !== undefined) {
      ws.close(kind.wrongKindClose.code, kind.wrongKindClose.reason);
    }
  });
  // An HTTP answer instead of 101: read the start of its body (the server's reason), then end
  // the handshake; the error reported is the refusal, with its status, not ws's generic one.
  let refusal: UpgradeRefusedError | undefined;
  ws.on("unexpected-response", (_req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      const body = Buffer.concat(chunks).subarray(0, MAX_REFUSAL_BODY).toString("utf8");
      // Control characters out: the body is the server's, and it ends up on a terminal.
      const clean = body.replace(/[^\x20-\x7e]+/g, " ").trim();
      refusal = new UpgradeRefusedError(kind.peer, res.statusCode ?? 0, clean);
      res.destroy();
      ws.terminate();
    };
    const timer = setTimeout(finish, 2_000);
    res.on("data", (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.length;
      if (size >= MAX_REFUSAL_BODY) finish();
    });
    res.once("end", finish);
    res.once("error", finish);
    res.once("close", finish);
  });
  ws.on("error", (error: Error) => events?.onError(refusal ?? error));
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
    send(message) {
      if (ws.readyState === WebSocket.OPEN) kind.send(ws, message);
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

/** The relay stream's binary messages over `ws` (default cap 1 MiB). */
const NODE_RELAY_MESSAGES: NodeMessageKind<Uint8Array> = {
  ...RELAY_MESSAGES,
  maxPayload: 1024 * 1024,
  decode: (data, isBinary) =>
    isBinary ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : undefined,
  send: (ws, data) => ws.send(data, { binary: true }),
};

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
  return nodeMessageSocket(url, protocol, options, NODE_RELAY_MESSAGES);
}
