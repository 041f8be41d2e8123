// The face of a WebSocket that the map client needs: the relay's RelaySocket/RelayConnect
// (worker/relay/socket.ts) with text messages instead of binary ones, since the map stream is
// JSON text and the relay's adapters treat text as a protocol error. Same shape, same rules:
// the browser's WebSocket here, `ws` in Node (server/control/control-socket-node.ts).

/** What a ControlSocket reports. Handlers are called asynchronously, never inside a call. */
export interface ControlSocketEvents {
  /** The connection is open (the subprotocol was accepted). */
  onOpen(): void;
  /** One text message. */
  onMessage(text: string): void;
  /** The connection is closed (after an error too); called once. */
  onClose(code: number, reason: string): void;
  /** Something went wrong; onClose follows. */
  onError(error: Error): void;
}

/** A connected or connecting WebSocket, reduced to what the map client uses. */
export interface ControlSocket {
  /** Bytes queued by send() and not yet handed to the network. */
  readonly bufferedAmount: number;
  /** Sets the event handlers; call once, right after creating the socket. */
  listen(events: ControlSocketEvents): void;
  /** Sends one text message. */
  send(text: string): void;
  /** Starts the closing handshake; onClose follows. */
  close(code?: number, reason?: string): void;
}

/** Opens a socket to `url` asking for `protocol`. Throws only for a malformed URL. */
export type ControlConnect = (url: string, protocol: string) => ControlSocket;

/** WebSocket close code for a binary message on the text-only map stream (unsupported data). */
export const CLOSE_UNSUPPORTED_DATA = 1003;

/** A ControlSocket over a browser (or Worker, or Node >= 22 global) WebSocket. */
export function browserControlSocket(url: string, protocol: string): ControlSocket {
  const ws = new WebSocket(url, protocol);
  let events: ControlSocketEvents | undefined;
  let closed = false;
  ws.onopen = () => {
    if (ws.protocol !== protocol) {
      events?.onError(new Error(`server answered subprotocol "${ws.protocol}", not ${protocol}`));
      ws.close(1002, "subprotocol");
      return;
    }
    events?.onOpen();
  };
  ws.onmessage = (event: MessageEvent) => {
    const data: unknown = event.data;
    if (typeof data === "string") {
      events?.onMessage(data);
      return;
    }
    events?.onError(new Error("server sent a binary message on the map stream"));
    ws.close(CLOSE_UNSUPPORTED_DATA, "binary message");
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
    send(text) {
      if (ws.readyState === WebSocket.OPEN) ws.send(text);
    },
    close(code, reason) {
      // Browsers let a page send only 1000 and 3000-4999 (1009 would throw).
      const allowed = code === undefined || code === 1000 || (code >= 3000 && code <= 4999);
      ws.close(allowed ? code : 1000, reason);
    },
  };
}
