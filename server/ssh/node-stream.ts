// A Node TCP socket as the duplex byte stream the SSH client runs over (worker/ssh works on
// WHATWG streams so the same code runs on our TCP stack in the browser).

import { connect, type Socket } from "node:net";
import { Duplex } from "node:stream";
import type { SshByteStream } from "../../worker/ssh/transport.ts";

/** Wraps a connected socket; Nagle is turned off as interactive SSH wants. */
export function socketByteStream(socket: Socket): SshByteStream {
  socket.setNoDelay(true);
  const { readable, writable } = Duplex.toWeb(socket);
  return {
    readable: readable as ReadableStream<Uint8Array>,
    writable: writable as WritableStream<Uint8Array>,
  };
}

/**
 * Opens a TCP connection to host:port; rejects with the socket error, or after `timeoutMs`
 * (when given) with an Error naming the address and the time (the socket is destroyed).
 */
export async function connectTcp(
  host: string,
  port: number,
  timeoutMs?: number,
): Promise<SshByteStream> {
  const socket = connect({ host, port });
  await new Promise<void>((resolve, reject) => {
    const timer =
      timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            socket.destroy();
            reject(new Error(`${host}:${port}: connection timed out after ${timeoutMs} ms`));
          }, timeoutMs);
    socket.once("connect", () => {
      clearTimeout(timer);
      resolve();
    });
    socket.once("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
  return socketByteStream(socket);
}
