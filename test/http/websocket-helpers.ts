// Test helpers of the WebSocket client: a Node TCP socket as the duplex byte stream the client
// runs over (the engine gives it a TCP connection through WireGuard instead).

import { connect, type Socket } from "node:net";
import { Duplex } from "node:stream";
import type { WebSocketByteStream } from "../../worker/http/websocket/index.ts";

/** Wraps a connected socket as a WebSocketByteStream; close() destroys the socket. */
export function socketStream(socket: Socket): WebSocketByteStream {
  const web = Duplex.toWeb(socket) as unknown as {
    readable: ReadableStream<Uint8Array>;
    writable: WritableStream<Uint8Array>;
  };
  return { readable: web.readable, writable: web.writable, close: () => socket.destroy() };
}

/** Connects to 127.0.0.1:port and returns the socket once connected, with its stream. */
export async function connectStream(
  port: number,
): Promise<{ socket: Socket; stream: WebSocketByteStream }> {
  const socket = connect(port, "127.0.0.1");
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  socket.setNoDelay(true);
  return { socket, stream: socketStream(socket) };
}

/** Bytes of a seeded pseudo-random pattern, cheap for 16 MiB. */
export function patternBytes(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}
