// Carrying bytes between a mesh TCP connection and a host socket, as a TCP proxy must: each
// direction on its own (a FIN from one side half-closes the other, the rest keeps flowing),
// with backpressure (a slow reader stops the other side's reads, so nothing piles up in
// memory), and a reset on either side resets the other (RST, not FIN: the peer must not take a
// failure for a clean end). Used by inbound forwarding (forward.ts), the SOCKS5 proxy
// (socks5.ts) and MeshDialer implementations (connectionDuplex).

import type { Socket } from "node:net";
import { Duplex, finished } from "node:stream";
import type {
  ReadableStream as NodeReadableStream,
  WritableStream as NodeWritableStream,
} from "node:stream/web";
import type { TcpConnection } from "../../worker/net/tcp/stack.ts";

/** How a pipe ended: both sides closed cleanly, or one failed and both were reset. */
export type PipeOutcome = "closed" | "reset";

/** Resolves once `socket` emitted 'drain' or 'close'. */
function drained(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      socket.off("drain", done);
      socket.off("close", done);
      resolve();
    };
    socket.on("drain", done);
    socket.on("close", done);
  });
}

/** Sends RST on a Node socket (destroy alone would send FIN); never throws. */
export function resetSocket(socket: Socket): void {
  try {
    if (!socket.destroyed) socket.resetAndDestroy();
  } catch {
    socket.destroy();
  }
}

/**
 * Carries bytes between a mesh connection and a connected host socket (created with
 * allowHalfOpen, so its 'end' does not end our side too) until both are closed; resolves with
 * how it ended, never rejects.
 */
export function pipeSocket(conn: TcpConnection, socket: Socket): Promise<PipeOutcome> {
  let failed = false;
  const reader = conn.readable.getReader();
  const writer = conn.writable.getWriter();
  const reset = (why: string) => {
    if (failed) return;
    failed = true;
    conn.abort(why);
    resetSocket(socket);
    reader.cancel().catch(() => {});
  };

  // Mesh -> host: one chunk at a time, waiting for 'drain' when the socket's buffer is full.
  (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      if (!socket.write(value)) await drained(socket);
      if (socket.destroyed) return;
    }
    socket.end();
  })().catch((error: Error) => reset(`mesh side: ${error.message}`));

  // Host -> mesh: the socket pauses while a write waits for room in the send buffer.
  socket.on("data", (chunk: Buffer) => {
    socket.pause();
    writer.write(chunk).then(
      () => socket.resume(),
      (error: Error) => reset(`mesh side: ${error.message}`),
    );
  });
  socket.on("end", () => {
    writer.close().catch((error: Error) => reset(`mesh side: ${error.message}`));
  });
  socket.on("error", (error) => reset(`host side: ${error.message}`));

  const socketClosed = new Promise<void>((resolve) => {
    if (socket.destroyed) resolve();
    else socket.once("close", () => resolve());
  });
  const connClosed = conn.closed.then(
    () => {},
    (error: Error) => reset(`mesh side: ${error.message}`),
  );
  return Promise.all([socketClosed, connClosed]).then(() => (failed ? "reset" : "closed"));
}

/**
 * A mesh connection as a Node duplex stream (what MeshDialer.dial returns): end() half-closes
 * (FIN), destroy() resets (RST), and a reset from the peer destroys the stream with its error.
 */
export function connectionDuplex(conn: TcpConnection): Duplex {
  const duplex = Duplex.fromWeb(
    {
      // The same WHATWG streams; TypeScript's DOM and Node declarations of them differ.
      readable: conn.readable as unknown as NodeReadableStream,
      writable: conn.writable as unknown as NodeWritableStream,
    },
    { allowHalfOpen: true },
  );
  conn.closed.catch((error: Error) => duplex.destroy(error));
  return duplex;
}

/**
 * Carries bytes between a host socket and a dialed stream (both Node streams) until both are
 * done: a FIN from either half-closes the other (the socket must allow half-open), pipe()'s
 * backpressure, and an error on either side resets the other. Resolves with how it ended.
 */
export function pipeDuplex(socket: Socket, remote: Duplex): Promise<PipeOutcome> {
  let failed = false;
  const reset = () => {
    if (failed) return;
    failed = true;
    remote.destroy(new Error("the other side of the proxy failed"));
    resetSocket(socket);
  };
  socket.on("error", reset);
  remote.on("error", reset);
  socket.pipe(remote);
  remote.pipe(socket);
  const done = (stream: Duplex) =>
    new Promise<void>((resolve) => finished(stream, () => resolve()));
  return Promise.all([done(socket), done(remote)]).then(() => (failed ? "reset" : "closed"));
}
