// The one small face of a WebSocket that the relay client needs, so the same client runs on
// the browser's WebSocket (in a Web Worker) and on `ws` in Node (server/relay/ws-node.ts).
// Binary messages only: a text message is a protocol error the adapter reports as an error.

/** What a RelaySocket reports. Handlers are called asynchronously, never inside a call. */
export interface RelaySocketEvents {
  /** The connection is open (the subprotocol was accepted). */
  onOpen(): void;
  /** One binary message. The bytes may be a view into a buffer the socket owns. */
  onMessage(data: Uint8Array): void;
  /** The connection is closed (after an error too); called once. */
  onClose(code: number, reason: string): void;
  /** Something went wrong; onClose follows. */
  onError(error: Error): void;
}

/** A connected or connecting WebSocket, reduced to what the relay client uses. */
export interface RelaySocket {
  /** Bytes queued by send() and not yet handed to the network. */
  readonly bufferedAmount: number;
  /** Sets the event handlers; call once, right after creating the socket. */
  listen(events: RelaySocketEvents): void;
  /** Sends one binary message (the bytes are copied or sent before this returns). */
  send(data: Uint8Array): void;
  /** Starts the closing handshake; onClose follows. */
  close(code?: number, reason?: string): void;
}

/** Opens a socket to `url` asking for `protocol`. Throws only for a malformed URL. */
export type RelayConnect = (url: string, protocol: string) => RelaySocket;

/** A RelaySocket over a browser (or Worker, or Node >= 22 global) WebSocket. */
export function browserSocket(url: string, protocol: string): RelaySocket {
  const ws = new WebSocket(url, protocol);
  ws.binaryType = "arraybuffer";
  let events: RelaySocketEvents | undefined;
  let closed = false;
  ws.onopen = () => {
    if (ws.protocol !== protocol) {
      events?.onError(new Error(`relay answered subprotocol "${ws.protocol}", not ${protocol}`));
      ws.close(1002, "subprotocol");
      return;
    }
    events?.onOpen();
  };
  ws.onmessage = (event: MessageEvent) => {
    const data: unknown = event.data;
    if (data instanceof ArrayBuffer) events?.onMessage(new Uint8Array(data));
    else events?.onError(new Error("relay sent a text message"));
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
    send(data) {
      ws.send(data);
    },
    close(code, reason) {
      ws.close(code, reason);
    },
  };
}
