// The one small face of a WebSocket that the relay client and the map client need, generic over
// the kind of message (the relay's binary frames, the map stream's JSON text), and its adapter
// over the browser's WebSocket. What differs between the two streams is a MessageKind: who is
// at the other end (errors name it), how a message of the other kind is answered, and how
// send/close treat the browser's rules. `ws` in Node: server/relay/ws-node.ts.

/** What a MessageSocket reports. Handlers are called asynchronously, never inside a call. */
export interface MessageSocketEvents<M> {
  /** The connection is open (the subprotocol was accepted). */
  onOpen(): void;
  /** One message of the socket's kind (binary: the bytes may be a view the socket owns). */
  onMessage(message: M): void;
  /** The connection is closed (after an error too); called once. */
  onClose(code: number, reason: string): void;
  /** Something went wrong; onClose follows. */
  onError(error: Error): void;
}

/** A connected or connecting WebSocket, reduced to what the clients use. */
export interface MessageSocket<M> {
  /** Bytes queued by send() and not yet handed to the network. */
  readonly bufferedAmount: number;
  /** Sets the event handlers; call once, right after creating the socket. */
  listen(events: MessageSocketEvents<M>): void;
  /** Sends one message (bytes are copied or sent before this returns). */
  send(message: M): void;
  /** Starts the closing handshake; onClose follows. */
  close(code?: number, reason?: string): void;
}

/** What a stream's adapters (browser and Node) share: who answers, and the other kind's fate. */
export interface MessageKind {
  /** The other end as errors name it ("relay", "server"). */
  readonly peer: string;
  /** The error reported for a message of the other kind. */
  readonly wrongKindError: string;
  /** How the socket closes on a message of the other kind; undefined: it stays open. */
  readonly wrongKindClose?: { readonly code: number; readonly reason: string };
}

/** A MessageKind as the browser adapter uses it. */
export interface BrowserMessageKind<M> extends MessageKind {
  /** The socket's binaryType, when binary messages are the kind. */
  readonly binaryType?: BinaryType;
  /** A MessageEvent's data as a message of this kind, or undefined for the other kind. */
  decode(data: unknown): M | undefined;
  /** Sends on the WebSocket (whether a socket not open throws is the kind's choice). */
  send(ws: WebSocket, message: M): void;
  /** Closes the WebSocket (whether codes a page may not send throw is the kind's choice). */
  close(ws: WebSocket, code?: number, reason?: string): void;
}

/**
 * The server answered the WebSocket upgrade with an HTTP status instead of 101 (only the `ws`
 * adapter can see it; a browser reports any failed upgrade as close 1006). `body` is the start
 * of the server's answer: its reason, in its words.
 */
export class UpgradeRefusedError extends Error {
  constructor(
    readonly peer: string,
    readonly status: number,
    readonly body: string,
  ) {
    super(`${peer} answered the WebSocket upgrade with HTTP ${status}${body ? `: ${body}` : ""}`);
    this.name = "UpgradeRefusedError";
  }
}

/**
 * Whether `error` is an upgrade refusal that retrying cannot change: 404 (no such endpoint at
 * that path), 401 and 403 (not allowed). Others (502, 503 while a proxy or server restarts)
 * may pass.
 */
export function isPermanentRefusal(error: unknown): error is UpgradeRefusedError {
  return (
    error instanceof UpgradeRefusedError &&
    (error.status === 401 || error.status === 403 || error.status === 404)
  );
}

/** The error for a server that chose another subprotocol than the one asked for. */
export function subprotocolError(kind: MessageKind, answered: string, asked: string): Error {
  return new Error(`${kind.peer} answered subprotocol "${answered}", not ${asked}`);
}

/** A MessageSocket over a browser (or Worker, or Node >= 22 global) WebSocket. */
export function browserMessageSocket<M>(
  url: string,
  protocol: string,
  kind: BrowserMessageKind<M>,
): MessageSocket<M> {
  const ws = new WebSocket(url, protocol);
  if (kind.binaryType !== undefined) ws.binaryType = kind.binaryType;
  let events: MessageSocketEvents<M> | undefined;
  let closed = false;
  ws.onopen = () => {
    if (ws.protocol !== protocol) {
      events?.onError(subprotocolError(kind, ws.protocol, protocol));
      ws.close(1002, "subprotocol");
      return;
    }
    events?.onOpen();
  };
  ws.onmessage = (event: MessageEvent) => {
    const message = kind.decode(event.data);
    if (message !== undefined) {
      events?.onMessage(message);
      return;
    }
    events?.onError(new Error(kind.wrongKindError));
    if (kind.wrongKindClose !== undefined) {
      ws.close(kind.wrongKindClose.code, kind.wrongKindClose.reason);
    }
  };
  ws.onerror = () => events?.onError(new Error("WebSocket error"));
  ws.onclose = (event: CloseEvent) => {
    if (closed) return;
    closed = true;
    events?.onClose(event.code, event.reason);
  };
  return {
    get bufferedAmount() {
      return ws.bufferedAmount;
    },
    listen(handlers) {
      events = handlers;
    },
    send(message) {
      kind.send(ws, message);
    },
    close(code, reason) {
      kind.close(ws, code, reason);
    },
  };
}
